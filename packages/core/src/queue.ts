/**
 * Queue: a typed handle on one named queue. Producers `add`/`addBulk` jobs (validated against
 * the queue's Standard Schema, then the options, before anything is written); `process()`
 * starts a Worker with the queue's hooks (custom backoff, `classifyError`).
 *
 * Invariant: a call that throws ValidationError wrote nothing — a bulk add validates every
 * item first and inserts all of them in one backend call.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { InsertOutcome, JobInsert } from './backend/backend.js';
import { JOB_STATES, type JobRecord, type JobState } from './job/types.js';
import { ValidationError } from './errors.js';
import { buildJobInsert, mergeOptions, type JobOptions } from './job/options.js';
import type { BackoffFunction, ErrorClassifier } from './job/outcome.js';
import { checkKnownKeys, checkPlainObject, Issues } from './validate.js';
import type { JobHandler, WorkerOptions } from './worker/worker.js';
import type { Worker } from './worker/worker.js';
import type { Client } from './client.js';
import type { QueueLimitsInput } from './scheduling/limits-input.js';

export interface QueueDefinition<In = unknown, Out = In> {
  /** Validates (and may transform) payloads on add: zod, valibot, arktype… any Standard Schema. */
  schema?: StandardSchemaV1<In, Out>;
  /** Options applied to every job of this queue unless the add call overrides them. */
  defaultJobOptions?: JobOptions;
  /** Custom backoff, used by this queue's workers: ms to wait after `attempt` failed. */
  backoff?: BackoffFunction;
  /** Maps foreign errors to the taxonomy: 'permanent', 'retry', { retryAfterMs }, { snoozeMs }. */
  classifyError?: ErrorClassifier;
}

/** The answer to an add: the job's id and state; `inserted: false` means a duplicate (existing job). */
export type AddResult = InsertOutcome;

export interface BulkJob<In> {
  name: string;
  payload: In;
  opts?: JobOptions;
}

export class Queue<In = unknown, Out = In> {
  constructor(
    private readonly client: Client,
    readonly name: string,
    readonly definition: QueueDefinition<In, Out> = {},
  ) {}

  /** Enqueues one job; resolves once it is committed. */
  async add(name: string, payload: In, opts?: JobOptions): Promise<AddResult> {
    const [result] = await this.addBulk([{ name, payload, ...(opts === undefined ? {} : { opts }) }]);
    return result!;
  }

  /**
   * Enqueues many jobs in one write. All are validated first; one invalid item rejects the
   * whole call. Items must share the same `transaction` option (or none).
   */
  async addBulk(jobs: Array<BulkJob<In>>): Promise<AddResult[]> {
    const issues = new Issues();
    if (!Array.isArray(jobs)) throw new ValidationError([{ path: 'jobs', message: 'must be an array' }]);
    if (jobs.length === 0) return [];
    if (jobs.length > 100_000) throw new ValidationError([{ path: 'jobs', message: 'at most 100000 jobs per call' }]);
    const ctx = { queue: this.name, maxPayloadBytes: this.client.maxPayloadBytes, customBackoff: typeof this.definition.backoff === 'function' };
    const inserts: JobInsert[] = [];
    let transaction: unknown;
    for (let i = 0; i < jobs.length; i++) {
      const path = jobs.length === 1 ? '' : `jobs[${i}].`;
      const job = jobs[i] as unknown;
      const itemPath = path === '' ? 'job' : `jobs[${i}]`;
      if (!checkPlainObject(issues, itemPath, job)) continue;
      checkKnownKeys(issues, itemPath, job, ['name', 'payload', 'opts']);
      const opts = mergeOptions(this.definition.defaultJobOptions, job.opts as JobOptions | undefined);
      const payload = await this.validatePayload(issues, `${path}payload`, job.payload);
      if (i === 0) transaction = opts?.transaction;
      else if (opts?.transaction !== transaction) issues.add(`${path}opts.transaction`, 'all jobs of one addBulk call must share the same transaction');
      const insert = buildJobInsert(issues, path, ctx, job.name, payload, opts);
      if (insert) inserts.push(insert);
    }
    issues.throwIfAny();
    // Spans need the API, loaded when the client starts: an add before that waits for the start
    // (its write would anyway). Off or not installed, `spans` is null and costs nothing more.
    if (!this.client.tracing.ready) await this.client.start();
    const spans = this.client.tracing.spans;
    if (spans === null) return this.client.insert(inserts, transaction);
    return spans.send(this.name, inserts.length, () => this.client.insert(inserts, transaction));
  }

  /** Starts a worker for this queue. Close it (or the client) to stop it. */
  process(handler: JobHandler<Out>, options?: WorkerOptions): Worker<Out> {
    return this.client.createWorker({ strategy: 'strict', queues: [{ name: this.name, weight: 1 }] }, handler, options);
  }

  async pause(): Promise<void> {
    await this.client.pauseQueue(this.name);
  }

  async resume(): Promise<void> {
    await this.client.resumeQueue(this.name);
  }

  /** Limits across processes (`client.setQueueLimits`): `{ concurrency: 5, rate: { max: 100, intervalMs: 60_000 } }`. */
  async setLimits(limits: QueueLimitsInput): Promise<void> {
    await this.client.setQueueLimits(this.name, limits);
  }

  /** Jobs of this queue per state (every state present, zero when empty). */
  async counts(): Promise<Record<JobState, number>> {
    const all = await this.client.counts({ queue: this.name });
    return all[this.name] ?? Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  }

  /** A job of any queue by id (convenience for `client.getJob`). */
  getJob(id: string): Promise<JobRecord | null> {
    return this.client.getJob(id);
  }

  /** The payload as the queue's schema outputs it (issues recorded when it fails). @internal */
  async validatePayload(issues: Issues, path: string, payload: unknown): Promise<unknown> {
    const schema = this.definition.schema;
    if (!schema) return payload;
    let result = schema['~standard'].validate(payload);
    if (result instanceof Promise) result = await result;
    if (result.issues) {
      for (const issue of result.issues) {
        const segments = (issue.path ?? []).map((p) => String(typeof p === 'object' && p !== null && 'key' in p ? p.key : p));
        issues.add([path, ...segments].join('.'), issue.message);
      }
      return undefined;
    }
    return result.value;
  }
}
