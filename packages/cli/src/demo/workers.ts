/**
 * The demo's queues and handlers: `process_video` (probe, then transcode each rendition with
 * progress, inside the shared transcoder pool), `moderate` (dedicated workers, critical
 * priority) and `notify` (an email service that fails transiently and is retried with backoff).
 *
 * Handlers are pure functions of (payload, attempt): what happens to an upload was decided by the
 * producer (scenario.ts), so the outcome does not depend on timing. Downstream jobs get ids
 * derived from the video job's id, so a re-run of an attempt does not enqueue them twice.
 */
import { randomBytes } from 'node:crypto';
import { PermanentError, type ActiveJob, type Client, type Queue, type Worker } from '@spindle/core';
import { scaled, type ResolvedDemoOptions } from './options.js';
import { TranscoderPool } from './pool.js';
import { DURATIONS, isUploadPlan, QUEUES, RENDITIONS, type Tier, type UploadPlan } from './scenario.js';

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

export interface DemoQueues {
  paid: Queue<UploadPlan>;
  free: Queue<UploadPlan>;
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
  /** video.paid and video.free: closed first on stop (they enqueue the others' jobs). */
  video: Worker<any, any>[];
  /** moderation and notifications. */
  downstream: Worker<any, any>[];
}

export function startWorkers(queues: DemoQueues, o: ResolvedDemoOptions, counters: DemoCounters): DemoWorkers {
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
      await queues.moderation.add('moderate', { videoJobId: job.id, file: plan.file, user: plan.user, flagged: plan.flagged === true }, { id: `moderate.${job.id}` });
      const renditions = RENDITIONS[plan.tier];
      const steps = renditions.map((r) => ms(DURATIONS.rendition[r] * (plan.size || 1)));
      const total = steps.reduce((a, b) => a + b, 0);
      let done = 0;
      for (let i = 0; i < renditions.length; i++) {
        for (let quarter = 0; quarter < 4; quarter++) {
          await sleep(steps[i]! / 4, job.signal);
          done += steps[i]! / 4;
          await job.progress({ pct: Math.round((100 * done) / total), stage: 'transcode', rendition: renditions[i] });
        }
      }
      await queues.notifications.add(
        'notify',
        { videoJobId: job.id, file: plan.file, email: plan.email, tier: plan.tier, emailFailures: plan.emailFailures },
        { id: `notify.${job.id}`, priority: plan.tier === 'paid' ? 'high' : 'normal' },
      );
      counters.transcoded += 1;
      return { renditions: renditions.map((r) => `https://cdn.example.com/v/${plan.seq}/${r}.mp4`) };
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
    await sleep(ms(DURATIONS.email), job.signal);
    if (job.attempt <= p.emailFailures) {
      counters.emailFailures += 1;
      if (job.attempt === 1) counters.emailsRetried += 1;
      o.log(`retry  email to ${p.email} failed (attempt ${job.attempt} of ${job.maxRetries + 1}): 421 try again later`);
      throw new Error(`email service unavailable: 421 4.7.0 try again later (to ${p.email})`);
    }
    counters.notificationsSent += 1;
    if (job.attempt > 1) o.log(`sent   email to ${p.email} after ${job.attempt} attempts: ${p.file} is ready`);
    return { sentTo: p.email, attempts: job.attempt };
  };

  const video = [
    queues.paid.process(processVideo('paid'), { concurrency: o.transcoders + 2, workerId: workerId(QUEUES.paid) }),
    queues.free.process(processVideo('free'), { concurrency: o.transcoders, workerId: workerId(QUEUES.free) }),
  ];
  const downstream = [
    queues.moderation.process(moderate, { concurrency: o.moderators, workerId: workerId(QUEUES.moderation) }),
    queues.notifications.process(notify, { concurrency: o.notifiers, workerId: workerId(QUEUES.notifications) }),
  ];
  return { pool, video, downstream };
}
