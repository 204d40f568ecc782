/**
 * Job-driven scenarios of reliability.md §5.3: C10 (poison jobs: always throw, process.exit,
 * hang past the lease), C15 (claim race: many processes, no-op jobs) and C17 (DLQ redrive of
 * dead jobs, twice concurrently).
 *
 * Owns: their job plans, drives and pass rules. Invariants (pass rules beyond the checker):
 * - C10: every poison job is dead after exactly maxAttempts attempts, its last error is the last
 *   attempt's (a thrown one kept truncated: message ≤ 2000 chars, stack ≤ 4 KiB; a crash or hang
 *   as lease_expired); good jobs complete (none dead-lettered as a bystander of a poison job);
 *   worker restarts never exceed exit-poison jobs × maxAttempts (no crash loop).
 * - C15: no attempt claimed twice (I5), no duplicate execution at all (bound 0).
 * - C17: the two concurrent redrives move disjoint sets covering every dead job, a later one
 *   moves 0, each job then runs exactly once more (one lease in round 1) and completes. Spindle
 *   writes no audit entry for a replay: reported in `details.audit`, not invented.
 */
import { Buffer } from 'node:buffer';
import type { ReportViolation } from './report.js';
import type { RunContext, ScenarioSpec } from './runner.js';
import type { Tier } from './scenarios-process.js';
import { sleep, withTimeout } from './workers.js';

const atLeastOne = (n: number, share: number): number => Math.max(1, Math.round(n * share));

export function c10(tier: Tier): ScenarioSpec {
  const jobs = tier === 'full' ? 10_000 : 1000;
  return {
    id: 'C10',
    title: 'poison messages',
    jobs,
    mix: { slowShare: 0.02, slowMs: 1500, special: { throw: atLeastOne(jobs, 0.01), exit: atLeastOne(jobs, 0.001), hang: atLeastOne(jobs, 0.001) }, blockMs: 3000 },
    disruptive: { exit: { cause: 'poison-exit', firstAttemptOnly: false }, hang: { cause: 'poison-hang', firstAttemptOnly: false } },
    enqueueOverMs: 0,
    async passRules(ctx, { ops, model }) {
      const out: ReportViolation[] = [];
      const max = ctx.settings.maxAttempts;
      const runs = new Map<string, number>();
      for (const o of ops) if (o.f === 'handler_start') runs.set(o.args.jobId as string, (runs.get(o.args.jobId as string) ?? 0) + 1);
      const poison = { throw: 0, exit: 0, hang: 0 };
      let goodCompleted = 0;
      let goodDead = 0;
      const collateral: Array<{ jobId: string; kind: string; handlerRuns: number }> = [];
      let goodFirst = Infinity;
      let goodLast = 0;
      for (const p of ctx.payloads) {
        const id = ctx.jobIds.get(p.v);
        const final = id ? model.finalJobs.get(id) : undefined;
        if (!id || !final) continue; // I1's to report
        if (p.k !== 'throw' && p.k !== 'exit' && p.k !== 'hang') {
          if (final.state === 'completed') {
            goodCompleted += 1;
            goodFirst = Math.min(goodFirst, final.createdAt);
            goodLast = Math.max(goodLast, final.finishedAt ?? 0);
          } else {
            goodDead += final.state === 'dead' ? 1 : 0;
            out.push({ rule: 'C10', jobId: id, message: `good job ${id} (${p.k}) ended ${final.state} after ${final.attempt} attempts (last error ${final.errors[final.errors.length - 1]?.kind ?? 'none'})` });
          }
          continue;
        }
        poison[p.k] += 1;
        const bad = (message: string): void => void out.push({ rule: 'C10', jobId: id, message: `poison ${p.k} job ${id}: ${message}` });
        if (final.state !== 'dead') bad(`ended ${final.state}, not dead`);
        if (final.attempt !== max) bad(`dead after ${final.attempt} attempts, not exactly ${max}`);
        // Attempts of a poison job may also be spent by another poison job crashing the worker
        // they share (a lease expiry counts as an attempt): counted, not a failure of this job.
        if ((runs.get(id) ?? 0) < max) collateral.push({ jobId: id, kind: p.k, handlerRuns: runs.get(id) ?? 0 });
        const job = await ctx.raw.getJob(id);
        const last = job?.errors[job.errors.length - 1];
        if (!last) bad('no error kept');
        else {
          if (last.attempt !== max) bad(`last error is of attempt ${last.attempt}, not ${max}`);
          if (last.kind === 'error' && (!last.message.startsWith('poison') || last.message.length > 2000 || Buffer.byteLength(last.stack ?? '') > 4096)) {
            bad(`thrown error not kept truncated (message ${last.message.length} chars, stack ${Buffer.byteLength(last.stack ?? '')} bytes)`);
          }
          if (p.k !== 'throw' && last.kind !== 'lease_expired') bad(`last error is ${last.kind}, expected lease_expired`);
        }
      }
      const restarts = ctx.pool.all.length - ctx.settings.workers;
      if (restarts > poison.exit * max) out.push({ rule: 'C10', message: `${restarts} worker restarts for ${poison.exit} exit-poison jobs × ${max} attempts: a crash loop` });
      ctx.details.poison = poison;
      ctx.details.restarts = restarts;
      ctx.details.goodCompleted = goodCompleted;
      ctx.details.goodDead = goodDead;
      ctx.details.poisonAttemptsSpentByOthers = collateral;
      ctx.details.goodThroughputPerSec = goodLast > goodFirst ? Math.round((goodCompleted / ((goodLast - goodFirst) / 1000)) * 10) / 10 : null;
      return out;
    },
  };
}

