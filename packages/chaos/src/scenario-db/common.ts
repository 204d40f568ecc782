/**
 * What the database-fault scenarios (C3, C4, C5, C16) share: the duplicate bound of a fault
 * that hits every worker at once, the pass rule that every duplicate execution was caught by a
 * fault window, and the pieces of their drives (warm-up, measured bursts, steady producers).
 *
 * Owns: `dbSpec`, which completes a scenario's spec with those rules, and the drive helpers.
 *
 * Invariants:
 * - The duplicate bound given to the checker (I8) is the number of leases the run's fault
 *   windows caught (measure-db.ts `leasesCaught`): the runner's own bound counts only faults
 *   aimed at one process, and a database fault names none. It is computed from the run's merged
 *   history and final state, read back from the run's directory when the runner asks for the
 *   bound (after it wrote them, before it runs the checker); the checker's count is not changed.
 * - Pass rule (as C1's): every duplicated lease is one a fault window caught.
 * - Jobs of a drive are taken from the run's plan in order, each exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FinalState } from '../final-state.js';
import { Model } from '../model.js';
import { readHistoryFiles } from '../recorder.js';
import { burstRate } from '../scenario/measure.js';
import type { ReportViolation } from '../scenario/report.js';
import type { Burst, RunContext, RunResult, ScenarioSpec } from '../scenario/runner.js';
import type { JobPayload } from '../scenario/settings.js';
import { sleep, withTimeout } from '../scenario/workers.js';
import type { DbEnvironment } from './environment.js';
import { duplicatesAgainstWindows, faultWindows, unknownCalls } from './measure-db.js';

export type Tier = 'quick' | 'full';

/** One run of a DB scenario: its environment, and the runner's context once the drive started. */
export interface DbRun {
  env: DbEnvironment;
  ctx: RunContext | null;
  bound?: number;
}

type DbSpecInput = Omit<ScenarioSpec, 'maxDuplicates' | 'drive' | 'nemesis'> & { drive(ctx: RunContext): Promise<void> };

/** The bound on duplicate executions: leases caught by the run's fault windows (see the invariants). */
function boundOf(run: DbRun): number | undefined {
  if (run.bound !== undefined || !run.ctx) return run.bound;
  const dir = run.ctx.dir;
  try {
    const ops = readHistoryFiles(readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f)));
    const final = JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8')) as FinalState;
    run.bound = duplicatesAgainstWindows(new Model(ops, final), faultWindows(ops)).bound;
  } catch (err) {
    run.ctx.log(`duplicate bound: could not read the run's history (${String(err)}); the runner's default applies`);
  }
  return run.bound;
}

/** Completes a DB scenario's spec: the fault-window duplicate bound, the relay to its nemesis, common figures and rules. */
export function dbSpec(run: DbRun, input: DbSpecInput): ScenarioSpec {
  const { drive, passRules, ...rest } = input;
  return {
    ...rest,
    get maxDuplicates() {
      return boundOf(run);
    },
    async drive(ctx) {
      run.ctx = ctx;
      run.env.relay.target = ctx.nemesis;
      try {
        await drive(ctx);
      } finally {
        if (ctx.faultsEndAt === null) ctx.faultsEndAt = Date.now();
      }
    },
    async passRules(ctx, result) {
      const out: ReportViolation[] = [];
      const dups = duplicatesAgainstWindows(result.model, faultWindows(result.ops));
      for (const l of dups.unexplained) {
        out.push({ rule: input.id, jobId: l.jobId, message: `job ${l.jobId} attempt ${l.attempt} (${l.op.proc}) ran again although no fault window caught its lease`, ops: [`${l.op.proc}#${l.op.index} claim`] });
      }
      ctx.details.duplicates = { executions: dups.duplicates, caughtByFaults: dups.bound, unexplained: dups.unexplained.length };
      ctx.details.unknownCalls = unknownCalls(result.ops);
      ctx.details.bursts = burstFigures(ctx, result);
      out.push(...(await (passRules?.(ctx, result) ?? [])));
      return out;
    },
  };
}

/** Takes the plan's payloads in order: `take(n)` the next n, `rest()` what is left. */
export function planTaker(payloads: readonly JobPayload[]): { take(n: number): JobPayload[]; rest(): JobPayload[] } {
  let i = 0;
  return {
    take(n) {
      const out = payloads.slice(i, i + n);
      i += out.length;
      return out;
    },
    rest() {
      const out = payloads.slice(i);
      i = payloads.length;
      return out;
    },
  };
}

export async function untilIdle(ctx: RunContext, timeoutMs = 90_000): Promise<void> {
  await withTimeout((async () => { while ((await ctx.pending()) > 0) await sleep(100); })(), timeoutMs, 'the queue to drain');
}

/** Bursts a drive measured, by label, for `burstFigures`. */
const BURSTS = new WeakMap<RunContext, Array<{ label: string; burst: Burst }>>();

/** Enqueues `list` at once as a measured burst (its rate is computed after the run); optionally waits until the queue is idle. */
export async function burst(ctx: RunContext, label: string, list: JobPayload[], waitIdle: boolean): Promise<Burst> {
  const b: Burst = { startAt: Date.now(), values: list.map((p) => p.v) };
  const all = BURSTS.get(ctx) ?? [];
  all.push({ label, burst: b });
  BURSTS.set(ctx, all);
  await ctx.enqueue(list, 0);
  if (waitIdle) await untilIdle(ctx);
  return b;
}

/** Each measured burst's rate (jobs/s until 90 % completed, measure.ts `burstRate`) and start. */
export function burstFigures(ctx: RunContext, result: RunResult): Array<{ label: string; startAt: number; jobs: number; rate: number | null }> {
  return (BURSTS.get(ctx) ?? []).map(({ label, burst: b }) => {
    const ids = new Set(b.values.map((v) => ctx.jobIds.get(v)).filter((id): id is string => id !== undefined));
    return { label, startAt: b.startAt, jobs: ids.size, rate: burstRate(result.ops, ids, b.startAt) };
  });
}

/** Handlers running in the worker processes, as they last reported. */
export function runningHandlers(ctx: RunContext): number {
  return ctx.pool.slots.reduce((n, w) => n + w.active, 0);
}

/** The run's schema (the runner's unrecorded backend is a PostgresBackend). */
export function schemaOf(ctx: RunContext): string {
  const schema = (ctx.raw as unknown as { schema?: unknown }).schema;
  if (typeof schema !== 'string') throw new Error('DB scenarios run on PostgreSQL only');
  return schema;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
