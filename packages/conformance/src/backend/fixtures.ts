/**
 * Fixtures shared by the conformance tests: a factory for valid `JobInsert`s with unique ids,
 * attempt errors, one-line helpers to insert/claim/finalize a single job, a poll-until helper
 * (no fixed sleeps) and an event recorder for backends that offer `subscribe`.
 *
 * Every helper asserts what it relies on (e.g. `claimOne` fails the test unless exactly one
 * job was claimed), so a broken precondition reports where it broke.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type {
  AttemptError,
  Backend,
  ClaimedJob,
  FinalizeAction,
  JobInsert,
  JobRecord,
  JobRetention,
  LeaseOutcome,
  LeaseRef,
  RescueResult,
  RetentionDefaults,
  SpindleEvent,
} from '@spindle/core';

/** The default queue of the fixtures. */
export const QUEUE = 'conformance';

/** A job's own retention: nothing set, so the client's defaults apply. */
export const NO_JOB_RETENTION: JobRetention = Object.freeze({
  completedKeepMs: null,
  completedKeepCount: null,
  deadKeepMs: null,
  deadKeepCount: null,
});

/** Client retention defaults that keep everything forever. */
export const KEEP_FOREVER: RetentionDefaults = Object.freeze({ completedMs: null, cancelledMs: null, deadMs: null });

export const LEASE_MS = 30_000;
export const WORKER = 'worker-1';

/** The rescue spread of the client's rescuer by default (`maintenance.rescueSpreadMs`, ADR 0019). */
export const RESCUE_SPREAD_MS = 1_000;

let counter = 0;

