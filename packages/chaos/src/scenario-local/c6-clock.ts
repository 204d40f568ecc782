/**
 * C6 (reliability.md §5.3): clock jumps, with Debian libfaketime (faults/clock.ts). Histories of
 * faked processes are timed on the host's real clock (worker-hooks.ts CHAOS_REAL_CLOCK_ANCHOR).
 *
 * PostgreSQL — the database clock is the server's `now()`, so worker clocks must not matter.
 * The four workers run under one fake clock: +1 h, back, −1 h, back, 10× speed, back, while the
 * runner (real clock) enqueues and leads maintenance. Besides the standard mix: jobs with a 3 s
 * timeout that take ≤ 0.9 s, jobs with a 1 s timeout that take 4 s, and delayed jobs.
 * Pass (beyond I1–I13 with no duplicate execution at all): no lease is ever lost or rescued; a
 * job whose handler takes ≤ 0.9 s never times out against its 3 s limit; a job that takes 4 s
 * with a 1 s limit times out on every attempt and ends dead, never completed.
 *
 * SQLite — there is no database clock but each writer's: on one host every process reads the
 * same wall clock, so a step moves them all. All writers run under one fake clock — the four
 * workers and an engine process (engine-child.ts: the maintenance leader and the producer; the
 * runner's client is closed so that it leads nothing) — and the history records each write's
 * database time (CHAOS_EXPLICIT_NOW). Two steps, each with a SIGKILL of a busy worker just
 * before it: +5 × lease (held, then back), and −10 min (held, then back). Before each backward
 * step the producer is held and the queue drained: a job queued "in the future" of a clock that
 * stepped back would be claimed before its run_at by the database clock (I13), which is the step,
 * not the engine. Pass: I1–I13; every duplicate execution is a lease in flight at a step or a
 * kill (early redelivery); and a lease of the worker killed before a step is taken over before
 * the clock comes back — i.e. the step did not stretch it (the −10 min step does: see the report).
 *
 * Owns: the clock schedule and these pass rules; the fake clock's file (destroyed at the end).
 */
import { newJobId } from '@spindle/core';
import { createFakeClock, type FakeClock } from '../faults/clock.js';
import { inFlightAt, duplicatedLeases } from '../scenario/measure.js';
import type { Model, Lease } from '../model.js';
import type { Op } from '../history.js';
import type { ReportViolation } from '../scenario/report.js';
import type { RunContext, ScenarioSpec } from '../scenario/runner.js';
import { sigkill } from '../scenario/faults-process.js';
import type { JobPayload } from '../scenario/settings.js';
import { sleep, type WorkerPool, type WorkerProcess } from '../scenario/workers.js';
import { produce, type ProducerItem, startLocalPool, type Tier, until, untilSettled, withPools } from './common.js';
import { startEngineChild } from './engine-process.js';
import { realClockAnchor } from './worker-hooks.js';

const HOUR = 3_600_000;
const WORKERS = 4;

/** Extra jobs of the PostgreSQL run, by value prefix. */
const TIMED_OK = 'tok';
const MUST_TIME_OUT = 'tmo';
const DELAYED = 'dly';

