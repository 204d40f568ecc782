/**
 * C16 — PostgreSQL's xmin horizon held back by a long REPEATABLE READ transaction
 * (reliability.md §5.3; PostgreSQL only, private cluster with default autovacuum settings).
 *
 * Drive: a steady producer of no-op jobs (full: §5.3's 300/s; quick: 150/s); a baseline burst
 * before the hold; then a transaction on a separate connection opens REPEATABLE READ and reads
 * the jobs table (its snapshot now pins xmin: no row version deleted after it can be vacuumed,
 * no index entry pointing at one can be killed) and stays open for `holdMs` (full 60 s — §5.3's
 * 120 s scaled to fit 3 minutes; quick 12 s) with measured bursts during it; then it ends
 * (COMMIT) and bursts go on while the table recovers. The hold is recorded as a fault op
 * (`xmin_hold`, injected → released).
 * Jobs are enqueued only until ~35 s after the release (full; quick ~11 s): the checker's I12
 * wants every job terminal within its bound (42.5 s here) after the last fault, jobs enqueued
 * after it included. The table (dead tuples, autovacuum runs) is still watched until §5.3's
 * 60 s after the release, with no jobs.
 *
 * Pass: the checker's I1–I13 (nothing lost, no stale write, liveness).
 * Measured for the report: burst throughput before / during the hold / after the release
 * (targets: ≥ 60 % during, back to ≥ 95 % within 60 s), claim latency and completion rate per
 * phase, dead tuples of the jobs table (pg_stat_user_tables) at each step, the first autovacuum,
 * and whether the server exposes a dead-tuple metric (it does not: packages/server's metrics
 * have none — reported, not built).
 */
import pg from 'pg';
import type { ScenarioSpec } from '../scenario/runner.js';
import { sleep } from '../scenario/workers.js';
import { burst, burstFigures, dbSpec, type DbRun, planTaker, round1, schemaOf, type Tier } from './common.js';
import { claimLatencies, completionsPerSec, faultWindows } from './measure-db.js';

interface TupleSample { at: string; tMs: number; live: number; dead: number; autovacuums: number; lastAutovacuum: string | null }