/** A fresh id that no other test (or process) uses. */
export function uniqueId(prefix = 'job'): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(4).toString('hex')}`;
}

/** A valid JobInsert with a unique id: queued at once, priority 500, 3 retries, keep-forever. */
export function jobInsert(overrides: Partial<JobInsert> = {}): JobInsert {
  return {
    id: uniqueId(),
    queue: QUEUE,
    name: 'send-email',
    payload: JSON.stringify({ to: 'someone@example.com', n: counter }),
    priority: 500,
    maxRetries: 3,
    delayMs: null,
    runAt: null,
    uniqueKey: null,
    timeoutMs: null,
    backoff: null,
    retention: { ...NO_JOB_RETENTION },
    ...overrides,
  };
}

/** An attempt error as the core would build it. */
export function attemptError(overrides: Partial<AttemptError> = {}): AttemptError {
  return {
    attempt: 1,
    round: 0,
    kind: 'error',
    name: 'Error',
    message: 'boom',
    stack: 'Error: boom\n    at handler (job.ts:1:1)',
    workerId: WORKER,
    at: 0,
    ...overrides,
  };
}

/** Inserts one job (which must be new) and returns its id. */
export async function insertOne(backend: Backend, overrides: Partial<JobInsert> = {}, now?: Date): Promise<string> {
  const job = jobInsert(overrides);
  const [outcome] = await backend.insertJobs({ jobs: [job], now });
  assert.ok(outcome, 'insertJobs answered no outcome');
  assert.equal(outcome.inserted, true, `fixture job ${job.id} was not inserted`);
  return job.id;
}

/** Inserts many jobs (all new) in one batch and returns their ids in order. */
export async function insertMany(backend: Backend, jobs: Array<Partial<JobInsert>>, now?: Date): Promise<string[]> {
  const inserts = jobs.map((o) => jobInsert(o));
  const outcomes = await backend.insertJobs({ jobs: inserts, now });
  assert.equal(outcomes.length, inserts.length);
  outcomes.forEach((o) => assert.equal(o.inserted, true));
  return inserts.map((j) => j.id);
}

export interface ClaimOptions {
  queue?: string;
  now?: Date;
  leaseMs?: number;
  workerId?: string;
}

/** Claims with limit 1 and requires exactly one job. */
export async function claimOne(backend: Backend, options: ClaimOptions = {}): Promise<ClaimedJob> {
  const claimed = await backend.claimJobs({
    queue: options.queue ?? QUEUE,
    workerId: options.workerId ?? WORKER,
    limit: 1,
    leaseMs: options.leaseMs ?? LEASE_MS,
    now: options.now,
  });
  assert.equal(claimed.length, 1, `expected to claim one job from ${options.queue ?? QUEUE}, got ${claimed.length}`);
  return claimed[0]!;
}

/** Inserts one job and claims it (the queue must otherwise be empty). */
export async function insertAndClaim(
  backend: Backend,
  overrides: Partial<JobInsert> = {},
  options: ClaimOptions = {},
): Promise<ClaimedJob> {
  const id = await insertOne(backend, { queue: options.queue ?? QUEUE, ...overrides }, options.now);
  const claimed = await claimOne(backend, { ...options, queue: overrides.queue ?? options.queue });
  assert.equal(claimed.id, id, 'claimed another job than the one just inserted');
  return claimed;
}

/** The fence of a claimed attempt. */
export function leaseOf(job: LeaseRef): LeaseRef {
  return { id: job.id, attempt: job.attempt, leaseToken: job.leaseToken };
}

/** Finalizes one attempt and returns its outcome. */
export async function finalizeOne(
  backend: Backend,
  lease: LeaseRef,
  action: FinalizeAction,
  now?: Date,
  retention: RetentionDefaults = KEEP_FOREVER,
): Promise<LeaseOutcome> {
  const outcomes = await backend.finalizeJobs({ items: [{ ...leaseOf(lease), ...action }], retention, now });
  assert.equal(outcomes.length, 1);
  return outcomes[0]!;
}

/** Drives a fresh job to `dead` (one failed attempt) and returns its id. */
export async function makeDead(
  backend: Backend,
  now: Date,
  overrides: Partial<JobInsert> = {},
  reason = 'boom',
  message = reason,
): Promise<string> {
  const claimed = await insertAndClaim(backend, overrides, { now, queue: overrides.queue });
  const error = attemptError({ message, at: now.getTime() });
  assert.equal(await finalizeOne(backend, claimed, { kind: 'dead', error, reason }, now), 'ok');
  return claimed.id;
}

/**
 * Rescues expired leases at `now` as the client's rescuer does (spread RESCUE_SPREAD_MS: the jobs
 * that will run again become `retrying`, each due within the spread), then promotes them at
 * `now + RESCUE_SPREAD_MS`, when all are due: they are `queued` again. Answers the rescue's result
 * and the time of the promotion.
 */
export async function rescueAndPromote(
  backend: Backend,
  now: Date,
  retention: RetentionDefaults = KEEP_FOREVER,
): Promise<RescueResult & { promotedAt: Date }> {
  const result = await backend.rescueExpiredLeases({ limit: 100, retention, spreadMs: RESCUE_SPREAD_MS, now });
  for (const id of result.requeued) assert.equal((await mustGet(backend, id)).state, 'retrying', `rescued job ${id} is not retrying`);
  const promotedAt = new Date(now.getTime() + RESCUE_SPREAD_MS);
  const promoted = await backend.promoteDueJobs({ limit: 1000, now: promotedAt });
  assert.ok(promoted.promoted >= result.requeued.length, 'a rescued job was not due at the end of the spread');
  return { ...result, promotedAt };
}

/** getJob that fails the test when the job is missing. */
export async function mustGet(backend: Backend, id: string): Promise<JobRecord> {
  const job = await backend.getJob(id);
  assert.ok(job, `job ${id} not found`);
  return job;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after the timeout. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` });
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/** Collects every event a backend delivers while subscribed. */
export class EventLog {
  readonly events: SpindleEvent[] = [];
  private readonly unsubscribe: () => void;

  constructor(backend: Backend) {
    assert.ok(backend.subscribe, 'backend has no subscribe');
    this.unsubscribe = backend.subscribe((batch) => {
      this.events.push(...batch);
    });
  }

  /** Waits for the first event matching `match` and returns it. */
  async next<E extends SpindleEvent>(what: string, match: (e: SpindleEvent) => e is E): Promise<E>;
  async next(what: string, match: (e: SpindleEvent) => boolean): Promise<SpindleEvent>;
  async next(what: string, match: (e: SpindleEvent) => boolean): Promise<SpindleEvent> {
    return waitFor(() => this.events.find(match), `event ${what}`);
  }

  stop(): void {
    this.unsubscribe();
  }
}
