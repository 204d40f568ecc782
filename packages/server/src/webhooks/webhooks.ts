/**
 * Webhooks, delivered as Spindle jobs of the queue `spindle.webhooks` — retried with backoff,
 * and landing in that queue's DLQ when the receiver keeps failing, like any job.
 *
 * - Per job (`callbackUrl` on enqueue): before the job is inserted, a delivery job is *parked*
 *   for it (scheduled years ahead, id `cb:<jobId>`). When the job finishes (completed, dead,
 *   cancelled) the parked delivery is promoted and runs: it reads the job and POSTs it. A sweep
 *   (every `sweepMs`) lists parked deliveries and promotes those whose job has finished, or is
 *   still missing a minute after parking, so a callback survives events this server missed
 *   (down, disconnected): delivery is at least once for the job's first finish.
 * - Per queue (`webhooks.hooks`): each event a running server observes that matches a hook's
 *   queues and event types is enqueued as a delivery whose id is derived from the event, so
 *   several servers observing the same event deliver it once. Events missed while no server
 *   runs are not delivered (events are notifications, DESIGN §8): use `callbackUrl` when every
 *   outcome must arrive.
 * - Every request is signed (signature.ts) and carries `Spindle-Delivery` (the delivery job id,
 *   stable across retries: receivers deduplicate on it). 2xx completes the delivery; 410 stops
 *   it (permanent); anything else, a timeout or a network error is retried.
 */
import { createHash } from 'node:crypto';
import { isTerminal, PermanentError, SnoozeError, type Client, type JobOptions, type Worker } from '@spindle/core';
import type { EventLog, WireEvent } from '../push/event-log.js';
import { jobView } from '../http/views.js';
import { SPINDLE_VERSION } from '../version.js';
import type { ResolvedWebhooks } from './options.js';
import { SIGNATURE_HEADER, signPayload } from './signature.js';

export const WEBHOOK_QUEUE = 'spindle.webhooks';
const PARK_MS = 9 * 365 * 24 * 3600 * 1000;
const SWEEP_PAGE = 500;
const SWEEP_MAX_PAGES = 20;
/**
 * A callback is parked just before its job is inserted: a sweep in between sees no job. Only a
 * delivery parked longer ago than this counts as an orphan (its job was never written, or was
 * deleted), so the race cannot complete a callback as "no such job" before the job exists.
 */
const ORPHAN_GRACE_MS = 60_000;
const FINISH_TYPES = new Set(['job.completed', 'job.dead', 'job.cancelled']);

type Delivery = { kind: 'job'; jobId: string; url: string } | { kind: 'hook'; hook: number; url: string; event: WireEvent };

const hash = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 40);

/** The parked delivery's id for a job (ids are at most 255 characters). */
export function callbackId(jobId: string): string {
  return jobId.length <= 250 ? `cb:${jobId}` : `cb:${hash(jobId)}`;
}

export class WebhookService {
  private worker: Worker | null = null;
  private unsubscribe: (() => void) | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  /** Jobs with a parked callback, as far as this server knows (its own, and the sweep's finds). */
  private readonly parked = new Set<string>();
  private readonly deliveryOptions: JobOptions;

  constructor(
    private readonly client: Client,
    private readonly options: ResolvedWebhooks,
    private readonly events: EventLog,
    private readonly onError: (err: unknown, what: string) => void,
  ) {
    this.deliveryOptions = { maxRetries: 10, backoff: { type: 'exponential', delayMs: options.retryDelayMs, factor: 2, maxDelayMs: 3_600_000 } };
  }

  start(): void {
    this.worker = this.client.queue(WEBHOOK_QUEUE).process((job) => this.deliver(job.payload as Delivery, job.id, job.attempt, job.signal), { concurrency: this.options.concurrency });
    this.unsubscribe = this.events.subscribe({}, (e) => this.onEvent(e));
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping;
    await this.worker?.close();
  }

  /** Parks a callback delivery for each job before the jobs are inserted. */
  async park(callbacks: Array<{ jobId: string; url: string }>): Promise<void> {
    if (callbacks.length === 0) return;
    await this.client.queue(WEBHOOK_QUEUE).addBulk(
      callbacks.map(({ jobId, url }) => ({ name: 'callback', payload: { kind: 'job', jobId, url } satisfies Delivery, opts: { ...this.deliveryOptions, id: callbackId(jobId), delay: PARK_MS } })),
    );
    for (const c of callbacks) this.parked.add(c.jobId);
  }

