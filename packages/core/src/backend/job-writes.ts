/**
 * The Backend's write-path types: capabilities, leases and their fence, retention, inserts
 * (with direct dispatch), claims, heartbeats, progress, finalize and cancel. The rules every
 * implementation keeps are in backend.ts; the semantics per method in
 * docs/design/backend-semantics.md.
 */
import type { AttemptError, BackoffSpec, JobState } from '../job/types.js';

export interface BackendCapabilities {
  /** Several processes may share the database (SQLite: one file; PostgreSQL: always). */
  multiProcess: boolean;
  /** `subscribe` also delivers events committed by other processes. */
  crossProcessEvents: boolean;
  /** `insertJobs` accepts `transaction`: the caller's own open transaction/client. */
  transactionalEnqueue: boolean;
}

/** A claimed attempt's identity; the fence of every write made for it. */
export interface LeaseRef {
  id: string;
  attempt: number;
  leaseToken: string;
}

/** Per-item answer of a fenced batch write. */
export type LeaseOutcome = 'ok' | 'lease_lost' | 'not_found';

/**
 * Per-job retention stored with the job; `null` fields fall back to the client's defaults.
 * `keepMs`: -1 = keep forever, 0 = remove at the next prune, > 0 = keep that long after finishing.
 * `keepCount`: keep at most this many finished jobs of the queue in that state (newest first).
 */
export interface JobRetention {
  completedKeepMs: number | null;
  completedKeepCount: number | null;
  deadKeepMs: number | null;
  deadKeepCount: number | null;
}

/** Client-wide retention defaults, applied when a job's own rule is null. null = keep forever. */
export interface RetentionDefaults {
  completedMs: number | null;
  cancelledMs: number | null;
  deadMs: number | null;
}

export interface JobInsert {
  id: string;
  queue: string;
  name: string;
  /** The payload, already serialized to JSON text by the core (validated and size-checked). */
  payload: string;
  priority: number;
  maxRetries: number;
  /** At most one of `delayMs` / `runAt` is set. Neither, or a time not in the future → `queued`. */
  delayMs: number | null;
  runAt: Date | null;
  uniqueKey: string | null;
  /**
   * How `uniqueKey` is held and what a duplicate does (`opts.unique`, ADR 0016). Null or absent:
   * held while the job is not finished, a duplicate is skipped — `uniqueKey`'s meaning, which
   * the core also sends for `unique: { key }` with the defaults. Set only with `uniqueKey`.
   */
  uniqueMode?: UniqueMode | null;
  /** Tenant group (claims rotate across a queue's groups); null or absent: none. */
  group?: string | null;
  timeoutMs: number | null;
  backoff: BackoffSpec | null;
  retention: JobRetention;
}

export interface InsertJobsParams {
  jobs: JobInsert[];
  /**
   * Only for backends with `transactionalEnqueue`: the caller's client inside an open
   * transaction. The jobs then exist if and only if that transaction commits.
   */
  transaction?: unknown;
  /**
   * Direct dispatch: an idle worker in this process takes new jobs as they are inserted, saving
   * the claim round trip (the embedded latency path). For each entry, up to `limit` of the jobs
   * inserted by this call into `queue` that are due now (not delayed), in input order, are
   * inserted already claimed — `state = 'running'`, `attempt = 1`, a fresh lease for `workerId`
   * of `leaseMs` — provided the queue is not paused. Never used with `transaction`.
   */
  dispatch?: DispatchRequest[];
  now?: Date;
}

export interface DispatchRequest {
  queue: string;
  workerId: string;
  leaseMs: number;
  /** 1..1000 */
  limit: number;
}

/**
 * `inserted: false` means a duplicate: `id` matched an existing job (in any state), or
 * `uniqueKey` is held by another job of the same queue (by default: one that is not in a
 * terminal state; see UniqueMode). `id` and `state` are then the existing job's. Nothing about
 * the existing job changes, except when `replaced` says so.
 */
