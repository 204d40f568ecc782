/**
 * The job handler of the chaos worker processes: does what the job's payload says (settings.ts
 * JobKind) and records every run in the process's history (handler_start / handler_end).
 *
 * Owns: the behaviour of each job kind, and the lease-token index that lets a handler record
 * which lease it runs under (the handler API does not expose the token; claims do).
 *
 * Invariants:
 * - handler_start is written before any work, handler_end after it (not for `exit`, whose
 *   process is gone: the missing end is the record of the crash).
 * - `hang` and `busy-once` block the event loop synchronously: heartbeats cannot be sent, so the
 *   lease really expires, as with a wedged process; `work` sleeps and stops when aborted.
 * - Results are small JSON (`{ by: proc }`): the checker compares a completed job's result with
 *   the result its accepted complete sent.
 */
import { PermanentError, type ActiveJob, type Backend, type ClaimedJob } from '@spindle/core';
import type { Recorder } from '../recorder.js';
import type { JobPayload } from './settings.js';

/** Exit code of a worker that a poison job made call process.exit. */
export const POISON_EXIT_CODE = 70;

/** Long enough that the stored error must be truncated (message ≤ 2000 chars, stack ≤ 4 KiB). */
const LONG_TAIL = 'x'.repeat(6000);

const tokenKey = (id: string, round: number, attempt: number): string => `${id}:${round}:${attempt}`;

/** Wraps a backend so each claimed job's lease token is remembered until its handler ends. */
export function indexLeaseTokens(backend: Backend, tokens: Map<string, string>): Backend {
  const claimJobs: Backend['claimJobs'] = async (params) => {
    const jobs: ClaimedJob[] = await backend.claimJobs(params);
    for (const j of jobs) tokens.set(tokenKey(j.id, j.round, j.attempt), j.leaseToken);
    return jobs;
  };
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'claimJobs') return claimJobs;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a wedged handler: nothing else in this process runs
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function behave(p: JobPayload, job: ActiveJob<JobPayload>): Promise<void> {
  switch (p.k) {
    case 'noop':
      return;
    case 'work':
      return sleep(p.ms, job.signal);
    case 'throw':
      throw new Error(`poison: this job always throws (${p.v}) ${LONG_TAIL}`);
    case 'exit':
      process.exit(POISON_EXIT_CODE);
      break;
    case 'hang':
      blockFor(p.ms);
      return;
    case 'busy-once':
      if (job.round === 0 && job.attempt === 1) blockFor(p.ms);
      return;
    case 'dead-then-ok':
      if (job.round === 0) throw new PermanentError(`dead on purpose in round 0 (${p.v})`);
      return;
  }
}

export interface HandlerDeps {
  proc: string;
  recorder: Recorder;
  tokens: Map<string, string>;
  /** Called with the number of handlers running, after each start and end. */
  onActive(n: number): void;
}

export function makeHandler(deps: HandlerDeps): (job: ActiveJob<JobPayload>) => Promise<{ by: string }> {
  let active = 0;
  return async (job) => {
    const key = tokenKey(job.id, job.round, job.attempt);
    const end = deps.recorder.handlerStarted({ jobId: job.id, attempt: job.attempt, round: job.round, token: deps.tokens.get(key) ?? null });
    deps.onActive(++active);
    try {
      await behave(job.payload, job);
      end({ ok: true });
      return { by: deps.proc };
    } catch (err) {
      end({ ok: false, error: (err instanceof Error ? err.message : String(err)).slice(0, 200) });
      throw err;
    } finally {
      deps.tokens.delete(key);
      deps.onActive(--active);
    }
  };
}
