/**
 * Client: Spindle's entry point over one Backend. It owns the schema check/migration at start,
 * the event subscription, leader election with the maintenance services, the queue registry and
 * the workers it created; reads, cancels, pause/resume and the DLQ go through it.
 *
 * Lifecycle: new → start() (lazy: the first operation starts it) → close(). close() stops the
 * workers gracefully, then maintenance, then closes the backend (unless `closeBackend: false`).
 *
 * Invariants: every public method validates its input before touching the backend; no method
 * is served after close() (ClosedError).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Backend, CancelOutcome, JobFilter, JobInsert, JobPage, QueueInfo, RetentionDefaults } from './backend/backend.js';
import type { JobRecord } from './job/types.js';
import { ClosedError, ValidationError } from './errors.js';
import { EventHub, type ClientEventMap, type ClientEventName } from './events.js';
import { JOB_STATES, type JobState } from './job/types.js';
import { consoleLogger, type Logger } from './logger.js';
import { Dlq } from './dlq.js';
import { getChildren, insertFlow, type FlowResult, type FlowSpec } from './flow.js';
import { Enqueuer } from './enqueuer.js';
import { JobAdmin } from './job-admin.js';
import { checkFilter, checkListParams, checkQueueParams, type ListParams } from './filters.js';
import { Queue, type AddResult, type QueueDefinition } from './queue.js';
import { LeaderElector } from './services/leader-elector.js';
import { createPruner, createRescuer, DEFAULT_MAINTENANCE, Promoter } from './services/maintenance.js';
import { ScheduleRunner } from './services/schedule-runner.js';
import { Schedules } from './schedules.js';
import { Topics } from './topics/topics.js';
import { checkIdentifier, checkJobId, checkKnownKeys, checkPlainObject, Issues } from './validate.js';
import { Worker, type JobHandler, type ServedQueues } from './worker/worker.js';
import { parseServedQueues, type WorkerQueues } from './scheduling/served-queues.js';
import { checkHold, checkQueueLimits, type QueueLimitsInput } from './scheduling/limits-input.js';
import { checkCloseOptions, type WorkerOptions } from './worker/options.js';
import type { IdempotencyClaim, StatsRow, WorkerInfo } from './backend/stores.js';
import {
  clientClaimKeyParams,
  clientListWorkersParams,
  clientReadStatsParams,
  resolveTelemetry,
  Telemetry,
} from './telemetry/telemetry.js';
import { Tracing } from './telemetry/tracing.js';
import { checkClientOptions, type ClientOptions } from './client-options.js';

export type { ClientOptions, MaintenanceOptions, RetentionOptions } from './client-options.js';


export class Client {
  readonly backend: Backend;
  readonly dlq: Dlq;
  /** Operator actions on given jobs: retry, promote, delete, edit the payload (job-admin.ts). */
  readonly jobs: JobAdmin;
  /** Cron and interval schedules stored in the database, fired by the maintenance leader (schedules.ts). */
  readonly schedules: Schedules;
  /** The message log: topics, partitions, consumer groups (topics/topics.ts). */
  readonly topics: Topics;
  readonly maxPayloadBytes: number;
  readonly retention: RetentionDefaults;
  readonly logger: Logger;
  private readonly hub: EventHub;
  private readonly options: ClientOptions;
  private readonly queues = new Map<string, Queue<any, any>>();
  private readonly workers = new Set<Worker<any, any>>();
  private elector: LeaderElector | null = null;
  /** Fires due schedules while this client leads maintenance (services/schedule-runner.ts). */
  private scheduleRunner: ScheduleRunner | null = null;
  private unsubscribe: (() => void) | null = null;
  private starting: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Group-committed enqueues with direct dispatch to idle local workers (enqueuer.ts). */
  private readonly inserts: Enqueuer;
  /** Worker registry heartbeat and throughput counters (telemetry/). */
  private readonly telemetry: Telemetry;
  /** Spans, loaded at start (telemetry/tracing.ts); Queue and Worker read it. @internal */
  readonly tracing: Tracing;

  constructor(options: ClientOptions) {
    const { maxPayloadBytes, retention } = checkClientOptions(options);
    this.options = options;
    this.backend = options.backend;
    this.maxPayloadBytes = maxPayloadBytes;
    this.retention = retention;
    this.logger = options.logger ?? consoleLogger;
    this.hub = new EventHub(this.logger);
    this.dlq = new Dlq(this);
    this.jobs = new JobAdmin(this);
    this.schedules = new Schedules(this);
    this.topics = new Topics(this, this.hub);
    this.telemetry = new Telemetry(this.backend, this.logger, resolveTelemetry(options.telemetry));
    this.tracing = new Tracing(options.tracing !== false, this.logger);
    this.inserts = new Enqueuer({ run: (op) => this.run(op), workers: this.workers, logger: this.logger, stats: this.telemetry.stats });
  }

  /** Creates a client and starts it (migrations, events, maintenance). */
  static async open(options: ClientOptions): Promise<Client> {
    const client = new Client(options);
    await client.start();
    return client;
  }

  /** Idempotent; every operation calls it, so calling it yourself is only needed to fail fast. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('client'));
    if (!this.starting) {
      this.starting = this.doStart();
      this.starting.catch(() => {
        this.starting = null; // allow a retry after e.g. the database comes back
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    await this.tracing.load(); // never rejects
    if (this.options.autoMigrate === false) await this.backend.checkSchema();
    else await this.backend.migrate();
    if (this.backend.subscribe && !this.unsubscribe) this.unsubscribe = this.backend.subscribe((events) => this.hub.dispatch(events));
    this.telemetry.start();
    const m = this.options.maintenance ?? true;
    if (m !== false && !this.elector) {
      const intervals = { ...DEFAULT_MAINTENANCE, ...(m === true ? {} : m) };
      const { workerExpiryMs, statsRetentionMs } = this.telemetry.options;
      const ctx = { backend: this.backend, logger: this.logger, hub: this.hub, intervals, retention: this.retention, stores: { workerExpiryMs, statsRetentionMs }, stats: this.telemetry.stats };
      this.scheduleRunner = new ScheduleRunner({ backend: this.backend, logger: this.logger, intervalMs: intervals.scheduleIntervalMs });
      this.elector = new LeaderElector({
        backend: this.backend,
        holderId: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
        ttlMs: (m === true ? undefined : m.leaderTtlMs) ?? 15_000,
        logger: this.logger,
        services: [new Promoter(ctx), createRescuer(ctx), createPruner(ctx), this.scheduleRunner],
      });
      this.elector.start();
    }
  }

  /** Runs a backend operation once the client is started. @internal */
  async run<T>(op: (backend: Backend) => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError('client');
    await this.start();
    return op(this.backend);
  }

  /** A schedule changed in this process: the runner (when this client leads) re-plans now. @internal */
  wakeScheduleRunner(): void {
    this.scheduleRunner?.wake();
  }

  /** True while this client holds maintenance leadership. */
  get isLeader(): boolean {
    return this.elector?.isLeader ?? false;
  }

  /**
   * A typed handle on a queue. Passing a definition registers it (schema, defaults, hooks) for
   * this client; later calls without one return the registered queue.
   */
  queue<In = unknown, Out = In>(name: string, definition?: QueueDefinition<In, Out>): Queue<In, Out> {
    const issues = new Issues();
    checkIdentifier(issues, 'queue', name);
    if (definition !== undefined) {
      if (checkPlainObject(issues, 'definition', definition)) {
        checkKnownKeys(issues, 'definition', definition as Record<string, unknown>, ['schema', 'defaultJobOptions', 'backoff', 'classifyError']);
        if (definition.schema !== undefined && typeof (definition.schema as { '~standard'?: { validate?: unknown } })['~standard']?.validate !== 'function') issues.add('definition.schema', 'must be a Standard Schema (zod, valibot, arktype…)');
        if (definition.backoff !== undefined && typeof definition.backoff !== 'function') issues.add('definition.backoff', 'must be a function (attempt, error, job) => ms');
        if (definition.classifyError !== undefined && typeof definition.classifyError !== 'function') issues.add('definition.classifyError', 'must be a function');
      }
    }
    issues.throwIfAny();
    const existing = this.queues.get(name);
    if (existing && definition === undefined) return existing as Queue<In, Out>;
    const queue = new Queue<In, Out>(this, name, definition ?? {});
    this.queues.set(name, queue);
    return queue;
  }

  /** The queue registered under `name` by `queue()`, if any. @internal */
  registeredQueue(name: string): Queue<any, any> | undefined {
    return this.queues.get(name);
  }

  /**
   * Starts a worker on a queue (by name or handle), or on several shared by a strategy:
   * `['critical', 'default']` (strict priority, most urgent first) or
   * `{ weighted: { high: 6, medium: 3, low: 1 } }` (weighted fair sharing, work-conserving).
   * Each job runs with its own queue's hooks (custom backoff, classifyError).
   */
  worker<P = unknown, R = unknown>(queues: WorkerQueues, handler: JobHandler<P, R>, options?: WorkerOptions): Worker<P, R> {
    const { strategy, queues: served, handles } = parseServedQueues(queues, (ref) => (ref instanceof Queue ? ref.name : null));
    // Handles given by the caller are registered: their definitions' hooks apply to their jobs.
    for (const handle of handles as Array<Queue<any, any>>) if (!this.queues.has(handle.name)) this.queues.set(handle.name, handle);
    return this.createWorker({ strategy, queues: served }, handler, options);
  }

  /** @internal */
  createWorker<P, R>(served: ServedQueues, handler: JobHandler<P, R>, options?: WorkerOptions): Worker<P, R> {
    if (this.closed) throw new ClosedError('client');
    const worker = new Worker<P, R>(
      {
        backend: this.backend,
        hub: this.hub,
        logger: this.logger,
        retention: this.retention,
        maxResultBytes: this.maxPayloadBytes,
        hooksFor: (queue) => {
          const definition = this.queues.get(queue)?.definition;
          return { classifyError: definition?.classifyError, backoff: definition?.backoff };
        },
        onClosed: (w) => {
          this.workers.delete(w);
          return this.telemetry.registry?.remove(w);
        },
        onStarted: (w) => this.telemetry.registry?.add(w),
        stats: this.telemetry.stats,
        ready: () => this.start(),
        tracing: this.tracing,
      },
      served,
      handler,
      options,
    );
    this.workers.add(worker);
    return worker;
  }

  /** @internal — used by Queue.addBulk after validation. */
  insert(jobs: JobInsert[], transaction: unknown): Promise<AddResult[]> {
    if (transaction !== undefined && !this.backend.capabilities.transactionalEnqueue) {
      throw new ValidationError([{ path: 'opts.transaction', message: `the ${this.backend.kind} backend does not support transactional enqueue` }]);
    }
    if (transaction !== undefined) {
      // Counted when the insert returns: a later rollback of the caller's transaction is not undone.
      return this.run((b) => b.insertJobs({ jobs, transaction })).then((outcomes) => {
        this.telemetry.stats?.countInserted(jobs, outcomes);
        return outcomes;
      });
    }
    if (this.closing) return Promise.reject(new ClosedError('client'));
    return this.inserts.submit(jobs);
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const issues = new Issues();
    checkJobId(issues, 'id', id);
    issues.throwIfAny();
    return this.run((b) => b.getJob(id));
  }

  /**
   * Inserts a flow — a job and the jobs it waits for (children of any queue, nested) — in one
   * transaction, after validating the whole tree (flow.ts, docs/decisions/0012-flows.md).
   */
  flow(spec: FlowSpec): Promise<FlowResult> {
    if (this.closing) return Promise.reject(new ClosedError('client'));
    return insertFlow(this, spec, (jobs, outcomes) => this.telemetry.stats?.countInserted(jobs, outcomes));
  }

  /** The children of a flow job, in the order its flow listed them (finished ones included). */
  getChildren(parentId: string): Promise<JobRecord[]> {
    return getChildren(this, parentId);
  }

  /**
   * Sets a queue's limits across every process and machine: `{ concurrency: 5 }` (at most 5 of
   * its jobs running at once), `{ rate: { max: 100, intervalMs: 60_000 } }` (at most 100 started
   * per sliding minute), or both. They replace the queue's limits (an omitted one is removed).
   */
  async setQueueLimits(queue: string, limits: QueueLimitsInput): Promise<void> {
    const checked = checkQueueLimits(queue, limits);
    await this.run((b) => b.setQueueLimits(checked));
  }

  /** Claims skip the queue for `delayMs` in every process (what a RateLimitedError does); 0 ends a hold. */
  async holdQueue(queue: string, delayMs: number): Promise<void> {
    const checked = checkHold(queue, delayMs);
    await this.run((b) => b.holdQueue(checked));
  }

  /** Searches jobs (filters: queue, states, name, ids, time range, payload/error text), newest first. */
  async listJobs(params: ListParams = {}): Promise<JobPage> {
    const checked = checkListParams(params, 'listJobs', true);
    return this.run((b) => b.listJobs(checked));
  }

  /** When the queue's longest-waiting `queued` job became due (null: none waits). */
  async oldestQueuedAt(queue: string): Promise<Date | null> {
    const issues = new Issues();
    checkIdentifier(issues, 'queue', queue);
    issues.throwIfAny();
    return this.run((b) => b.oldestQueuedAt(queue));
  }

  /** Jobs per queue and state: `{ emails: { queued: 3, running: 1, ... } }` (every state present). */
  async counts(params: { queue?: string } = {}): Promise<Record<string, Record<JobState, number>>> {
    const queue = checkQueueParams(params, 'counts');
    const rows = await this.run((b) => b.countJobs(queue === undefined ? {} : { queue }));
    const result: Record<string, Record<JobState, number>> = {};
    for (const row of rows) {
      result[row.queue] ??= Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
      result[row.queue]![row.state] = row.count;
    }
    return result;
  }

  /**
   * How many jobs match `filter` (the filters of listJobs), exactly: what a bulk action by that
   * filter would select now. Costs one scan of the rows the filter's indexed fields leave.
   */
  async countMatching(filter: JobFilter = {}): Promise<number> {
    const issues = new Issues();
    const checked = checkFilter(issues, 'filter', filter, true);
    issues.throwIfAny();
    return this.run((b) => b.countMatchingJobs({ filter: checked! }));
  }

  /** Cancels a job: waiting jobs at once, a running job by signalling its handler. */
  async cancel(id: string): Promise<CancelOutcome> {
    const [outcome] = await this.cancelMany([id]);
    return outcome!;
  }

  async cancelMany(ids: string[]): Promise<CancelOutcome[]> {
    const issues = new Issues();
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 10_000) issues.add('ids', 'must be an array of 1..10000 job ids');
    else for (let i = 0; i < ids.length; i++) checkJobId(issues, `ids[${i}]`, ids[i]); // holes of sparse arrays too
    issues.throwIfAny();
    return this.run((b) => b.cancelJobs({ ids, retention: this.retention }));
  }

  async pauseQueue(queue: string): Promise<void> {
    const issues = new Issues();
    checkIdentifier(issues, 'queue', queue);
    issues.throwIfAny();
    await this.run((b) => b.pauseQueue(queue));
  }

  async resumeQueue(queue: string): Promise<void> {
    const issues = new Issues();
    checkIdentifier(issues, 'queue', queue);
    issues.throwIfAny();
    await this.run((b) => b.resumeQueue(queue));
  }

  listQueues(): Promise<QueueInfo[]> {
    return this.run((b) => b.listQueues());
  }

  /** Workers registered by every process sharing the database (`seenWithinMs`: live ones only). */
  async listWorkers(params: { queue?: string; seenWithinMs?: number } = {}): Promise<WorkerInfo[]> {
    const checked = clientListWorkersParams(params);
    return this.run((b) => b.listWorkers(checked));
  }

  /** Per-minute throughput counters (approximate; see telemetry/stats-recorder.ts). */
  async readStats(params: { queue?: string; from: Date | string; to: Date | string }): Promise<StatsRow[]> {
    const checked = clientReadStatsParams(params);
    return this.run((b) => b.readStats(checked));
  }

  /** Stores an idempotency key unless a live one exists (`ttlMs` default 24 h); see stores.ts. */
  async claimIdempotencyKey(params: { scope: string; key: string; requestHash: string; ttlMs?: number }): Promise<IdempotencyClaim> {
    const checked = clientClaimKeyParams(params);
    return this.run((b) => b.claimIdempotencyKey(checked));
  }

  /** Writes this client's worker heartbeat and counted outcomes now instead of at the next tick. */
  flushTelemetry(): Promise<void> {
    return this.run(() => this.telemetry.flush());
  }

  /** The database clock. */
  now(): Promise<Date> {
    return this.run((b) => b.now());
  }

  on<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): () => void {
    return this.hub.on(name, listener);
  }

  once<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): () => void {
    return this.hub.once(name, listener);
  }

  off<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): void {
    this.hub.off(name, listener);
  }

  /** Stops workers (graceful, `graceMs` each), maintenance and events; closes the backend. */
  close(options: { graceMs?: number } = {}): Promise<void> {
    try {
      checkCloseOptions(options); // before anything is marked closed
    } catch (err) {
      return Promise.reject(err);
    }
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  private async shutdown(options: { graceMs?: number }): Promise<void> {
    // Enqueues already accepted are written before anything stops; new ones are refused.
    await this.inserts.idle();
    await this.topics.stopConsumers(); // they commit and leave their groups while the backend is open
    this.closed = true;
    await Promise.all([...this.workers].map((w) => w.close(options)));
    await this.starting?.catch(() => undefined);
    await this.elector?.stop();
    await this.telemetry.stop();
    this.unsubscribe?.();
    if (this.options.closeBackend !== false) await this.backend.close();
  }
}
