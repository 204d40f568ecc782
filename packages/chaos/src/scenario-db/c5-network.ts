/**
 * C5 — network loss between the application and PostgreSQL (reliability.md §5.3; PostgreSQL
 * only, private cluster behind the TCP proxy of faults/tcp-proxy.ts).
 *
 * Every connection of the run — the runner's and every worker's, pools, LISTEN and leader
 * connections — goes through the proxy (environment.ts), with the bounds C5 recommends on the
 * URL (index.ts C5_URL_PARAMS: PostgresBackend connectTimeoutMs 2 s, queryTimeoutMs 3 s).
 * Drive: a warm-up and a baseline burst, then per cycle a burst of jobs and, once workers are
 * busy, a blackhole (nothing forwarded, nothing closed) for `blackholeMs`, then a gap with the
 * network back, while a steady producer enqueues 50 jobs/s; then a latency phase (every chunk
 * delayed 500 ± 200 ms each way) with a burst of jobs; after the faults and a drained queue,
 * an "after" burst. During the first blackhole two probe backends (connections opened
 * beforehand) each make one call: one with PostgresBackend's defaults (no bound), one with the
 * run's bounds — what bounds a call when the network is gone (`callBound`).
 * Full tier: 5 blackholes of 10 s and 15 s of latency on ~6,500 jobs; quick: 2 blackholes of
 * 5 s and 4 s of latency on ~2,500.
 *
 * Pass (beyond the checker's I1–I13 with the fault-window duplicate bound, common.ts): nothing
 * lost (I1), 0 stale writes accepted (I4), every job terminal in time and work resumed after
 * every heal (I12).
 * Measured for the report (target: no call hangs beyond statement + pool timeout, ≤ 10 s):
 * how long calls took across each blackhole, whether any was answered before the heal (bounded
 * by a timeout) or all waited for the network; work resumption after each heal; maintenance
 * back after each heal; throughput and claim latency during the latency phase. */
import { PostgresBackend } from '@spindle/postgres';
import type { ScenarioSpec } from '../scenario/runner.js';
import { sleep } from '../scenario/workers.js';
import { burst, dbSpec, type DbRun, planTaker, runningHandlers, schemaOf, type Tier, untilIdle } from './common.js';
import { claimLatencies, completionsPerSec, faultWindows, hangsAcross, maintenanceResumption, resumptions } from './measure-db.js';

/** One call through the proxy on an already-open connection, made while the network is down. */
async function probeCall(url: string, schema: string, blackholeStarted: Promise<void>): Promise<{ answeredAfterMs: number; error: string | null }> {
  const backend = new PostgresBackend({ connectionString: url, schema, poolMax: 1, listen: false, applicationName: 'spindle-chaos-probe' });
  try {
    await backend.now(); // opens the pooled connection before the blackhole
    await blackholeStarted;
    const t0 = Date.now();
    try {
      await backend.now();
      return { answeredAfterMs: Date.now() - t0, error: null };
    } catch (err) {
      return { answeredAfterMs: Date.now() - t0, error: String(err).slice(0, 200) };
    }
  } finally {
    await backend.close().catch(() => {});
  }
}

