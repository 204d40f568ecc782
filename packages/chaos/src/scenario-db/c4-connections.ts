/**
 * C4 — kill the application's database connections (reliability.md §5.3; PostgreSQL only, on a
 * private cluster).
 *
 * Drive: a warm-up and a baseline burst, then every ~3 s a burst of jobs and, once workers are
 * busy, `pg_terminate_backend` on every client connection to the run's database — pools,
 * relaxed pools, LISTEN and leader connections of the runner and all workers — while a steady
 * producer enqueues 50 jobs/s; twice, a targeted kill instead: of a connection running a claim
 * statement, and of one running an outcome (finalize) statement, found in pg_stat_activity and
 * killed while active. After the faults and a drained queue, an "after" burst.
 * Full tier: 20 kills (+2 targeted) on ~11,000 jobs; quick: 6 (+2) on ~3,700.
 *
 * Pass (beyond the checker's I1–I13 with the fault-window duplicate bound, common.ts):
 * - never two terminal transitions (I3), 0 stale writes accepted (I4), nothing lost (I1);
 * - an outcome write whose answer was lost and that the worker wrote again with the same token
 *   was answered ok (the first had not committed) or refused (lease_lost / not_found: it had,
 *   or another attempt owns the job) — never any other answer.
 * Measured for the report: connections killed per round, whether the targeted kills hit,
 * outcome writes retried and their answers, attempts spent by claims whose answer was lost,
 * how soon work and the maintenance leader resumed after each kill.
 */
import pg from 'pg';
import type { Op } from '../history.js';
import type { Model } from '../model.js';
import type { ReportViolation } from '../scenario/report.js';
import type { RunContext, ScenarioSpec } from '../scenario/runner.js';
import { sleep } from '../scenario/workers.js';
import { burst, dbSpec, type DbRun, planTaker, runningHandlers, type Tier, untilIdle } from './common.js';
import { DB_NAME } from './environment.js';
import { faultWindows, maintenanceResumption, outcomeRetries, resumptions } from './measure-db.js';

/** Statement texts to aim a targeted kill at (pg_stat_activity.query LIKE). */
const TARGETS = {
  // The claim statement (packages/postgres jobs-lease.ts): its candidate CTE locks rows.
  claim: '%candidates AS MATERIALIZED%FOR UPDATE SKIP LOCKED%',
  // The finalize statement (jobs-finalize.ts): complete / fail / … of a batch of attempts.
  finalize: '%WITH ORDINALITY AS t(id, attempt, token, kind, result, error%',
} as const;

/**
 * Polls pg_stat_activity until a connection of the run's database is running `target`'s
 * statement, and terminates it (recorded as a fault op around the polling). Gives up after `withinMs`.
 */