export function c6(tier: Tier): ScenarioSpec {
  const phaseMs = tier === 'full' ? 10_000 : 4000;
  const jobs = tier === 'full' ? 4000 : 1000;
  const extras: ProducerItem[] = [];
  const kills: Array<{ proc: string; at: number; phase: string }> = [];
  const spec: ScenarioSpec = {
    id: 'C6',
    title: 'clock jumps (libfaketime)',
    jobs,
    // More long jobs than §5.3's 2 % × 1.5 s, so that a worker is busy at each step (SQLite kills one).
    mix: { slowShare: 0.05, slowMs: 3000 },
    settings: { workers: 0 },
    enqueueOverMs: 0,
    // PostgreSQL: none at all. SQLite: ≤ leases in flight at each of 4 steps and 2 kills (checked one by one below).
    maxDuplicates: 0,
    async drive(ctx) {
      extras.length = 0; // a spec object may be run again
      kills.length = 0;
      spec.maxDuplicates = ctx.backend === 'postgres' ? 0 : 4 * WORKERS * ctx.settings.concurrency + 2 * ctx.settings.concurrency;
      const clock = createFakeClock({ recorder: ctx.nemesis, target: ctx.backend === 'postgres' ? 'workers' : 'all writers' });
      try {
        if (ctx.backend === 'postgres') await drivePostgres(ctx, clock, phaseMs, extras);
        else await driveSqlite(ctx, clock, phaseMs, kills);
      } finally {
        clock.destroy();
      }
    },
    passRules(ctx, { ops, model }) {
      return ctx.backend === 'postgres' ? postgresRules(ctx, ops, model, extras) : sqliteRules(ctx, ops, model, kills);
    },
  };
  return spec;
}

function fakeEnv(clock: FakeClock, explicitNow: boolean): Record<string, string> {
  return { ...clock.env, CHAOS_REAL_CLOCK_ANCHOR: String(realClockAnchor()), ...(explicitNow ? { CHAOS_EXPLICIT_NOW: '1' } : {}) };
}

function jobOpts(ctx: RunContext): { maxRetries: number; backoff: RunContext['settings']['backoff'] } {
  return { maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff };
}

// ---------------------------------------------------------------- PostgreSQL ------------------

async function drivePostgres(ctx: RunContext, clock: FakeClock, phaseMs: number, extras: ProducerItem[]): Promise<void> {
  const n = ctx.payloads.length;
  const mk = (prefix: string, i: number, k: JobPayload['k'], ms: number, opts: ProducerItem['opts']): ProducerItem => ({ payload: { v: `${prefix}-${ctx.payloads[0]!.v}-${i}`, k, ms }, id: newJobId(), opts });
  const kinds: ProducerItem[][] = [
    Array.from({ length: Math.ceil(n * 0.06) }, (_, i) => mk(TIMED_OK, i, 'work', 300 + Math.floor(ctx.random() * 600), { timeoutMs: 3000 })),
    Array.from({ length: Math.ceil(n * 0.012) }, (_, i) => mk(MUST_TIME_OUT, i, 'work', 4000, { timeoutMs: 1000 })),
    Array.from({ length: Math.ceil(n * 0.05) }, (_, i) => mk(DELAYED, i, 'work', 20, { delay: 500 + Math.floor(ctx.random() * 2500) })),
  ];
  extras.push(...kinds.flat());
  // Each kind spread evenly over the whole run (so some of each are in flight at every step).
  const all: Array<{ at: number; item: ProducerItem }> = ctx.payloads.map((payload, i) => ({ at: i / n, item: { payload, id: newJobId() } }));
  for (const list of kinds) list.forEach((item, i) => all.push({ at: (i + 0.5) / list.length, item }));
  all.sort((a, b) => a.at - b.at);
  const leadMs = 2000;
  const overMs = leadMs + 3 * (phaseMs + 1000) + 1000;
  await withPools(async (pools) => {
    pools.push(await startLocalPool(ctx, { count: WORKERS, firstSlot: 1, env: fakeEnv(clock, false) }));
    const producing = produce(ctx.client.queue(ctx.settings.queue), all.map((x) => x.item), { overMs, maxOpts: jobOpts(ctx), onAcked: (b) => b.forEach((it) => ctx.jobIds.set(it.payload.v, it.id)) });
    await sleep(leadMs);
    const phases: Array<[string, () => void]> = [['+1 h', () => clock.jump(HOUR)], ['−1 h', () => clock.jump(-HOUR)], ['10× speed', () => clock.speed(10)]];
    for (const [name, apply] of phases) {
      ctx.log(`worker clocks: ${name}`);
      apply();
      await sleep(phaseMs);
      clock.reset();
      await sleep(1000);
    }
    ctx.faultsEndAt = Date.now();
    ctx.details.producer = await producing;
    const pending = await untilSettled(ctx);
    if (pending > 0) ctx.log(`C6: ${pending} jobs still pending when the drive ended`);
  });
}