export function c15(tier: Tier): ScenarioSpec {
  return {
    id: 'C15',
    title: 'claim race',
    jobs: tier === 'full' ? 10_000 : 2000,
    mix: { noop: true },
    settings: { workers: 8, concurrency: 16 },
    enqueueOverMs: 0,
    maxDuplicates: 0,
  };
}

/** C17 uses §5.3's 1,000 dead jobs in both tiers. */
export function c17(): ScenarioSpec {
  const jobs = 1000;
  return {
    id: 'C17',
    title: 'DLQ redrive, twice concurrently',
    jobs,
    mix: { special: { 'dead-then-ok': jobs } },
    enqueueOverMs: 0,
    maxDuplicates: 0,
    async drive(ctx) {
      await ctx.enqueue(ctx.payloads, 0);
      await withTimeout((async () => { while ((await ctx.pending()) > 0) await sleep(200); })(), 120_000, 'every job to reach the DLQ');
      const dead = (await ctx.raw.dlqDepth({ queue: ctx.settings.queue })).reduce((n, d) => n + d.depth, 0);
      const [a, b] = [ctx.recordedClient('redrive-a'), ctx.recordedClient('redrive-b')];
      const t0 = Date.now();
      const [ra, rb] = await Promise.all([a.dlq.replay({ filter: { queue: ctx.settings.queue } }), b.dlq.replay({ filter: { queue: ctx.settings.queue } })]);
      const concurrentMs = Date.now() - t0;
      const rc = await ctx.recordedClient('redrive-c').dlq.replay({ filter: { queue: ctx.settings.queue } });
      ctx.faultsEndAt = Date.now();
      ctx.details.deadBeforeRedrive = dead;
      ctx.details.redrive = { a: ra.replayed, b: rb.replayed, later: rc.replayed, concurrentMs };
      ctx.details.sets = { a: ra.ids, b: rb.ids, later: rc.ids };
    },
    passRules(ctx, { model }) {
      const out: ReportViolation[] = [];
      const sets = ctx.details.sets as { a: string[]; b: string[]; later: string[] };
      delete ctx.details.sets;
      const a = new Set(sets.a);
      const both = sets.b.filter((id) => a.has(id));
      const union = new Set([...sets.a, ...sets.b]);
      if (both.length > 0) out.push({ rule: 'C17', message: `${both.length} jobs were moved by both concurrent redrives`, jobId: both[0]! });
      if (sets.later.length > 0) out.push({ rule: 'C17', message: `a later redrive moved ${sets.later.length} jobs (expected 0)` });
      for (const id of ctx.jobIds.values()) {
        if (!union.has(id)) out.push({ rule: 'C17', jobId: id, message: `dead job ${id} was moved by neither redrive` });
        const final = model.finalJobs.get(id);
        const again = model.leasesOf(id).filter((l) => l.round === 1).length;
        if (final?.state !== 'completed' || final.round !== 1) out.push({ rule: 'C17', jobId: id, message: `job ${id} ended ${final?.state} in round ${final?.round}, expected completed in round 1` });
        if (again !== 1) out.push({ rule: 'C17', jobId: id, message: `job ${id} ran ${again} times after the redrive, expected exactly once` });
      }
      ctx.details.audit = 'none in the engine: a library/backend DLQ replay writes no audit entry (no audit or job_events table); the job keeps only round + 1 and its earlier errors. Only replays over HTTP get an audit log line (the server\'s audit log); this run redrives through the library.';
      return out;
    },
  };
}