async function targetedKill(ctx: RunContext, directUrl: string, target: keyof typeof TARGETS, withinMs = 5000): Promise<{ hit: boolean; tries: number; ms: number }> {
  const admin = new pg.Client({ connectionString: directUrl.replace(`/${DB_NAME}`, '/postgres'), application_name: 'spindle-chaos-nemesis' });
  admin.on('error', () => {});
  await admin.connect();
  const t0 = Date.now();
  const healed = ctx.nemesis.faultStarted({ fault: 'pg_terminate_backend', target: `${target} statement`, database: DB_NAME });
  let tries = 0;
  let hit = false;
  try {
    while (!hit && Date.now() - t0 < withinMs) {
      tries += 1;
      const res = await admin.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND query LIKE $2 LIMIT 1`,
        [DB_NAME, TARGETS[target]],
      );
      hit = res.rows.some((r) => r.ok);
    }
  } finally {
    healed();
    await admin.end().catch(() => {});
  }
  return { hit, tries, ms: Date.now() - t0 };
}

export function c4(tier: Tier, run: DbRun): ScenarioSpec {
  const full = tier === 'full';
  const kills = full ? 20 : 6;
  const periodMs = 3000;
  const rate = 50;
  const cycles = kills + 2;
  const warmN = full ? 200 : 100;
  const measureN = full ? 1000 : 400;
  const steadyN = Math.round((rate * cycles * periodMs) / 1000);
  const chunkN = full ? 250 : 200;
  const jobs = warmN + 2 * measureN + steadyN + chunkN * cycles;
  // Targeted kills go at cycles 2 and 4 (1-based), between ordinary rounds.
  const targeted: Record<number, keyof typeof TARGETS> = { 2: 'claim', 4: 'finalize' };
  return dbSpec(run, {
    id: 'C4',
    title: 'kill the DB connections (PostgreSQL only, private cluster)',
    jobs,
    mix: { slowShare: 0.02, slowMs: 1500 },
    enqueueOverMs: 0,
    async drive(ctx) {
      const plan = planTaker(ctx.payloads);
      await burst(ctx, 'warm-up', plan.take(warmN), true);
      ctx.bursts.baseline = await burst(ctx, 'baseline', plan.take(measureN), true);
      const steady = plan.take(steadyN);
      const chunks = Array.from({ length: cycles }, () => plan.take(chunkN));
      const after = plan.rest();
      const rounds: Array<{ running: number; killed?: number; target?: string; hit?: boolean; tries?: number; ms?: number }> = [];
      const producer = ctx.enqueue(steady, cycles * periodMs);
      for (let c = 1; c <= cycles; c++) {
        const t0 = Date.now();
        await ctx.enqueue(chunks[c - 1]!, 0);
        await sleep(Math.max(0, t0 + 300 - Date.now()));
        const running = runningHandlers(ctx);
        const target = targeted[c];
        if (target) {
          const r = await targetedKill(ctx, run.env.directUrl, target);
          rounds.push({ running, target, ...r });
          ctx.log(`targeted kill of a ${target} statement: ${r.hit ? 'hit' : 'missed'} after ${r.tries} polls`);
        } else {
          const killed = await run.env.cluster.terminateBackends({ database: DB_NAME });
          rounds.push({ running, killed });
          ctx.log(`killed ${killed} connections (${running} handlers running)`);
        }
        await sleep(Math.max(0, t0 + periodMs - Date.now()));
      }
      await producer;
      ctx.faultsEndAt = Date.now();
      ctx.details.rounds = rounds;
      await untilIdle(ctx);
      ctx.bursts.after = await burst(ctx, 'after', after, false);
    },
    passRules(ctx, { ops, model }) {
      const out: ReportViolation[] = [];
      const retries = outcomeRetries(model);
      ctx.details.outcomeRetries = retries;
      for (const [answer, n] of Object.entries(retries.retryOutcomes)) {
        if (!['ok', 'unknown', 'refused lease_lost', 'refused not_found'].includes(answer)) {
          out.push({ rule: 'C4', message: `${n} outcome writes retried after a lost answer were answered '${answer}' (expected ok, or refused lease_lost / not_found)` });
        }
      }
      ctx.details.attemptsSpentByLostClaims = lostClaimAttempts(ops, model);
      const windows = faultWindows(ops);
      const resumed = resumptions(model, windows);
      ctx.details.resumeAfterKill = { maxFirstMs: Math.max(0, ...resumed.map((r) => r.firstMs ?? 0)), silent: resumed.filter((r) => r.firstMs === null).length };
      const maint = maintenanceResumption(ops, windows);
      ctx.details.maintenanceBackAfterKillMs = { max: Math.max(0, ...maint.map((m) => m ?? 0)), notBeforeNextKill: maint.filter((m) => m === null).length, all: maint };
      return out;
    },
  });
}

/**
 * Attempts a job spent without any lease of it being answered to a worker: a claim that
 * committed but whose answer was lost with its connection leaves the job running under a token
 * nobody holds until the rescuer expires it (an attempt counted, no handler run).
 */
function lostClaimAttempts(ops: readonly Op[], model: Model): { jobs: number; attempts: number; unknownClaims: number } {
  let jobs = 0;
  let attempts = 0;
  for (const j of model.final.jobs) {
    const seen = model.leasesOf(j.id).filter((l) => l.round === j.round).length;
    if (j.attempt > seen) {
      jobs += 1;
      attempts += j.attempt - seen;
    }
  }
  return { jobs, attempts, unknownClaims: ops.filter((o) => o.f === 'claim' && o.outcome.type === 'unknown').length };
}
