/**
 * Process-fault scenarios of reliability.md §5.3: C1 (SIGKILL a busy worker mid-job, restart it)
 * and C2 (SIGSTOP a worker holding jobs for 3 × lease, then SIGCONT; with C2b's handlers that
 * busy-loop 5 s in the same run).
 *
 * Owns: each scenario's nemesis schedule and pass rules beyond the checker. Invariants:
 * - The nemesis only targets a worker that is running handlers (a "busy" one) and was ready.
 * - Faults stop before the drain: `faultsEndAt` is set when the last fault is healed.
 * - Pass rules (beyond the checker's I1–I13 with the duplicate bound Σ in-flight per fault):
 *   C1: every duplicate execution is a lease a kill caught in flight (runner); orphan re-claim
 *   times are measured, not asserted. C2: 0 stale writes accepted (I4), each in-flight lease of
 *   a stopped worker is refused after SIGCONT or never written again, and a C2b job's looping
 *   first attempt never completes it once another attempt took it over.
 */
import type { Op } from '../history.js';
import type { Model } from '../model.js';
import { inFlightAt } from './measure.js';
import type { ReportViolation } from './report.js';
import type { RunContext, ScenarioSpec } from './runner.js';
import type { JobPayload } from './settings.js';
import { sigkill, sigstop } from './faults-process.js';
import { sleep, withTimeout, type WorkerProcess } from './workers.js';

export type Tier = 'quick' | 'full';

const busyWorkers = (ctx: RunContext): WorkerProcess[] => ctx.pool.live().filter((w) => w.readyAt !== null && w.active > 0);

async function untilIdle(ctx: RunContext, timeoutMs = 60_000): Promise<void> {
  await withTimeout((async () => { while ((await ctx.pending()) > 0) await sleep(50); })(), timeoutMs, 'the queue to drain');
}

/**
 * The burst drive of C1 and C2: a warm-up burst, a baseline burst (drained: its throughput is
 * the baseline), then per cycle a burst and, once workers are busy (`faultDelayMs` in, or as soon
 * after as one is), one fault on a busy worker; once faults are over and every worker is back,
 * an "after" burst of the baseline's size, measured the same way. The baseline and after bursts
 * take a quarter of the jobs each (at most 1,000), the warm-up 5 % (at most 200), the cycles the rest.
 * `fault` resolves when the cycle may go on, with a promise that resolves when it is healed.
 */
async function burstDrive(ctx: RunContext, cycles: number, periodMs: number, faultDelayMs: number, pick: 'random' | 'busiest', fault: (w: WorkerProcess) => Promise<{ healed: Promise<void> } | null>): Promise<void> {
  const all = ctx.payloads;
  const warmN = Math.min(200, Math.floor(all.length * 0.05));
  const measureN = Math.min(1000, Math.floor(all.length * 0.25));
  const per = Math.max(1, Math.floor((all.length - warmN - 2 * measureN) / cycles));
  const warm = all.slice(0, warmN);
  const base = all.slice(warmN, warmN + measureN);
  const cycleChunk = (c: number): JobPayload[] => all.slice(warmN + measureN + (c - 1) * per, c === cycles ? all.length - measureN : warmN + measureN + c * per);
  const after = all.slice(all.length - measureN);
  await ctx.enqueue(warm, 0);
  await untilIdle(ctx);
  ctx.bursts.baseline = { startAt: Date.now(), values: base.map((p) => p.v) };
  await ctx.enqueue(base, 0);
  await untilIdle(ctx);
  const heals: Array<Promise<void>> = [];
  let faults = 0;
  const running: number[] = [];
  for (let c = 1; c <= cycles; c++) {
    const t0 = Date.now();
    await ctx.enqueue(cycleChunk(c), 0);
    await sleep(Math.max(0, t0 + faultDelayMs - Date.now()));
    let busy = busyWorkers(ctx);
    for (const until = Date.now() + periodMs / 2; busy.length === 0 && Date.now() < until; busy = busyWorkers(ctx)) await sleep(10);
    const w = pick === 'random' ? busy[Math.floor(ctx.random() * busy.length)] : busy.sort((a, b) => b.active - a.active)[0];
    if (w) {
      running.push(w.active);
      const injected = await fault(w);
      if (injected) {
        faults += 1;
        heals.push(injected.healed);
      }
    } else ctx.log(`cycle ${c}: no busy worker to fault`);
    await sleep(Math.max(0, t0 + periodMs - Date.now()));
  }
  await Promise.all(heals);
  ctx.faultsEndAt = Date.now();
  ctx.details.faults = faults;
  ctx.details.runningAtFault = running;
  await withTimeout(Promise.all(ctx.pool.slots.map((w) => w.ready)), 60_000, 'every worker to be back');
  await untilIdle(ctx);
  ctx.bursts.after = { startAt: Date.now(), values: after.map((p) => p.v) };
  await ctx.enqueue(after, 0);
}

/** C1: every 2 s a burst, and SIGKILL of a random busy worker 100 ms into it; restarted 200 ms later (the pool). */
export function c1(tier: Tier): ScenarioSpec {
  const kills = tier === 'full' ? 50 : 5;
  return {
    id: 'C1',
    title: 'SIGKILL a worker mid-job',
    jobs: tier === 'full' ? 10_000 : 1000,
    mix: { slowShare: 0.02, slowMs: 1500 },
    enqueueOverMs: 0,
    drive: (ctx) => burstDrive(ctx, kills, 2000, 100, 'random', async (w) => {
      const fault = sigkill(ctx.nemesis, { proc: w.proc, pid: w.pid });
      if (!fault.delivered) return null;
      ctx.log(`SIGKILL ${w.proc} (${w.active} running)`);
      return { healed: ctx.pool.restarted(w).then(() => fault.healed()) };
    }),
  };
}

