/**
 * Limits a queue keeps across every process and machine sharing the database (DESIGN §5), and
 * the backend methods that set and enforce them.
 *
 * Semantics every backend keeps:
 * - `concurrency`: a claim never leaves more than this many jobs of the queue `running`. Claims
 *   of a limited queue are serialised (per queue) and count the running jobs after taking that
 *   turn, so two processes cannot both see the last free slot.
 * - `rate`: a sliding window — in any span of `intervalMs`, at most `max` jobs of the queue are
 *   claimed (a claim is when a job starts, unless a worker buffers claimed jobs with `prefetch`).
 *   Every claim of a rate-limited queue records its time and count; older records are dropped.
 * - `heldUntil`: claims skip the queue until then (a handler said the service it calls is rate
 *   limiting: RateLimitedError). Like `paused`, but it ends by itself.
 * - A limited or held queue gets no direct dispatch (jobs inserted already running would bypass
 *   the count): its jobs are queued and claimed.
 * - Group limits (a queue whose jobs carry `group`, ADR 0015) apply per group the same way:
 *   `groupConcurrency` running jobs per group, `groupRate` claims per group per sliding window;
 *   `fifo` lets one job per group be in flight (running or retrying), taken in (priority, seq)
 *   order, so a group's jobs run one after the other in submission order.
 * - A claim cut short by a limit says so on its answer (`ClaimAnswer.limited`), with the time
 *   until a slot or a rate window frees when it is known, so workers wait for the right event.
 */

export interface QueueLimits {
  /** Most jobs of the queue running at once, across processes; null: no limit. */
  concurrency: number | null;
  /** Most jobs started per sliding `intervalMs`, across processes; null: no limit. */
  rate: { max: number; intervalMs: number } | null;
  /** Most jobs of one group running at once; null: no limit. */
  groupConcurrency: number | null;
  /** Most jobs of one group started per sliding `intervalMs` (a rate limit per key); null: none. */
  groupRate: { max: number; intervalMs: number } | null;
  /** At most one job per group in flight (running or retrying), in (priority, seq) order. */
  fifo: boolean;
}

/** No limits at all. */
export const NO_QUEUE_LIMITS: QueueLimits = Object.freeze({ concurrency: null, rate: null, groupConcurrency: null, groupRate: null, fifo: false });

/** Whether any group limit is set. */
export const hasGroupLimits = (l: QueueLimits): boolean => l.groupConcurrency !== null || l.groupRate !== null || l.fifo;

export interface SetQueueLimitsParams {
  queue: string;
  limits: QueueLimits;
}

export interface HoldQueueParams {
  queue: string;
  /** Claims skip the queue for this long from now (0 ends a hold). */
  delayMs: number;
  now?: Date;
}

/** Why a claim came back with fewer jobs than asked although the queue may have more. */
export interface ClaimLimited {
  reason: 'concurrency' | 'rate' | 'held';
  /** When known: how long until the limit may let more jobs through (rate window, hold). */
  retryAfterMs?: number;
}

/** A claim's jobs; `limited` is set when a queue limit (not an empty queue) cut it short. */
export type ClaimAnswer<J> = J[] & { limited?: ClaimLimited };

/** Most jobs a concurrency limit or a rate may allow. */
export const MAX_QUEUE_LIMIT = 1_000_000;
/** Rate windows: 10 ms to one day. */
export const MIN_RATE_INTERVAL_MS = 10;
export const MAX_RATE_INTERVAL_MS = 24 * 3600 * 1000;
/** Longest hold a handler may ask for (one day). */
export const MAX_HOLD_MS = 24 * 3600 * 1000;

/** Marks a claim's answer as cut short by a limit (the array is returned). */
export function limitedAnswer<J>(jobs: J[], limited: ClaimLimited): ClaimAnswer<J> {
  return Object.assign(jobs, { limited });
}