export interface InsertOutcome {
  id: string;
  inserted: boolean;
  state: JobState;
  /** Set when the job was inserted already claimed (`dispatch`); `state` is then `running`. */
  claimed?: ClaimedJob;
  /**
   * Set (true) when the job was a duplicate with `uniqueMode.replace` and the holder was still
   * waiting (`scheduled` or `queued`): the holder (`id`) took this job's name, payload, priority
   * and run time; `state` is the holder's state after that. Absent otherwise.
   */
  replaced?: boolean;
}

/**
 * How a unique key is held, as stored (`unique_scope`): `queued` until the job first starts,
 * `active` until it finishes, `period` for `forMs` from the insert (core UniqueWhile).
 */
export type UniqueScope = 'queued' | 'active' | 'period';

/** A job's uniqueness beyond the default (JobInsert.uniqueMode). */
export interface UniqueMode {
  scope: UniqueScope;
  /** `period` only: how long the key is held from the insert, in ms (1..MAX_DELAY_MS); else null. */
  forMs: number | null;
  /**
   * `onConflict: 'replace'`: when the key's holder is still waiting (`scheduled` or `queued`),
   * it takes this job's name, payload, priority and run time instead of this job being added.
   */
  replace: boolean;
}

export interface ClaimParams {
  queue: string;
  workerId: string;
  /** Claim at most this many jobs. */
  limit: number;
  leaseMs: number;
  now?: Date;
}

/**
 * A claimed job: state is now `running`, `attempt` was incremented, a fresh random
 * `leaseToken` (>= 128 bits) was issued, and `leaseExpiresAt = now + leaseMs`.
 * Claims take `queued` jobs of a non-paused queue in (priority, runAt, insertion) order.
 */
export interface ClaimedJob extends LeaseRef {
  queue: string;
  name: string;
  payload: unknown;
  priority: number;
  maxRetries: number;
  leaseExpiresAt: Date;
  timeoutMs: number | null;
  backoff: BackoffSpec | null;
  round: number;
  progress: unknown;
  createdAt: Date;
  runAt: Date;
}

export interface ExtendLeasesParams {
  leases: LeaseRef[];
  leaseMs: number;
  now?: Date;
}

/** `cancelRequested`: someone asked to cancel this running job; the worker should abort it. */
export interface ExtendOutcome {
  outcome: LeaseOutcome;
  cancelRequested: boolean;
}

export interface ProgressParams {
  /** `progress` is JSON text. */
  items: Array<LeaseRef & { progress: string }>;
  now?: Date;
}

/**
 * What to do with a running attempt:
 * - `complete`: → completed, `result` (JSON text or null) stored.
 * - `retry`: error appended; → `retrying` with `runAt = now + delayMs` (→ `queued` if delayMs <= 0).
 * - `dead`: error appended; → dead (the DLQ) with `failureReason = reason`.
 * - `snooze`: → `scheduled` at `now + delayMs`; the attempt is given back (`attempt - 1`).
 * - `cancel`: → cancelled (the handler stopped after a cancel request); error appended if given.
 * - `release`: → `queued` at once; the attempt is given back (graceful shutdown).
 */
export type FinalizeAction =
  | { kind: 'complete'; result: string | null }
  | { kind: 'retry'; error: AttemptError; delayMs: number }
  | { kind: 'dead'; error: AttemptError; reason: string }
  | { kind: 'snooze'; delayMs: number }
  | { kind: 'cancel'; error: AttemptError | null }
  | { kind: 'release' };

export type FinalizeItem = LeaseRef & FinalizeAction;

export interface FinalizeParams {
  items: FinalizeItem[];
  retention: RetentionDefaults;
  now?: Date;
}

/**
 * - `cancelled`: it was scheduled/queued/retrying/waiting and is now cancelled.
 * - `cancel_requested`: it is running; its worker is asked to stop (flag + event). The job
 *   becomes `cancelled` when the worker acknowledges, or when the rescuer finds its lease expired.
 * - `already_final`: it was completed/dead/cancelled; nothing changed.
 */
export type CancelOutcome = 'cancelled' | 'cancel_requested' | 'not_found' | 'already_final';

export interface CancelJobsParams {
  ids: string[];
  retention: RetentionDefaults;
  now?: Date;
}
