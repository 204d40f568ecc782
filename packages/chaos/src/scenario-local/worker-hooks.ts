/**
 * Opt-in hooks of the chaos worker child (scenario/worker-child.ts) for the scenarios of this
 * folder. Each hook is switched on by one environment variable and does nothing without it, so
 * a worker started by the runner's own pool behaves exactly as before.
 *
 * - `CHAOS_REAL_CLOCK_ANCHOR` (C6): the parent's `Date.now() − monotonic ms`. The child's history
 *   is then timed as anchor + CLOCK_MONOTONIC: the host's real time, even when libfaketime fakes
 *   the child's wall clock (it leaves the monotonic clock alone), so its ops still order with
 *   every other process's. The engine inside the child keeps reading the faked wall clock.
 * - `CHAOS_PAGE_LIMIT_FILE` (C8): SQLite `max_page_count` of this process's connection follows
 *   the file — a page count caps the database (a full disk), `0` or an empty file puts back the
 *   limit the connection had at start. Each change applied is acknowledged by writing the value
 *   to `<file>.<proc>`, so the scenario knows when every writer is full (or healed).
 * - `CHAOS_DB_ERRORS=1` (C7, C8): every rejected backend call appends one JSON line (not .jsonl: the runner merges every .jsonl of the run dir as history)
 *   `{ t, op, name, code, causeCode, message }` to `<dir>/<proc>.dberrors.ndjson` — what a typed
 *   error carried, including the driver's extended code (e.g. SQLITE_BUSY_SNAPSHOT), which the
 *   history's message-only record cannot show.
 * - `CHAOS_SHUTDOWN_GRACE_MS` (C14): the grace period of the graceful stop on SIGTERM.
 * - `CHAOS_EXPLICIT_NOW=1` (C6 on SQLite only): `clientSide` passes `now: new Date()` — this
 *   process's wall clock, the very clock SqliteBackend would read — to every write that takes a
 *   `now`, above the Recorder, so the history records each write's database time even when that
 *   clock is faked (claims excepted: their time is in their answer). Never on PostgreSQL, whose
 *   clock is the server's.
 *
 * Invariants: a hook never changes what a backend call does or answers (the error log re-throws
 * the same error; the page cap is the seam SqliteBackend offers for this fault); timers are
 * unref'd, so they never keep the child alive.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '@spindle/core';

export interface LocalWorkerHooks {
  /** The backend the child should use (wrapped when the error log is on). */
  backend: Backend;
  /** Extra Recorder options (a real-time clock under libfaketime). */
  recorder: { clock?: () => number };
  /** Grace of the SIGTERM stop, when set. */
  graceMs: number | undefined;
  /** Wraps the backend the Client gets (above the Recorder): explicit `now` when switched on. */
  clientSide(backend: Backend): Backend;
}

/** Host real time in a process whose wall clock may be faked: anchor + CLOCK_MONOTONIC (ms). */
export function anchoredClock(anchor: number): () => number {
  return () => anchor + Number(process.hrtime.bigint()) / 1e6;
}

/** What a parent passes as CHAOS_REAL_CLOCK_ANCHOR (its wall clock must be the real one). */
export function realClockAnchor(): number {
  return Date.now() - Number(process.hrtime.bigint()) / 1e6;
}

interface PageLimitSeam {
  maxPageCount(pages?: number): number;
}

export function localWorkerHooks(args: { proc: string; dir: string; backend: Backend; env?: NodeJS.ProcessEnv }): LocalWorkerHooks {
  const env = args.env ?? process.env;
  let backend = args.backend;
  const hooks: LocalWorkerHooks = { backend, recorder: {}, graceMs: undefined, clientSide: (b) => b };
  if (env.CHAOS_EXPLICIT_NOW === '1') hooks.clientSide = withExplicitNow;

  const anchor = Number(env.CHAOS_REAL_CLOCK_ANCHOR);
  if (env.CHAOS_REAL_CLOCK_ANCHOR && Number.isFinite(anchor)) hooks.recorder.clock = anchoredClock(anchor);

  const grace = Number(env.CHAOS_SHUTDOWN_GRACE_MS);
  if (env.CHAOS_SHUTDOWN_GRACE_MS && Number.isInteger(grace) && grace >= 0) hooks.graceMs = grace;

  const limitFile = env.CHAOS_PAGE_LIMIT_FILE;
  if (limitFile && typeof (backend as unknown as Partial<PageLimitSeam>).maxPageCount === 'function') {
    const seam = backend as unknown as PageLimitSeam;
    const initial = seam.maxPageCount();
    let applied = '';
    const poll = (): void => {
      let want: string;
      try {
        want = readFileSync(limitFile, 'utf8').trim();
      } catch {
        return; // not written yet
      }
      if (want === applied) return;
      const pages = Number(want);
      try {
        seam.maxPageCount(Number.isInteger(pages) && pages > 0 ? pages : initial);
      } catch {
        return; // closed, or the connection was busy: try again at the next poll
      }
      applied = want;
      writeFileSync(`${limitFile}.${args.proc}`, want);
    };
    poll();
    setInterval(poll, 20).unref();
  }

  if (env.CHAOS_DB_ERRORS === '1') {
    const file = join(args.dir, `${args.proc}.dberrors.ndjson`);
    const inner = backend;
    backend = new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const fn = (v as (...a: unknown[]) => unknown).bind(target);
        if (typeof prop !== 'string' || prop === 'subscribe' || prop === 'close') return fn;
        return (...a: unknown[]) => {
          const out = fn(...a);
          if (out instanceof Promise) {
            return out.catch((err: unknown) => {
              appendFileSync(file, `${JSON.stringify({ t: hooks.recorder.clock?.() ?? Date.now(), op: prop, ...describeError(err) })}\n`);
              throw err;
            });
          }
          return out;
        };
      },
    });
    hooks.backend = backend;
  }
  return hooks;
}

/**
 * Backend calls that take a `now` and write. Not claimJobs: SQLite reads a claim's time inside
 * its transaction, after waiting for the write lock (a job inserted meanwhile must not look
 * claimed before its run_at), and a claim's database time is in its answer anyway.
 */
const TIMED_WRITES = new Set(['insertJobs', 'extendLeases', 'updateProgress', 'finalizeJobs', 'cancelJobs', 'rescueExpiredLeases', 'promoteDueJobs']);

/** `now: new Date()` added to every timed write that has none (see CHAOS_EXPLICIT_NOW). */
export function withExplicitNow(backend: Backend): Backend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      if (typeof prop !== 'string' || !TIMED_WRITES.has(prop)) return fn;
      return (params: Record<string, unknown>, ...rest: unknown[]) => fn(params && params.now === undefined ? { ...params, now: new Date() } : params, ...rest);
    },
  });
}

/** The parts of a thrown error the scenarios judge: class name, Spindle code, driver code. */
export function describeError(err: unknown): { name: string; code: string | null; causeCode: string | null; message: string } {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: { code?: unknown } } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : typeof err,
    code: typeof e?.code === 'string' ? e.code : null,
    causeCode: typeof e?.cause?.code === 'string' ? e.cause.code : null,
    message: (typeof e?.message === 'string' ? e.message : String(err)).slice(0, 300),
  };
}