export function c5(tier: Tier, run: DbRun): ScenarioSpec {
  const full = tier === 'full';
  const blackholes = full ? 5 : 2;
  const blackholeMs = full ? 10_000 : 5000;
  const gapMs = full ? 6000 : 4000;
  const latencyMs = full ? 15_000 : 4000;
  const rate = 50;
  const driveMs = blackholes * (blackholeMs + gapMs) + latencyMs;
  const warmN = full ? 200 : 100;
  const measureN = full ? 1000 : 400;
  const steadyN = Math.round((rate * driveMs) / 1000);
  const chunkN = full ? 250 : 150;
  const jobs = warmN + 2 * measureN + steadyN + chunkN * (blackholes + 1);
  return dbSpec(run, {
    id: 'C5',
    title: 'network loss to the DB via the proxy (PostgreSQL only, private cluster)',
    jobs,
    mix: { slowShare: 0.02, slowMs: 1500 },
    enqueueOverMs: 0,
    async drive(ctx) {
      const proxy = run.env.proxy;
      if (!proxy) throw new Error('C5 needs the TCP proxy (runDbScenario starts it)');
      const plan = planTaker(ctx.payloads);
      await burst(ctx, 'warm-up', plan.take(warmN), true);
      ctx.bursts.baseline = await burst(ctx, 'baseline', plan.take(measureN), true);
      const steady = plan.take(steadyN);
      const chunks = Array.from({ length: blackholes + 1 }, () => plan.take(chunkN));
      const after = plan.rest();
      let markBlackhole!: () => void;
      const firstBlackhole = new Promise<void>((r) => { markBlackhole = r; });
      // The same call with no bound (PostgresBackend's default) and with the run's bounds.
      const probes = Promise.all([probeCall(run.env.plainUrl, schemaOf(ctx), firstBlackhole), probeCall(run.env.url, schemaOf(ctx), firstBlackhole)]);
      const runningAtFault: number[] = [];
      try {
        const producer = ctx.enqueue(steady, driveMs);
        for (let i = 0; i < blackholes; i++) {
          const t0 = Date.now();
          await ctx.enqueue(chunks[i]!, 0);
          await sleep(Math.max(0, t0 + 400 - Date.now()));
          runningAtFault.push(runningHandlers(ctx));
          ctx.log(`blackhole ${i + 1}/${blackholes} for ${blackholeMs} ms (${runningAtFault.at(-1)} handlers running)`);
          proxy.setMode({ kind: 'blackhole' });
          markBlackhole();
          await sleep(blackholeMs);
          proxy.setMode({ kind: 'pass' });
          await sleep(gapMs);
        }
        ctx.log(`latency 500 ± 200 ms for ${latencyMs} ms`);
        const latencyStart = Date.now();
        proxy.setMode({ kind: 'latency', ms: 500, jitterMs: 200 });
        await ctx.enqueue(chunks[blackholes]!, 0); // a backlog for the workers while the network is slow
        await sleep(Math.max(0, latencyStart + latencyMs - Date.now()));
        proxy.setMode({ kind: 'pass' });
        await producer;
      } finally {
        // Never leave the network down: the runner's cleanup goes through the proxy too.
        proxy.setMode({ kind: 'pass' });
        markBlackhole();
      }
      ctx.faultsEndAt = Date.now();
      ctx.details.runningAtBlackhole = runningAtFault;
      const [unbounded, bounded] = await probes;
      ctx.details.callBound = { blackholeMs, noBound: unbounded, withBounds: { url: run.env.url.slice(run.env.url.indexOf('?') + 1) || 'none', ...bounded } };
      ctx.details.proxy = { ...proxy.stats };
      await untilIdle(ctx);
      ctx.bursts.after = await burst(ctx, 'after', after, false);
    },
    passRules(ctx, { ops, model }) {
      const holes = faultWindows(ops, (o) => o.args.fault === 'proxy_blackhole');
      const slow = faultWindows(ops, (o) => o.args.fault === 'proxy_latency');
      ctx.details.blackholes = holes.map((w) => ({ ms: w.end - w.start }));
      ctx.details.hangsAcrossBlackholes = hangsAcross(ops, holes);
      ctx.details.resumeAfterBlackhole = resumptions(model, holes).map((r) => ({ claimingAgainMs: r.slowestClaimingMs, firstProgressMs: r.firstMs, slowestWorkerProgressMs: r.slowestWorkerMs, silentWorkers: r.silentWorkers }));
      ctx.details.maintenanceBackAfterHealMs = maintenanceResumption(ops, [...holes, ...slow].sort((a, b) => a.start - b.start));
      const lat = slow[0];
      if (lat) {
        ctx.details.latencyPhase = {
          ms: lat.end - lat.start,
          completionsPerSec: completionsPerSec(ops, lat.start, lat.end),
          claimMs: claimLatencies(ops, lat.start, lat.end),
          claimMsBefore: claimLatencies(ops, (ctx.bursts.baseline?.startAt ?? 0), holes[0]?.start ?? lat.start),
          hangs: hangsAcross(ops, [lat]),
          resume: resumptions(model, [lat]).map((r) => ({ claimingAgainMs: r.slowestClaimingMs, firstProgressMs: r.firstMs, slowestWorkerProgressMs: r.slowestWorkerMs })),
        };
      }
      return [];
    },
  });
}