  /** Promotes parked callbacks of finished jobs and orphans; finds callbacks parked elsewhere. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce()
      .catch((err: unknown) => this.onError(err, 'webhook sweep'))
      .finally(() => {
        this.sweeping = null;
      });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    let cursor: string | null = null;
    for (let page = 0; page < SWEEP_MAX_PAGES; page++) {
      const parked = await this.client.listJobs({ filter: { queue: WEBHOOK_QUEUE, states: ['scheduled'], name: 'callback' }, limit: SWEEP_PAGE, order: 'oldest', ...(cursor ? { cursor } : {}) });
      const targets = parked.jobs.map((j) => ({ delivery: j.id, jobId: (j.payload as Delivery & { kind: 'job' }).jobId, parkedAt: j.createdAt.getTime() }));
      if (targets.length > 0) {
        const [found, now] = await Promise.all([this.client.listJobs({ filter: { ids: [...new Set(targets.map((t) => t.jobId))] }, limit: 1000 }), this.client.now()]);
        const state = new Map(found.jobs.map((j) => [j.id, j.state]));
        const orphaned = (t: (typeof targets)[number]) => !state.has(t.jobId) && now.getTime() - t.parkedAt > ORPHAN_GRACE_MS;
        const due = targets.filter((t) => orphaned(t) || (state.has(t.jobId) && isTerminal(state.get(t.jobId)!)));
        for (const t of targets) if (!due.includes(t)) this.parked.add(t.jobId);
        if (due.length > 0) await this.client.jobs.promote(due.map((t) => t.delivery));
      }
      cursor = parked.nextCursor;
      if (!cursor) return;
    }
  }

  private onEvent(e: WireEvent): void {
    if (e.queue === WEBHOOK_QUEUE) return;
    if (e.jobId && FINISH_TYPES.has(e.type) && this.parked.delete(e.jobId)) {
      this.client.jobs.promote([callbackId(e.jobId)]).catch((err: unknown) => this.onError(err, 'webhook callback promotion'));
    }
    this.options.hooks.forEach((hook, index) => {
      if (!hook.events.includes(e.type) || !hook.queues.some((p) => (p.endsWith('*') ? e.queue.startsWith(p.slice(0, -1)) : p === e.queue))) return;
      // Job events name the same job, attempt and time on every server: one delivery between
      // them. Alerts are each server's own observation: one delivery per server and event (the
      // event id `<boot>.<seq>` tells apart two rules' transitions of one queue in one tick).
      const id = `hk:${index}:${hash(e.jobId ? `${e.jobId}\n${e.type}\n${e.attempt}\n${e.at}` : `${e.type}\n${e.queue}\n${e.at}\n${e.id}`)}`;
      this.client
        .queue(WEBHOOK_QUEUE)
        .add('hook', { kind: 'hook', hook: index, url: hook.url, event: { ...e, id: '' } } satisfies Delivery, { ...this.deliveryOptions, id })
        .catch((err: unknown) => this.onError(err, 'webhook enqueue'));
    });
  }

  private async deliver(d: Delivery, deliveryId: string, attempt: number, signal: AbortSignal): Promise<unknown> {
    let body: Record<string, unknown>;
    if (d.kind === 'job') {
      const job = await this.client.getJob(d.jobId);
      if (!job) {
        // Promoted as an orphan by the sweep (parked over a minute ago, job never written or
        // deleted since) — or by hand: nothing to report.
        return { skipped: 'the job does not exist' };
      }
      if (!isTerminal(job.state)) throw new SnoozeError(PARK_MS); // promoted early (by hand): park again
      body = { type: `job.${job.state}`, at: (job.finishedAt ?? new Date()).toISOString(), job: jobView(job) };
    } else {
      const job = d.event.jobId ? await this.client.getJob(d.event.jobId) : null;
      const { id: _unused, ...event } = d.event;
      body = { type: d.event.type, at: d.event.at, event, ...(job ? { job: jobView(job) } : {}) };
    }
    const text = JSON.stringify(body);
    let res: Response;
    try {
      res = await fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          'user-agent': `spindle/${SPINDLE_VERSION}`,
          [SIGNATURE_HEADER]: signPayload(this.options.secret, text),
          'spindle-delivery': deliveryId,
          'spindle-attempt': String(attempt),
        },
        body: text,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      throw new Error(`delivery to ${new URL(d.url).host} failed: ${(err as Error).name}`);
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status };
    if (res.status === 410) throw new PermanentError(`the receiver answered 410 Gone`);
    throw new Error(`the receiver answered HTTP ${res.status}`);
  }
}
