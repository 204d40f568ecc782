/**
 * The demo's queues and handlers, the seed's video pipeline as a flow:
 * `process_video` (probe inside the shared transcoder pool; a corrupt file goes to the DLQ) starts
 * a flow whose parent is `notify` and whose children are one `transcode_<rendition>` per rendition
 * and a `thumbnail` (video.transcode, inside the same pool, paid weighted first) and `moderate`
 * (moderation: dedicated workers, critical priority). `notify` (an email service that fails
 * transiently and is retried with backoff) runs once every child finished, and reads their
 * outcomes (`job.children()`) for the message (docs/decisions/0012-flows.md).
 *
 * Handlers are pure functions of (payload, attempt): what happens to an upload was decided by the
 * producer (scenario.ts), so the outcome does not depend on timing. The flow's root has an id
 * derived from the video job's id (`notify.<id>`), so a re-run of an attempt does not start the
 * flow twice (the second insert is a duplicate and writes nothing).
 */
import { randomBytes } from 'node:crypto';
import { PermanentError, type ActiveJob, type Client, type Queue, type Worker } from '@spindle/core';
import { scaled, type ResolvedDemoOptions } from './options.js';
import { TranscoderPool } from './pool.js';
import { DURATIONS, isUploadPlan, QUEUES, RENDITIONS, type Rendition, type Tier, type UploadPlan } from './scenario.js';

export interface ModerationPayload {
  videoJobId: string;
  file: string;
  user: string;
  flagged: boolean;
}

export interface NotifyPayload {
  videoJobId: string;
  file: string;
  email: string;
  tier: Tier;
  emailFailures: number;
}

/** A `transcode_<rendition>` or `thumbnail` child of a video's flow. */
export interface TranscodePayload {
  videoJobId: string;
  seq: number;
  file: string;
  tier: Tier;
  /** null for the thumbnail. */
  rendition: Rendition | null;
  size: number;
}

export interface DemoQueues {
  paid: Queue<UploadPlan>;
  free: Queue<UploadPlan>;
  transcode: Queue<TranscodePayload>;
  moderation: Queue<ModerationPayload>;
  notifications: Queue<NotifyPayload>;
}

/** What this demo instance did (its own handlers; a restarted demo starts from zero). */
export interface DemoCounters {
  transcoded: number;
  corruptRejected: number;
  moderated: number;
  flagged: number;
  /** Failed email attempts. */
  emailFailures: number;
  /** Notifications whose email failed at least once (counted at the first failure). */
  emailsRetried: number;
  notificationsSent: number;
}

export const newCounters = (): DemoCounters => ({ transcoded: 0, corruptRejected: 0, moderated: 0, flagged: 0, emailFailures: 0, emailsRetried: 0, notificationsSent: 0 });

/** Registers the demo's queues with their default job options (retry policies scaled to speed). */
export function declareQueues(client: Client, o: ResolvedDemoOptions): DemoQueues {
  const video = { maxRetries: 2, backoff: { type: 'exponential' as const, delayMs: scaled(2000, o.speed), factor: 2 } };
  return {
    paid: client.queue<UploadPlan>(QUEUES.paid, { defaultJobOptions: video }),
    free: client.queue<UploadPlan>(QUEUES.free, { defaultJobOptions: video }),
    transcode: client.queue<TranscodePayload>(QUEUES.transcode, { defaultJobOptions: video }),
    moderation: client.queue<ModerationPayload>(QUEUES.moderation, { defaultJobOptions: { priority: 'critical', maxRetries: 3 } }),
    notifications: client.queue<NotifyPayload>(QUEUES.notifications, {
      defaultJobOptions: { maxRetries: 4, backoff: { type: 'exponential', delayMs: scaled(DURATIONS.emailBackoff, o.speed), factor: 2, jitter: 0.1 } },
    }),
  };
}

/** Waits `ms`; rejects with the signal's reason if the attempt is aborted (shutdown, cancel). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface DemoWorkers {
  pool: TranscoderPool<Tier>;
  /** video.paid, video.free and video.transcode (the pool's users): closed first on stop. */
  video: Worker<any, any>[];
  /** moderation and notifications. */
  downstream: Worker<any, any>[];
}