function postgresRules(ctx: RunContext, ops: readonly Op[], model: Model, extras: ProducerItem[]): ReportViolation[] {
  const out: ReportViolation[] = [];
  for (const o of ops) {
    if (o.f === 'rescue' && o.outcome.type === 'ok') {
      const v = o.outcome.value as { requeued: string[]; dead: string[]; cancelled: string[] };
      const ids = [...v.requeued, ...v.dead, ...v.cancelled];
      if (ids.length > 0) out.push({ rule: 'C6', message: `${ids.length} leases expired while only worker clocks moved (first: ${ids[0]})`, ops: [`${o.proc}#${o.index} rescue`] });
    }
    if (o.outcome.type === 'refused' && o.outcome.code === 'lease_lost' && o.f !== 'heartbeat') {
      out.push({ rule: 'C6', jobId: o.args.jobId as string, message: `a ${o.f} of job ${String(o.args.jobId)} was refused lease_lost while only worker clocks moved`, ops: [`${o.proc}#${o.index} ${o.f}`] });
    }
  }
  // Each attempt of a job with a timeout, on the real clock: timed out no earlier than its limit,
  // and never ran past it by more than a second (the limit is measured by the worker itself).
  const limitOf = new Map(extras.filter((it) => it.opts?.timeoutMs !== undefined).map((it) => [it.id, it.opts!.timeoutMs!]));
  const starts = new Map<string, Op>();
  const early: string[] = [];
  const overran: string[] = [];
  for (const o of ops) {
    if (o.f !== 'handler_start' && o.f !== 'handler_end') continue;
    const id = o.args.jobId as string;
    const limit = limitOf.get(id);
    if (limit === undefined) continue;
    const key = `${id}:${String(o.args.round)}:${String(o.args.attempt)}:${o.proc}`;
    if (o.f === 'handler_start') {
      starts.set(key, o);
      continue;
    }
    const start = starts.get(key);
    if (!start) continue;
    const ran = Math.round(o.invokeAt - start.invokeAt);
    const timedOut = /timed out/.test(String(o.args.error ?? ''));
    if (timedOut && ran < limit - 50) early.push(`${id} attempt ${String(o.args.attempt)} on ${o.proc}: after ${ran} ms of ${limit}`);
    if (ran > limit + 1000) overran.push(`${id} attempt ${String(o.args.attempt)} on ${o.proc}: ran ${ran} ms against ${limit} (${timedOut ? 'then timed out' : o.args.ok ? 'and completed' : 'then failed'})`);
  }
  if (early.length > 0) out.push({ rule: 'C6', message: `${early.length} attempts timed out before their limit on the real clock (a worker-local deadline followed the faked wall clock): ${early.slice(0, 4).join('; ')}` });
  if (overran.length > 0) out.push({ rule: 'C6', message: `${overran.length} attempts ran past their timeout by more than 1 s on the real clock (a worker-local deadline followed the faked wall clock): ${overran.slice(0, 4).join('; ')}` });
  const counts = { timedOk: 0, timedOkTimedOut: 0, mustTimeOut: 0, mustTimeOutDead: 0, delayed: 0, attemptsTimedOutEarly: early.length, attemptsOverran: overran.length };
  const lateness: number[] = [];
  for (const it of extras) {
    const j = model.finalJobs.get(it.id);
    if (!j) continue; // I1's to report
    const timeouts = j.errors.filter((x) => x.kind === 'timeout').length;
    if (it.payload.v.startsWith(TIMED_OK)) {
      counts.timedOk += 1;
      if (timeouts > 0 || j.state !== 'completed') {
        counts.timedOkTimedOut += 1;
        out.push({ rule: 'C6', jobId: it.id, message: `job ${it.id} takes ${it.payload.ms} ms against a ${it.opts?.timeoutMs} ms timeout, yet timed out ${timeouts}× (ended ${j.state} at attempt ${j.attempt}): a worker-local deadline followed the faked wall clock` });
      }
    } else if (it.payload.v.startsWith(MUST_TIME_OUT)) {
      counts.mustTimeOut += 1;
      const completed = j.state === 'completed';
      if (!completed && j.state === 'dead' && timeouts === j.attempt) counts.mustTimeOutDead += 1;
      else out.push({ rule: 'C6', jobId: it.id, message: `job ${it.id} takes 4000 ms against a 1000 ms timeout but ended ${j.state} after ${j.attempt} attempts with ${timeouts} timeouts: a worker-local deadline followed the faked wall clock` });
    } else if (it.payload.v.startsWith(DELAYED)) {
      counts.delayed += 1;
      const first = model.leasesOf(it.id)[0];
      const enq = (model.enqueues.get(it.id) ?? []).find((x) => x.outcome.type === 'ok');
      if (first && enq) lateness.push(first.leaseExpiresAt - first.leaseMs - (enq.invokeAt + (it.opts?.delay ?? 0)));
    }
  }
  lateness.sort((a, b) => a - b);
  ctx.details.extras = counts;
  ctx.details.delayedLatenessMs = lateness.length ? { min: lateness[0], p50: lateness[Math.floor(lateness.length / 2)], max: lateness[lateness.length - 1] } : null;
  return out;
}