/** C2 (+ C2b): every 7 s a burst, and SIGSTOP of the busiest worker 100 ms into it for 3 × lease, then SIGCONT. */
export function c2(tier: Tier): ScenarioSpec {
  const stops = tier === 'full' ? 20 : 3;
  return {
    id: 'C2',
    title: 'SIGSTOP past the lease (fencing) + C2b busy loop',
    jobs: tier === 'full' ? 10_000 : 1000,
    // C2b's looping jobs only in the fault cycles' bursts, not in the baseline or after bursts.
    mix: { slowShare: 0.02, slowMs: 1500, special: { 'busy-once': tier === 'full' ? 10 : 3 }, blockMs: 5000, specialWithin: [0.3, 0.7] },
    disruptive: { 'busy-once': { cause: 'busy-loop', firstAttemptOnly: true } },
    enqueueOverMs: 0,
    drive: (ctx) => burstDrive(ctx, stops, 3 * ctx.settings.leaseMs + 1000, 100, 'busiest', async (w) => {
      const fault = sigstop(ctx.nemesis, { proc: w.proc, pid: w.pid });
      if (!fault.delivered) return null;
      w.paused = true;
      ctx.log(`SIGSTOP ${w.proc} (${w.active} running) for ${3 * ctx.settings.leaseMs} ms`);
      await sleep(3 * ctx.settings.leaseMs);
      fault.cont();
      w.paused = false;
      // Longer than asked when this process was itself stalled (SQLite: the stopped worker held
      // the write lock and our own writes waited for it synchronously).
      ((ctx.details.pauseMs ??= []) as number[]).push(Date.now() - fault.startedAt);
      return { healed: Promise.resolve() };
    }),
    passRules(ctx, { ops, model }) {
      const out: ReportViolation[] = [];
      // After SIGCONT, each lease the stopped worker held must be refused (lease_lost) at its
      // first write, or not written at all (its handler aborted by a refused heartbeat).
      const lostNoticedMs: number[] = [];
      let acceptedAfterCont = 0;
      for (const f of ops.filter((o) => o.f === 'fault' && o.args.fault === 'SIGSTOP' && o.completeAt !== null)) {
        for (const l of inFlightAt(model, { proc: f.args.target as string, at: f.invokeAt, cause: 'SIGSTOP' })) {
          const next = model.leasesOf(l.jobId).find((n) => n.round === l.round && n.attempt > l.attempt);
          if (!next || next.op.invokeAt > f.completeAt!) continue; // nobody took it over during the pause
          const writes = model.writesWith(l).filter((w) => w.invokeAt >= f.completeAt!);
          const first = writes[0];
          if (!first) continue;
          if (first.outcome.type === 'refused' && first.outcome.code === 'lease_lost') lostNoticedMs.push(first.completeAt! - f.completeAt!);
          if (first.outcome.type === 'ok') {
            acceptedAfterCont += 1;
            out.push({ rule: 'C2', jobId: l.jobId, message: `stopped ${l.op.proc}'s ${first.f} of attempt ${l.attempt} was accepted after attempt ${next.attempt} was claimed`, ops: [`${first.proc}#${first.index} ${first.f}`] });
          }
        }
      }
      ctx.details.refusedAfterCont = lostNoticedMs.length;
      ctx.details.acceptedAfterCont = acceptedAfterCont;
      ctx.details.maxRefusalAfterContMs = lostNoticedMs.length ? Math.max(...lostNoticedMs) : null;
      out.push(...c2bRules(ctx, ops, model));
      return out;
    },
  };
}

/**
 * C2b: a first attempt that busy-looped past its lease. Its accepted writes after a takeover are
 * the checker's I4; here: were the job's leases taken over (rescued and re-claimed) while it
 * looped, and what happened to the looping attempt's writes. Reported, and a violation only if
 * the looping attempt completed the job although another attempt had been claimed meanwhile.
 */
function c2bRules(ctx: RunContext, ops: readonly Op[], model: Model): ReportViolation[] {
  const out: ReportViolation[] = [];
  const rows: Array<Record<string, unknown>> = [];
  for (const p of ctx.payloads.filter((x) => x.k === 'busy-once')) {
    const id = ctx.jobIds.get(p.v);
    if (!id) continue;
    const final = model.finalJobs.get(id);
    const first = model.leasesOf(id).find((l) => l.round === 0 && l.attempt === 1);
    const start = ops.find((o) => o.f === 'handler_start' && o.args.jobId === id && o.args.attempt === 1 && o.args.round === 0);
    const takeover = first ? model.leasesOf(id).find((l) => l.round === 0 && l.attempt > 1) : undefined;
    const writes = first ? model.writesWith(first) : [];
    rows.push({
      jobId: id, finalState: final?.state, finalAttempt: final?.attempt,
      takenOverAfterMs: takeover && start ? takeover.leaseExpiresAt - takeover.leaseMs - start.invokeAt : null,
      loopingAttemptWrites: writes.map((w) => `${w.f}:${w.outcome.type === 'refused' ? w.outcome.code : w.outcome.type}`),
    });
    const accepted = writes.find((w) => w.f === 'complete' && w.outcome.type === 'ok');
    if (accepted && takeover && takeover.op.completeAt !== null && takeover.op.completeAt < accepted.invokeAt) {
      out.push({ rule: 'C2b', jobId: id, message: `job ${id}: the attempt that busy-looped ${p.ms} ms completed it after attempt ${takeover.attempt} was claimed` });
    }
  }
  ctx.details.c2b = rows;
  return out;
}
