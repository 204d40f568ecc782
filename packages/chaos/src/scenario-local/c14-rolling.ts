/**
 * C14 (reliability.md §5.3): SIGTERM rolling restart. Worker processes are stopped gracefully
 * one after another (slot 1, 2, 3, 4, 1, …), each given a grace period, and started again (the
 * pool restarts an exited worker after its restart delay) while a producer enqueues; some jobs
 * are longer than the grace period, so both ends of a graceful stop are exercised: in-flight jobs
 * that finish within the grace complete, the others are aborted and released with a fenced write.
 *
 * Owns: the restart schedule and its pass rules. Invariants (beyond the checker's I1–I13):
 * - No duplicate execution at all (bound 0): a graceful stop hands every lease it held on —
 *   completed, failed or released — so none is left to expire and run again.
 * - Once a stopped worker has exited, no job is `running` under its worker id (nothing was left
 *   for the rescuer), and no job ever carries a `lease_expired` error from a stopped worker.
 * - A stopped worker exits by itself (code 0) within grace + abort grace + slack; it is never
 *   killed. Every fenced write it made after SIGTERM either landed or was refused with lease_lost:
 *   a refused one is fine (the attempt was no longer its), an accepted one on a newer attempt
 *   would be I4's.
 * - Each restart is recorded as a fault op `SIGTERM` (invoked at the signal, healed when the
 *   replacement is ready), so the report shows the restarts and the checker's I12 the resumption.
 */
import { newJobId } from '@spindle/core';
import type { ReportViolation } from '../scenario/report.js';
import type { RunContext, ScenarioSpec } from '../scenario/runner.js';
import { sleep, type WorkerPool, type WorkerProcess } from '../scenario/workers.js';
import { produce, type ProducerItem, startLocalPool, type Tier, untilSettled, withPools } from './common.js';

interface C14Numbers {
  jobs: number;
  restarts: number;
  graceMs: number;
  /** Jobs longer than the grace period (their share, and how long). */
  longShare: number;
  longMs: number;
  enqueueOverMs: number;
}

const NUMBERS: Record<Tier, C14Numbers> = {
  quick: { jobs: 1200, restarts: 4, graceMs: 1500, longShare: 0.03, longMs: 2500, enqueueOverMs: 12_000 },
  full: { jobs: 6000, restarts: 10, graceMs: 10_000, longShare: 0.01, longMs: 12_000, enqueueOverMs: 90_000 },
};

interface StopRecord {
  proc: string;
  activeAtSignal: number;
  exitCode: number | null;
  signal: string | null;
  stopMs: number;
  leftRunning: number;
  readyAgainMs: number;
  /** Accepted writes of the stopping worker after the signal (and refused ones). */
  afterSignal?: { completed: number; released: number; failed: number; refused: number };
}