export function c16(tier: Tier, run: DbRun): ScenarioSpec {
  const full = tier === 'full';
  const rate = full ? 300 : 150;
  const beforeMs = full ? 15_000 : 6000;
  const holdMs = full ? 60_000 : 12_000;
  const afterMs = full ? 34_000 : 11_000;
  const burstN = full ? 2000 : 1000;
  const duringBursts = full ? [0.25, 0.5, 0.75, 0.95] : [0.5, 0.9];
  const afterBursts = full ? [1000, 8000, 16_000, 24_000, 31_000] : [1000, 5500, 10_000];
  const watchMs = full ? 60_000 : 16_000;
  const steadyN = Math.round((rate * (beforeMs + holdMs + afterMs)) / 1000);
  const warmN = 200;
  const jobs = warmN + steadyN + burstN * (1 + duringBursts.length + afterBursts.length);
  return dbSpec(run, {
    id: 'C16',
    title: 'xmin held by a REPEATABLE READ transaction (PostgreSQL only, private cluster)',
    jobs,
    mix: { noop: true },
    enqueueOverMs: 0,
    async drive(ctx) {
      const plan = planTaker(ctx.payloads);
      const schema = schemaOf(ctx);
      const admin = new pg.Client({ connectionString: run.env.directUrl, application_name: 'spindle-chaos-measure' });
      const holder = new pg.Client({ connectionString: run.env.directUrl, application_name: 'spindle-chaos-xmin' });
      admin.on('error', () => {});
      holder.on('error', () => {});
      await admin.connect();
      await holder.connect();
      const t0 = Date.now();
      const tuples: TupleSample[] = [];
      const sampleTuples = async (at: string): Promise<void> => {
        const { rows } = await admin.query<{ live: string; dead: string; n: string; last: Date | null }>(
          `SELECT n_live_tup AS live, n_dead_tup AS dead, autovacuum_count AS n, last_autovacuum AS last FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'jobs'`, [schema]);
        const r = rows[0];
        if (r) tuples.push({ at, tMs: Date.now() - t0, live: Number(r.live), dead: Number(r.dead), autovacuums: Number(r.n), lastAutovacuum: r.last?.toISOString() ?? null });
      };
      let released: (() => void) | null = null;
      try {
        await burst(ctx, 'warm-up', plan.take(warmN), true);
        const steady = plan.take(steadyN);
        const producer = ctx.enqueue(steady, beforeMs + holdMs + afterMs);
        const phaseStart = Date.now();
        await sleep(beforeMs - 4000);
        ctx.bursts.baseline = await burst(ctx, 'before hold', plan.take(burstN), false);
        await sleep(Math.max(0, phaseStart + beforeMs - Date.now()));
        await sampleTuples('hold begins');
        // The hold: a snapshot taken by the first statement of a REPEATABLE READ transaction.
        const healed = ctx.nemesis.faultStarted({ fault: 'xmin_hold', target: 'postgres', holdMs });
        released = healed;
        await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await holder.query(`SELECT count(*) FROM "${schema}".jobs`);
        const holdStart = Date.now();
        const xmin = await admin.query<{ xmin: string | null }>(`SELECT backend_xmin::text AS xmin FROM pg_stat_activity WHERE application_name = 'spindle-chaos-xmin'`);
        ctx.details.holderXmin = xmin.rows[0]?.xmin ?? null;
        for (const f of duringBursts) {
          await sleep(Math.max(0, holdStart + f * holdMs - 3000 - Date.now()));
          await burst(ctx, `hold ${Math.round(f * 100)} %`, plan.take(burstN), false);
          await sampleTuples(`hold ${Math.round(f * 100)} %`);
        }
        await sleep(Math.max(0, holdStart + holdMs - Date.now()));
        await sampleTuples('hold ends');
        await holder.query('COMMIT');
        healed();
        released = null;
        const releasedAt = Date.now();
        ctx.faultsEndAt = releasedAt;
        for (const [i, at] of afterBursts.entries()) {
          await sleep(Math.max(0, releasedAt + at - Date.now()));
          const b = await burst(ctx, `after +${Math.round(at / 1000)} s`, plan.take(burstN), false);
          if (i === 0) ctx.bursts.after = b;
          await sampleTuples(`after +${Math.round(at / 1000)} s`);
        }
        await producer;
        const rest = plan.rest();
        if (rest.length) await ctx.enqueue(rest, 0);
        // No more jobs (see the header: I12's bound), but the table is watched until §5.3's
        // 60 s after the release: does autovacuum clean it up by then?
        while (Date.now() < releasedAt + watchMs - 500) {
          await sleep(Math.min(5000, releasedAt + watchMs - Date.now()));
          await sampleTuples(`after +${Math.round((Date.now() - releasedAt) / 1000)} s, no jobs`);
        }
      } finally {
        if (released) {
          await holder.query('ROLLBACK').catch(() => {});
          (released as () => void)();
        }
        ctx.details.deadTuples = tuples;
        await holder.end().catch(() => {});
        await admin.end().catch(() => {});
      }
    },
    passRules(ctx, result) {
      const { ops } = result;
      const hold = faultWindows(ops, (o) => o.args.fault === 'xmin_hold')[0];
      const bursts = burstFigures(ctx, result);
      const base = bursts.find((b) => b.label === 'before hold')?.rate ?? null;
      const ratio = (r: number | null): number | null => (base && r !== null ? round1((100 * r) / base) : null);
      ctx.details.throughputPercentOfBaseline = bursts.filter((b) => b.label !== 'warm-up').map((b) => ({ label: b.label, rate: b.rate, percent: ratio(b.rate) }));
      if (hold) {
        const during = bursts.filter((b) => b.label.startsWith('hold'));
        const worst = during.reduce<number | null>((m, b) => (b.rate === null ? m : m === null ? b.rate : Math.min(m, b.rate)), null);
        ctx.details.duringHoldMinPercent = ratio(worst);
        const after = bursts.filter((b) => b.label.startsWith('after'));
        const back = after.find((b) => (ratio(b.rate) ?? 0) >= 95);
        ctx.details.recoveredTo95PercentAfterMs = back ? back.startAt - hold.end : null;
        ctx.details.observedAfterReleaseMs = after.length ? Math.max(...after.map((b) => b.startAt)) - hold.end : 0;
        const first = ops.find((o) => o.f === 'claim')?.invokeAt ?? hold.start;
        const last = Math.max(...ops.filter((o) => o.f === 'complete').map((o) => o.completeAt ?? 0));
        ctx.details.phases = {
          before: { completionsPerSec: completionsPerSec(ops, first, hold.start), claimMs: claimLatencies(ops, first, hold.start) },
          hold: { completionsPerSec: completionsPerSec(ops, hold.start, hold.end), claimMs: claimLatencies(ops, hold.start, hold.end) },
          lateHold: { claimMs: claimLatencies(ops, hold.end - 10_000, hold.end) },
          after: { completionsPerSec: completionsPerSec(ops, hold.end, last), claimMs: claimLatencies(ops, hold.end, last) },
        };
      }
      const vacuumed = ((ctx.details.deadTuples ?? []) as TupleSample[]).find((t) => t.autovacuums > 0);
      ctx.details.firstAutovacuumSeen = vacuumed ? { at: vacuumed.at, lastAutovacuum: vacuumed.lastAutovacuum } : 'none while watched';
      ctx.details.deadTupleMetric = 'not exposed: packages/server metrics (src/metrics/metrics.ts) have no dead-tuple or bloat gauge; the figures above are read from pg_stat_user_tables by the scenario';
      return [];
    },
  });
}
