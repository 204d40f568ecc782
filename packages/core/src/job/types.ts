/**
 * The job's vocabulary, shared by the core and every backend: states, the stored job record,
 * attempt errors, backoff specs and priorities. Pure data: no behaviour lives here.
 *
 * Invariants (DESIGN §2):
 * - `completed`, `dead` and `cancelled` are terminal; a job enters a terminal state exactly once
 *   per round. Only a DLQ replay moves a `dead` job on, and it starts a new round (`round + 1`).
 * - `attempt` counts attempts started in the current round; it never exceeds `maxRetries + 1`.
 */

export const JOB_STATES = [
  'scheduled',
  'queued',
  'running',
  'retrying',
  'waiting',
  'completed',
  'dead',
  'cancelled',
] as const;

/**
 * - `scheduled`: waits for `runAt` (delayed, or snoozed).
 * - `queued`: due; any worker of its queue may claim it.
 * - `running`: claimed; one attempt holds a lease on it.
 * - `retrying`: an attempt failed; waits for its backoff (`runAt`) to elapse.
 * - `waiting`: a flow parent waiting for its children (used by flows).
 * - `completed` / `dead` / `cancelled`: terminal. `dead` jobs form the queue's DLQ.
 */
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['completed', 'dead', 'cancelled'];

/** States a job can be cancelled from without interrupting a handler. */
export const CANCELLABLE_STATES: readonly JobState[] = ['scheduled', 'queued', 'retrying', 'waiting'];

export function isTerminal(state: JobState): boolean {
  return state === 'completed' || state === 'dead' || state === 'cancelled';
}

/** Named priority levels. Lower numbers run first; integers 0..1000 are accepted too. */
export const PRIORITY_LEVELS = { critical: 0, high: 250, normal: 500, low: 750 } as const;
export type PriorityName = keyof typeof PRIORITY_LEVELS;
export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 1000;
export const DEFAULT_PRIORITY = PRIORITY_LEVELS.normal;

/**
 * How randomness is added to a computed retry delay `d`:
 * `none` → d; `full` → uniform [0, d]; `equal` → d/2 + uniform [0, d/2];
 * a number r in (0, 1] → d × uniform [1 − r, 1 + r].
 */
export type Jitter = 'none' | 'full' | 'equal' | number;

/**
 * How long to wait before the next attempt. Stored with the job so that every worker (in any
 * process, or speaking HTTP) computes the same delay. `custom` defers to the backoff function
 * of the queue definition that the worker was built from.
 */
export type BackoffSpec =
  | { type: 'fixed'; delayMs: number; jitter?: Jitter }
  | { type: 'exponential'; delayMs: number; factor?: number; maxDelayMs?: number; jitter?: Jitter }
  | { type: 'custom' };

/** Why an attempt ended badly. `kind` drives the DLQ's grouping and the job's next state. */
export type AttemptErrorKind = 'error' | 'permanent' | 'retry_after' | 'timeout' | 'lease_expired' | 'cancelled';

/** One failed attempt, as kept in the job's history (and in the DLQ record). */
export interface AttemptError {
  /** Attempt number within the round (1-based). */
  attempt: number;
  /** 0 for the original run, +1 for each DLQ replay. */
  round: number;
  kind: AttemptErrorKind;
  /** Error class name, e.g. `TypeError`. */
  name: string;
  message: string;
  /** Capped at 4 KiB. */
  stack?: string;
  workerId?: string | null;
  /** Epoch milliseconds: the worker's clock for handler failures, the database's for lease expiry. */
  at: number;
}

/** An operator's note on a dead job ("fixed upstream, no replay needed"). */
export interface Resolution {
  note: string;
  at: Date;
}

/** A job as stored. What `getJob` / `listJobs` return. The lease token is never exposed here. */
export interface JobRecord {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  state: JobState;
  priority: number;
  /** Attempts started in the current round. */
  attempt: number;
  maxRetries: number;
  /** Last reported progress: a number 0..100 and/or any JSON value; null before any report. */
  progress: unknown;
  result: unknown;
  errors: AttemptError[];
  /** The unique key as given (`uniqueKey`, or `unique.key`), whether or not it is held now. */
  uniqueKey: string | null;
  /** The unique key and how long it is held (null: the job has none). ADR 0016. */
  unique: JobUnique | null;
  /** Tenant group; null: none. */
  group: string | null;
  timeoutMs: number | null;
  backoff: BackoffSpec | null;
  round: number;
  createdAt: Date;
  runAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  leaseExpiresAt: Date | null;
  workerId: string | null;
  cancelRequested: boolean;
  /** DLQ record: a short reason (first line of the last error), and when failures happened. */
  failureReason: string | null;
  firstFailedAt: Date | null;
  lastFailedAt: Date | null;
  resolution: Resolution | null;
  /** When the pruner may delete this finished job (null: kept). */
  expiresAt: Date | null;
  /** Flows: the job this one is a child of (null: not part of a flow, or the flow's root). */
  parentId: string | null;
  /** Flows, jobs with children: how many children have not finished yet (null: no children). */
  pendingChildren: number | null;
  /** Flows, jobs with children: what a dead or cancelled child does to this job (null: no children). */
  onChildFailure: ChildFailurePolicy | null;
}

/**
 * How long a unique key is held (`opts.unique.while`, docs/decisions/0016-unique-jobs.md):
 * - `queued`: until the job first starts — while it is `scheduled`, `queued` or `waiting`; a
 *   claim releases it, and the job never takes it again (retries and replays run without it).
 * - `active`: until the job finishes (`completed`, `dead` or `cancelled`) — `uniqueKey`'s meaning.
 * - `{ forMs }`: for `forMs` ms from the insert, whatever the job's state, as long as the job
 *   exists (deleting it, or its removal by retention, ends the hold).
 */
export type UniqueWhile = 'queued' | 'active' | { forMs: number };

/** A job's unique key and how long it is held. */
export interface JobUnique {
  key: string;
  while: UniqueWhile;
}

/**
 * What a child that ends `dead` or `cancelled` (or is deleted before it finished) does to its
 * waiting parent: `fail` ends the parent `dead` at once; `continue` lets the parent run once all
 * children finished, whatever their outcome (docs/decisions/0012-flows.md).
 */
export type ChildFailurePolicy = 'fail' | 'continue';