// ---------------------------------------------------------------- SQLite ----------------------

async function driveSqlite(ctx: RunContext, clock: FakeClock, phaseMs: number, kills: Array<{ proc: string; at: number; phase: string }>): Promise<void> {
  const items: ProducerItem[] = ctx.payloads.map((payload) => ({ payload, id: newJobId() }));
  for (const it of items) ctx.jobIds.set(it.payload.v, it.id);
  const leadMs = 2000;
  const overMs = leadMs + 2 * (phaseMs + 3000) + 1000;
  await withPools(async (pools) => {
    const env = fakeEnv(clock, true);
    const pool = await startLocalPool(ctx, { count: WORKERS, firstSlot: 1, env });
    pools.push(pool);
    const engine = await startEngineChild(ctx, { proc: 'engine', items, overMs, env });
    try {
      // Every writer must see the steps: the runner's client (real clock) leads nothing from now on.
      await ctx.client.close({ graceMs: 1000 });
      await engine.leader;
      engine.go();
      await sleep(leadMs);
      const step = async (name: string, offsetMs: number, backward: boolean): Promise<void> => {
        if (backward) await drainQueued(ctx, () => engine.pause());
        const victim = await busiest(pool, 5000);
        if (victim) {
          const fault = sigkill(ctx.nemesis, { proc: victim.proc, pid: victim.pid });
          kills.push({ proc: victim.proc, at: fault.startedAt, phase: name });
          void pool.restarted(victim).then(() => fault.healed(), () => fault.healed());
          ctx.log(`SIGKILL ${victim.proc} (${victim.active} running) just before the ${name} step`);
          await sleep(100);
        }
        ctx.log(`all writers' clocks: ${name}`);
        clock.jump(offsetMs);
        if (backward) engine.resume();
        await sleep(phaseMs);
        // Back to real time: the opposite step (forward after a backward one needs no drain).
        if (!backward) await drainQueued(ctx, () => engine.pause());
        clock.reset();
        if (!backward) engine.resume();
        await sleep(3000);
      };
      await step('+5 × lease', 5 * ctx.settings.leaseMs, false);
      await step('−10 min', -10 * 60_000, true);
      ctx.faultsEndAt = Date.now();
      ctx.details.producer = await engine.produced;
      const pending = await untilSettled(ctx);
      if (pending > 0) ctx.log(`C6: ${pending} jobs still pending when the drive ended`);
    } finally {
      await engine.stop();
    }
  });
}