export function c14(tier: Tier): ScenarioSpec {
  const n = NUMBERS[tier];
  const stops: StopRecord[] = [];
  const stoppedProcs = new Set<string>();
  return {
    id: 'C14',
    title: 'SIGTERM rolling restart',
    jobs: n.jobs,
    mix: { slowShare: n.longShare, slowMs: n.longMs },
    // The runner's own pool stays empty: ours is given the grace period (worker-hooks.ts).
    settings: { workers: 0 },
    enqueueOverMs: n.enqueueOverMs,
    maxDuplicates: 0,
    drive: (ctx) => withPools(async (pools) => {
      stops.length = 0; // a spec object may be run again
      stoppedProcs.clear();
      const pool = await startLocalPool(ctx, { count: 4, firstSlot: 1, env: { CHAOS_SHUTDOWN_GRACE_MS: String(n.graceMs) } });
      pools.push(pool);
      const items: ProducerItem[] = ctx.payloads.map((payload) => ({ payload, id: newJobId() }));
      const producing = produce(ctx.client.queue(ctx.settings.queue), items, {
        overMs: n.enqueueOverMs,
        maxOpts: { maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff },
        onAcked: (batch) => batch.forEach((it) => ctx.jobIds.set(it.payload.v, it.id)),
      });
      const gapMs = Math.max(500, Math.floor((n.enqueueOverMs - 2000) / n.restarts) - n.graceMs);
      await sleep(1500);
      for (let r = 0; r < n.restarts; r++) {
        const index = r % pool.slots.length;
        await untilBusy(pool, index, 3000);
        stops.push(await rollingStop(ctx, pool, index, n.graceMs, stoppedProcs));
        await sleep(gapMs);
      }
      ctx.faultsEndAt = Date.now();
      const stats = await producing;
      ctx.details.producer = stats;
      const pending = await untilSettled(ctx, { stallMs: 30_000 });
      if (pending > 0) ctx.log(`C14: ${pending} jobs still pending when the drive ended`);
    }),
    passRules(ctx, { ops, final }) {
      const out: ReportViolation[] = [];
      const abortGraceMs = 5000;
      for (const s of stops) {
        if (s.exitCode !== 0) out.push({ rule: 'C14', message: `${s.proc} did not exit cleanly after SIGTERM (code ${String(s.exitCode)}, signal ${String(s.signal)})` });
        if (s.leftRunning > 0) out.push({ rule: 'C14', message: `${s.proc} exited leaving ${s.leftRunning} jobs running under its id (not released)` });
        if (s.stopMs > n.graceMs + abortGraceMs + 5000) out.push({ rule: 'C14', message: `${s.proc} took ${s.stopMs} ms to stop (grace ${n.graceMs} ms + abort grace ${abortGraceMs} ms)` });
      }
      // A lease of a stopped worker must never have expired: the stop hands every lease on.
      for (const j of final.jobs) {
        const running = j.state === 'running';
        if (running) out.push({ rule: 'C14', jobId: j.id, message: `job ${j.id} is still running at the end` });
      }
      for (const o of ops) {
        if (o.f !== 'rescue' || o.outcome.type !== 'ok') continue;
        const v = o.outcome.value as { requeued: string[]; dead: string[]; cancelled: string[] };
        const ids = [...v.requeued, ...v.dead, ...v.cancelled];
        if (ids.length > 0) out.push({ rule: 'C14', message: `the rescuer found ${ids.length} expired leases (${ids.slice(0, 3).join(', ')}…): a graceful stop left a lease behind`, ops: [`${o.proc}#${o.index} rescue`] });
      }
      // What each stopping worker did with its leases after SIGTERM (from its history).
      for (const f of ops.filter((o) => o.f === 'fault' && o.args.fault === 'SIGTERM')) {
        const s = stops.find((x) => x.proc === f.args.target);
        const mine = ops.filter((o) => o.proc === f.args.target && o.invokeAt >= f.invokeAt);
        if (s) s.afterSignal = { completed: mine.filter((o) => o.f === 'complete' && o.outcome.type === 'ok').length, released: mine.filter((o) => o.f === 'release' && o.outcome.type === 'ok').length, failed: mine.filter((o) => o.f === 'fail' && o.outcome.type === 'ok').length, refused: mine.filter((o) => o.outcome.type === 'refused').length };
      }
      const afterTerm = ops.filter((o) => stoppedProcs.has(o.proc) && ['complete', 'fail', 'release'].includes(o.f));
      const released = afterTerm.filter((o) => o.f === 'release' && o.outcome.type === 'ok').length;
      const refused = afterTerm.filter((o) => o.outcome.type === 'refused').length;
      ctx.details.stops = stops;
      ctx.details.releasedByStoppingWorkers = released;
      ctx.details.refusedWritesOfStoppedWorkers = refused;
      ctx.details.graceMs = n.graceMs;
      return out;
    },
  };
}

async function untilBusy(pool: WorkerPool, index: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !(pool.slots[index]!.alive && pool.slots[index]!.active > 0)) await sleep(20);
}

/** SIGTERM one worker, wait for it to exit by itself, check what it left, wait for its replacement. */
async function rollingStop(ctx: RunContext, pool: WorkerPool, index: number, graceMs: number, stopped: Set<string>): Promise<StopRecord> {
  const w: WorkerProcess = pool.slots[index]!;
  const activeAtSignal = w.active;
  const healed = ctx.nemesis.faultStarted({ fault: 'SIGTERM', target: w.proc, pid: w.pid, graceMs });
  const t0 = Date.now();
  stopped.add(w.proc);
  w.signal('SIGTERM');
  ctx.log(`SIGTERM ${w.proc} (${activeAtSignal} running)`);
  const limit = graceMs + 5000 + 10_000;
  const exited = await Promise.race([w.exited.then(() => true), sleep(limit).then(() => false)]);
  if (!exited) {
    ctx.log(`${w.proc} did not stop within ${limit} ms; killing it`);
    w.signal('SIGKILL');
    await w.exited;
  }
  const stopMs = Date.now() - t0;
  const page = await ctx.raw.listJobs({ filter: { queue: ctx.settings.queue, states: ['running'] }, limit: 1000 });
  const leftRunning = page.jobs.filter((j) => j.workerId === w.proc).length;
  const next = await pool.restarted(w);
  await next.ready;
  healed();
  return { proc: w.proc, activeAtSignal, exitCode: w.exit?.code ?? null, signal: w.exit?.signal ?? null, stopMs, leftRunning, readyAgainMs: Date.now() - t0 };
}