export function startWorkers(client: Client, queues: DemoQueues, o: ResolvedDemoOptions, counters: DemoCounters): DemoWorkers {
  const pool = new TranscoderPool<Tier>(o.transcoders, { paid: o.paidWeight, free: 1 });
  const ms = (base: number) => scaled(base, o.speed);
  const workerId = (queue: string) => `demo:${queue}:${process.pid}:${randomBytes(3).toString('hex')}`;

  const processVideo = (lane: Tier) => async (job: ActiveJob<UploadPlan>) => {
    const plan = job.payload;
    if (!isUploadPlan(plan)) throw new PermanentError(`job ${job.id} has no demo upload payload`);
    const release = await pool.acquire(lane, job.signal);
    try {
      await job.progress({ pct: 0, stage: 'probe' });
      await sleep(ms(DURATIONS.probe), job.signal);
      if (plan.corrupt) {
        counters.corruptRejected += 1;
        o.log(`dead   ${plan.file} (${plan.tier}, ${plan.user}): ${plan.corrupt} -> DLQ of ${job.queue}`);
        throw new PermanentError(`cannot decode ${plan.file}: ${plan.corrupt}`);
      }
    } finally {
      release();
    }
    // The rest of the pipeline is one flow, inserted in one transaction: notify waits for the
    // renditions, the thumbnail and moderation (any of them dying would put notify in the DLQ).
    const child = (rendition: Rendition | null) => ({
      queue: QUEUES.transcode,
      name: rendition === null ? 'thumbnail' : `transcode_${rendition}`,
      payload: { videoJobId: job.id, seq: plan.seq, file: plan.file, tier: plan.tier, rendition, size: plan.size } satisfies TranscodePayload,
      opts: { priority: plan.tier === 'paid' ? ('high' as const) : ('normal' as const) },
    });
    const flow = await client.flow({
      queue: QUEUES.notifications,
      name: 'notify',
      payload: { videoJobId: job.id, file: plan.file, email: plan.email, tier: plan.tier, emailFailures: plan.emailFailures } satisfies NotifyPayload,
      opts: { id: `notify.${job.id}`, priority: plan.tier === 'paid' ? 'high' : 'normal' },
      children: [
        ...RENDITIONS[plan.tier].map(child),
        child(null),
        { queue: QUEUES.moderation, name: 'moderate', payload: { videoJobId: job.id, file: plan.file, user: plan.user, flagged: plan.flagged === true } satisfies ModerationPayload },
      ],
    });
    await job.progress({ pct: 100, stage: 'flow', notifyJobId: flow.id });
    return { notifyJobId: flow.id };
  };

  /** A rendition (with progress) or the thumbnail, inside the shared pool of the upload's tier. */
  const transcode = async (job: ActiveJob<TranscodePayload>) => {
    const p = job.payload;
    const release = await pool.acquire(p.tier, job.signal);
    try {
      if (p.rendition === null) {
        await sleep(ms(DURATIONS.thumbnail), job.signal);
        return { url: `https://cdn.example.com/v/${p.seq}/thumb.jpg` };
      }
      const step = ms(DURATIONS.rendition[p.rendition] * (p.size || 1)) / 4;
      for (let quarter = 1; quarter <= 4; quarter++) {
        await sleep(step, job.signal);
        await job.progress({ pct: quarter * 25, stage: 'transcode', rendition: p.rendition });
      }
      return { url: `https://cdn.example.com/v/${p.seq}/${p.rendition}.mp4` };
    } finally {
      release();
    }
  };

  const moderate = async (job: ActiveJob<ModerationPayload>) => {
    await sleep(ms(DURATIONS.moderation), job.signal);
    counters.moderated += 1;
    if (job.payload.flagged) {
      counters.flagged += 1;
      o.log(`flag   ${job.payload.file} (${job.payload.user}) flagged for human review`);
    }
    return { verdict: job.payload.flagged ? 'review' : 'ok' };
  };

  const notify = async (job: ActiveJob<NotifyPayload>) => {
    const p = job.payload;
    // A flow parent runs once its children finished: their results make the message.
    const children = await job.children();
    if (job.attempt === 1) counters.transcoded += 1;
    const links = children.flatMap((c) => (c.state === 'completed' && c.queue === QUEUES.transcode ? [(c.result as { url: string }).url] : []));
    await sleep(ms(DURATIONS.email), job.signal);
    if (job.attempt <= p.emailFailures) {
      counters.emailFailures += 1;
      if (job.attempt === 1) counters.emailsRetried += 1;
      o.log(`retry  email to ${p.email} failed (attempt ${job.attempt} of ${job.maxRetries + 1}): 421 try again later`);
      throw new Error(`email service unavailable: 421 4.7.0 try again later (to ${p.email})`);
    }
    counters.notificationsSent += 1;
    if (job.attempt > 1) o.log(`sent   email to ${p.email} after ${job.attempt} attempts: ${p.file} is ready`);
    return { sentTo: p.email, attempts: job.attempt, links };
  };

  const video = [
    queues.paid.process(processVideo('paid'), { concurrency: o.transcoders + 2, workerId: workerId(QUEUES.paid) }),
    queues.free.process(processVideo('free'), { concurrency: o.transcoders, workerId: workerId(QUEUES.free) }),
    queues.transcode.process(transcode, { concurrency: o.transcoders * 2 + 2, workerId: workerId(QUEUES.transcode) }),
  ];
  const downstream = [
    queues.moderation.process(moderate, { concurrency: o.moderators, workerId: workerId(QUEUES.moderation) }),
    queues.notifications.process(notify, { concurrency: o.notifiers, workerId: workerId(QUEUES.notifications) }),
  ];
  return { pool, video, downstream };
}
