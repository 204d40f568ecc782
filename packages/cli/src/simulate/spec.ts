/**
 * The capacity simulator's input: queues (jobs present at the start, arrival rates, service-time
 * distributions) and worker pools (how many, concurrency, which queues and strategy — the same
 * spellings as `client.worker()`), and its validation. Bad input is a core ValidationError naming
 * the part (the CLI turns it into exit code 2).
 *
 * A queue's jobs may come in priority classes (`priority`: 0..1000 or critical/high/normal/low,
 * lower first, as on `add`): each class its own initial jobs and arrival rate; inside a queue
 * jobs start by priority, then arrival.
 *
 * Durations are written as in the CLI: `250ms`, `1.5s`, `2m`, `1h`. Service times:
 *   `fixed:60s`, `exp:200ms` (exponential, that mean), `uniform:1s-3s`, `lognormal:500ms,0.6`
 *   (median, sigma of the underlying normal).
 */
import { checkIdentifier, Issues, parseServedQueues, PRIORITY_LEVELS, ValidationError, type ServedQueues, type WorkerQueues } from '@spindle/core';

export type PrioritySpec = number | 'critical' | 'high' | 'normal' | 'low';

/** Jobs arriving per second (Poisson by default) for `forSeconds`, from `startSeconds`. */
export interface ArrivalSpec {
  perSecond: number;
  forSeconds: number;
  startSeconds?: number;
  pattern?: 'poisson' | 'even';
  priority?: PrioritySpec;
}

export interface QueueSpec {
  name: string;
  /** Jobs waiting at time 0 (normal priority), or per priority class. */
  initial?: number | Array<{ count: number; priority?: PrioritySpec }>;
  arrivals?: ArrivalSpec | ArrivalSpec[];
  service: string;
}

export interface PoolSpec {
  /** Worker processes in this pool (default 1). */
  count?: number;
  /** Jobs each runs at once (default 1). */
  concurrency?: number;
  /** What each serves, as `client.worker()` takes it: 'q', ['a', 'b'], { weighted: {…} }. */
  queues: WorkerQueues;
}

export interface SimulationSpec {
  queues: QueueSpec[];
  workers: PoolSpec[];
  /** PRNG seed (default 1): the same spec and seed give the same result. */
  seed?: number;
  /** Stop at this virtual time even if work is left (default: when all is done, at most 30 days). */
  untilSeconds?: number;
}

export type ServiceTime =
  | { kind: 'fixed'; ms: number }
  | { kind: 'exp'; meanMs: number }
  | { kind: 'uniform'; minMs: number; maxMs: number }
  | { kind: 'lognormal'; medianMs: number; sigma: number };

export interface CheckedQueue {
  name: string;
  initial: Array<{ count: number; priority: number }>;
  arrivals: Array<{ perSecond: number; forMs: number; startMs: number; pattern: 'poisson' | 'even'; priority: number }>;
  service: ServiceTime;
}

export interface CheckedSpec {
  queues: CheckedQueue[];
  pools: Array<{ count: number; concurrency: number; served: ServedQueues }>;
  seed: number;
  untilMs: number;
}

const MAX_JOBS = 2_000_000;
const MAX_WORKERS = 10_000;
const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `1.5s`, `2m`, `1h` → milliseconds, or null. */
export function parseDurationMs(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return Number.isFinite(ms) && ms > 0 && ms <= THIRTY_DAYS_MS ? ms : null;
}

export function parseServiceTime(text: unknown): ServiceTime | null {
  if (typeof text !== 'string') return null;
  const [kind, rest = ''] = text.split(':', 2) as [string, string?];
  if (kind === 'fixed' || kind === 'exp') {
    const ms = parseDurationMs(rest);
    if (ms === null) return null;
    return kind === 'fixed' ? { kind, ms } : { kind, meanMs: ms };
  }
  if (kind === 'uniform') {
    const [a, b] = rest.split('-');
    const minMs = parseDurationMs(a ?? '');
    const maxMs = parseDurationMs(b ?? '');
    return minMs !== null && maxMs !== null && minMs <= maxMs ? { kind, minMs, maxMs } : null;
  }
  if (kind === 'lognormal') {
    const [a, b] = rest.split(',');
    const medianMs = parseDurationMs(a ?? '');
    const sigma = Number(b);
    return medianMs !== null && b !== undefined && Number.isFinite(sigma) && sigma > 0 && sigma <= 5 ? { kind, medianMs, sigma } : null;
  }
  return null;
}

function isCount(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** A priority as `add` takes it, or null if it is not one. */
function priorityOf(value: unknown): number | null {
  if (value === undefined) return PRIORITY_LEVELS.normal;
  if (typeof value === 'string' && Object.hasOwn(PRIORITY_LEVELS, value)) return PRIORITY_LEVELS[value as keyof typeof PRIORITY_LEVELS];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 1000 ? value : null;
}

const PRIORITY_HINT = 'must be 0..1000 or critical, high, normal, low';

function isRate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 1_000_000;
}