/** Holds the producer and waits until no job is waiting in the queue (all claimed or done). */
async function drainQueued(ctx: RunContext, pause: () => Promise<void>): Promise<void> {
  await pause();
  await until(async () => {
    const counts = await ctx.raw.countJobs({ queue: ctx.settings.queue });
    return (counts.find((c) => c.state === 'queued')?.count ?? 0) === 0;
  }, 30_000, 'the queue to be drained before a backward clock step');
}

/** The worker running the most handlers, waiting up to `ms` for one to be busy. */
async function busiest(pool: WorkerPool, ms: number): Promise<WorkerProcess | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const w = pool.live().filter((x) => x.readyAt !== null && x.active > 0).sort((a, b) => b.active - a.active)[0];
    if (w || Date.now() > end) return w;
    await sleep(20);
  }
}

function sqliteRules(ctx: RunContext, ops: readonly Op[], model: Model, kills: Array<{ proc: string; at: number; phase: string }>): ReportViolation[] {
  const out: ReportViolation[] = [];
  const steps = ops.filter((o) => o.f === 'fault' && o.args.fault === 'clock');
  // Each step happens twice: when the clock moves (invoke) and when it comes back (complete).
  const stepTimes = steps.flatMap((s) => [s.invokeAt, ...(s.completeAt === null ? [] : [s.completeAt])]);
  const workers = [...new Set(model.leases.map((l) => l.op.proc))];
  const caught = new Set<Lease>();
  for (const t of stepTimes) for (const proc of workers) for (const l of inFlightAt(model, { proc, at: t, cause: 'clock' })) caught.add(l);
  for (const k of kills) for (const l of inFlightAt(model, { proc: k.proc, at: k.at, cause: 'SIGKILL' })) caught.add(l);
  const dups = duplicatedLeases(model);
  for (const l of dups.filter((d) => !caught.has(d))) {
    out.push({ rule: 'C6', jobId: l.jobId, message: `job ${l.jobId} attempt ${l.attempt} ran again although no clock step or kill caught it in flight`, ops: [`${l.op.proc}#${l.op.index} claim`] });
  }
  // A lease of the worker killed just before a step: taken over before the clock came back?
  const takeovers = kills.map((k) => {
    const s = steps.find((x) => x.invokeAt >= k.at);
    const back = s?.completeAt ?? Infinity;
    const orphans = inFlightAt(model, { proc: k.proc, at: k.at, cause: 'SIGKILL' });
    const after = orphans.map((l) => {
      const next = model.leasesOf(l.jobId).find((x) => x.round === l.round && x.attempt > l.attempt);
      return { lease: l, takenOverMs: next?.op.completeAt == null ? null : Math.round(next.op.completeAt - k.at), beforeClockBack: next?.op.completeAt != null && next.op.completeAt < back };
    });
    const late = after.filter((a) => !a.beforeClockBack);
    if (late.length > 0) {
      out.push({
        rule: 'C6-stretch', jobId: late[0]!.lease.jobId,
        message: `${late.length} of ${after.length} leases of ${k.proc}, killed just before the ${k.phase} step, were taken over only after the clock came back (${late.map((a) => a.takenOverMs).join(', ')} ms after the kill; lease ${ctx.settings.leaseMs} ms, sweep ${ctx.settings.sweepMs} ms): the step stretched them`,
      });
    }
    return { phase: k.phase, proc: k.proc, orphans: after.length, takenOverMs: after.map((a) => a.takenOverMs), stepHeldMs: s && s.completeAt !== null ? s.completeAt - s.invokeAt : null };
  });
  ctx.details.kills = takeovers;
  ctx.details.duplicates = { total: dups.length, caughtAtStepsOrKills: dups.filter((d) => caught.has(d)).length };
  return out;
}