export function checkSpec(spec: unknown): CheckedSpec {
  const issues = new Issues();
  const o = (spec ?? {}) as Partial<SimulationSpec>;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) issues.add('spec', 'must be an object with `queues` and `workers`');
  const queues: CheckedQueue[] = [];
  if (!Array.isArray(o.queues) || o.queues.length === 0 || o.queues.length > 100) issues.add('queues', 'must be an array of 1 to 100 queues');
  let expectedJobs = 0;
  const names = new Set<unknown>();
  (Array.isArray(o.queues) ? o.queues : []).forEach((q: Partial<QueueSpec>, i) => {
    const path = `queues[${i}]`;
    if (checkIdentifier(issues, `${path}.name`, q?.name) && names.has(q.name)) issues.add(`${path}.name`, `"${q.name}" appears twice`);
    names.add(q?.name);
    const initial: CheckedQueue['initial'] = [];
    const classes = typeof q?.initial === 'number' || q?.initial === undefined ? [{ count: q?.initial ?? 0 }] : q.initial;
    if (!Array.isArray(classes)) issues.add(`${path}.initial`, 'must be a number of jobs or an array of { count, priority }');
    else {
      classes.forEach((c, k) => {
        const where = typeof q?.initial === 'number' || q?.initial === undefined ? `${path}.initial` : `${path}.initial[${k}]`;
        const priority = priorityOf((c as { priority?: unknown }).priority);
        if (!isCount(c?.count, MAX_JOBS)) issues.add(where, `must be an integer from 0 to ${MAX_JOBS}`);
        else if (priority === null) issues.add(`${where}.priority`, PRIORITY_HINT);
        else {
          initial.push({ count: c.count, priority });
          expectedJobs += c.count;
        }
      });
    }
    const service = parseServiceTime(q?.service);
    if (service === null) issues.add(`${path}.service`, 'must be fixed:<duration>, exp:<mean>, uniform:<min>-<max> or lognormal:<median>,<sigma> (durations like 250ms, 1.5s, 2m)');
    const arrivals: CheckedQueue['arrivals'] = [];
    const streams = q?.arrivals === undefined ? [] : Array.isArray(q.arrivals) ? q.arrivals : [q.arrivals];
    streams.forEach((a, k) => {
      const where = Array.isArray(q?.arrivals) ? `${path}.arrivals[${k}]` : `${path}.arrivals`;
      const pattern = a?.pattern ?? 'poisson';
      const priority = priorityOf(a?.priority);
      if (!isRate(a?.perSecond)) issues.add(`${where}.perSecond`, 'must be a rate > 0 (jobs per second)');
      else if (typeof a.forSeconds !== 'number' || !(a.forSeconds > 0) || a.forSeconds > THIRTY_DAYS_MS / 1000) issues.add(`${where}.forSeconds`, 'must be a number of seconds > 0 (at most 30 days)');
      else if (a.startSeconds !== undefined && (typeof a.startSeconds !== 'number' || !(a.startSeconds >= 0))) issues.add(`${where}.startSeconds`, 'must be a number of seconds ≥ 0');
      else if (pattern !== 'poisson' && pattern !== 'even') issues.add(`${where}.pattern`, 'must be poisson or even');
      else if (priority === null) issues.add(`${where}.priority`, PRIORITY_HINT);
      else {
        arrivals.push({ perSecond: a.perSecond, forMs: a.forSeconds * 1000, startMs: (a.startSeconds ?? 0) * 1000, pattern, priority });
        expectedJobs += a.perSecond * a.forSeconds;
      }
    });
    if (service !== null && typeof q?.name === 'string') queues.push({ name: q.name, initial, arrivals, service });
  });
  if (expectedJobs > MAX_JOBS) issues.add('queues', `would simulate about ${Math.round(expectedJobs)} jobs; at most ${MAX_JOBS}`);
  const pools: CheckedSpec['pools'] = [];
  if (!Array.isArray(o.workers) || o.workers.length === 0 || o.workers.length > 100) issues.add('workers', 'must be an array of 1 to 100 worker pools');
  let workerCount = 0;
  (Array.isArray(o.workers) ? o.workers : []).forEach((w: Partial<PoolSpec>, i) => {
    const path = `workers[${i}]`;
    const count = w?.count ?? 1;
    const concurrency = w?.concurrency ?? 1;
    if (!isCount(count, MAX_WORKERS) || count === 0) issues.add(`${path}.count`, `must be an integer from 1 to ${MAX_WORKERS}`);
    if (!isCount(concurrency, 1000) || concurrency === 0) issues.add(`${path}.concurrency`, 'must be an integer from 1 to 1000');
    try {
      const { strategy, queues: served } = parseServedQueues(w?.queues, () => null);
      for (const { name } of served) if (!names.has(name)) issues.add(`${path}.queues`, `names "${name}", which is not among the simulated queues`);
      if (typeof count === 'number') workerCount += count;
      pools.push({ count, concurrency, served: { strategy, queues: served } });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      for (const issue of err.issues) issues.add(`${path}.${issue.path}`, issue.message);
    }
  });
  if (workerCount > MAX_WORKERS) issues.add('workers', `at most ${MAX_WORKERS} workers in all`);
  const seed = o.seed ?? 1;
  if (!isCount(seed, 2 ** 32 - 1)) issues.add('seed', 'must be an integer from 0 to 4294967295');
  const untilMs = o.untilSeconds === undefined ? THIRTY_DAYS_MS : o.untilSeconds * 1000;
  if (!(untilMs > 0 && untilMs <= THIRTY_DAYS_MS)) issues.add('untilSeconds', 'must be a number of seconds > 0 (at most 30 days)');
  for (const key of Object.keys(o)) if (!['queues', 'workers', 'seed', 'untilSeconds'].includes(key)) issues.add(key, 'is not a known key (known: queues, workers, seed, untilSeconds)');
  issues.throwIfAny();
  return { queues, pools, seed, untilMs };
}
