/**
 * C7 (reliability.md §5.3): SQLite busy. Another process holds the write lock (`BEGIN
 * EXCLUSIVE`, faults/sqlite-busy.ts) for 2 s, `locks` times, while jobs are enqueued at
 * ~200/s and four workers run them. SQLite only.
 *
 * Three producers share the jobs: the runner's recorded client (busy_timeout 5 s: its enqueues
 * should wait out each lock), and in a producer process (producer-child.ts, busy_timeout 200 ms:
 * a lock must show up as an error) a library producer and an HTTP producer against that
 * process's API server. Every producer retries a refused batch with the same job ids.
 *
 * Owns: the lock schedule and the pass rules. Invariants (beyond the checker's I1–I13):
 * - No SQLITE_BUSY reaches a caller untyped: every error any producer or worker got from a
 *   backend call carries a Spindle code (BackendError, `backend_error`, retryable); no producer
 *   gave up; the HTTP API answered 2xx or 503 with Retry-After — never a 500.
 * - 0 SQLITE_BUSY_SNAPSHOT anywhere (producers' errors and every process's error log).
 * - Duplicate executions only from leases whose last renewal + lease fell inside a lock (a held
 *   write lock stops heartbeats, so a lock as long as the lease may expire the leases it
 *   overlaps); the checker's bound is locks × workers × concurrency.
 * - The locks really happened (`locks` sqlite_busy fault ops), and the short-timeout producers
 *   really met them (typed errors / 503s are counted in the report).
 */
import { newJobId } from '@spindle/core';
import { startBusyHolder } from '../faults/sqlite-busy.js';
import { explainedByWriteStalls, duplicatedLeases } from '../scenario/measure.js';
import type { ReportViolation } from '../scenario/report.js';
import type { ScenarioSpec } from '../scenario/runner.js';
import { sleep } from '../scenario/workers.js';
import { newProducerStats, produce, type ProducerItem, type ProducerStats, readDbErrors, requireBackend, runTarget, startLocalPool, type Tier, untilSettled, withPools } from './common.js';
import type { ChildItem } from './producer-child.js';
import { type ProducerResult, startProducerChild } from './producer-process.js';

const HOLD_MS = 2000;
const GAP_MS = 1500;
const LEAD_MS = 1500;
const RATE = 200;
const WORKERS = 4;

export function c7(tier: Tier): ScenarioSpec {
  const locks = tier === 'full' ? 10 : 4;
  const overMs = LEAD_MS + locks * (HOLD_MS + GAP_MS) + 500;
  const jobs = Math.round((RATE * overMs) / 1000);
  let p1 = newProducerStats();
  let child: ProducerResult | null = null;
  return {
    id: 'C7',
    title: 'SQLite busy (another process holds BEGIN EXCLUSIVE)',
    jobs,
    mix: { slowShare: 0.02, slowMs: 1500 },
    settings: { workers: 0 },
    enqueueOverMs: overMs,
    maxDuplicates: locks * WORKERS * 8,
    drive: (ctx) => withPools(async (pools) => {
      requireBackend(ctx, 'C7', ['sqlite']);
      [p1, child] = [newProducerStats(), null]; // a spec object may be run again
      pools.push(await startLocalPool(ctx, { count: WORKERS, firstSlot: 1, env: { CHAOS_DB_ERRORS: '1' } }));
      const all: ChildItem[] = ctx.payloads.map((payload, i) => ({ payload, id: newJobId(), via: i % 4 === 3 ? 'http' : 'lib' }));
      for (const it of all) ctx.jobIds.set(it.payload.v, it.id);
      const mine: ProducerItem[] = all.filter((_, i) => i % 4 < 2);
      const theirs = all.filter((_, i) => i % 4 >= 2);
      const producer = await startProducerChild(ctx, { proc: 'c7client', items: theirs, overMs, busyTimeoutMs: 200 });
      const target = runTarget(ctx);
      const path = target.kind === 'sqlite' ? target.path : '';
      const holder = await startBusyHolder(path, { recorder: ctx.nemesis });
      try {
        producer.go();
        const producing = produce(ctx.client.queue(ctx.settings.queue), mine, {
          overMs, stats: p1, maxOpts: { maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff },
        });
        await sleep(LEAD_MS);
        const held: number[] = [];
        for (let i = 0; i < locks; i++) {
          const hold = holder.lock(HOLD_MS);
          const [from, to] = await Promise.all([hold.locked, hold.released]);
          held.push(to - from);
          await sleep(GAP_MS);
        }
        ctx.faultsEndAt = Date.now();
        ctx.details.heldMs = held;
        [, child] = await Promise.all([producing, producer.done]);
      } finally {
        await holder.stop();
        await producer.stop();
      }
      const pending = await untilSettled(ctx);
      if (pending > 0) ctx.log(`C7: ${pending} jobs still pending when the drive ended`);
    }),
    passRules(ctx, { ops, model }) {
      const out: ReportViolation[] = [];
      const bad = (message: string): void => void out.push({ rule: 'C7', message });
      const faults = ops.filter((o) => o.f === 'fault' && o.args.fault === 'sqlite_busy');
      if (faults.length !== locks) bad(`${faults.length} locks were held, expected ${locks}`);
      const producers: Array<[string, ProducerStats | undefined]> = [['runner', p1], ['c7client library', child?.lib]];
      for (const [name, s] of producers) {
        if (!s) {
          bad(`the ${name} producer reported nothing`);
          continue;
        }
        if (s.untyped > 0) bad(`the ${name} producer got ${s.untyped} untyped errors: ${s.untypedSamples.join(' | ')}`);
        if (s.gaveUp > 0) bad(`the ${name} producer gave up on ${s.gaveUp} batches`);
        if (s.causeCodes.SQLITE_BUSY_SNAPSHOT) bad(`the ${name} producer got ${s.causeCodes.SQLITE_BUSY_SNAPSHOT} SQLITE_BUSY_SNAPSHOT errors`);
      }
      const http = child?.http;
      if (http) {
        if (http.bad > 0) bad(`the API answered ${http.bad} enqueues with neither 2xx nor 503: ${http.badSamples.join(' | ')}`);
        if (http.retryAfterMissing > 0) bad(`${http.retryAfterMissing} 503 answers came without Retry-After`);
        if (http.gaveUp > 0) bad(`the HTTP producer gave up on ${http.gaveUp} batches`);
        if (http.networkErrors > 0) bad(`the HTTP producer had ${http.networkErrors} network errors: ${http.badSamples.join(' | ')}`);
      }
      const dbErrors = readDbErrors(ctx.dir);
      const byCode: Record<string, number> = {};
      for (const e of dbErrors) {
        const k = `${e.proc.replace(/\.\d+$/, '')}:${e.op}:${e.code ?? 'untyped'}:${e.causeCode ?? '-'}`;
        byCode[k] = (byCode[k] ?? 0) + 1;
      }
      const untyped = dbErrors.filter((e) => e.code === null || e.name === 'SqliteError');
      if (untyped.length > 0) bad(`${untyped.length} backend calls failed with an untyped error (first: ${untyped[0]!.proc} ${untyped[0]!.op}: ${untyped[0]!.message})`);
      const snapshots = dbErrors.filter((e) => e.causeCode === 'SQLITE_BUSY_SNAPSHOT');
      if (snapshots.length > 0) bad(`${snapshots.length} SQLITE_BUSY_SNAPSHOT errors (first: ${snapshots[0]!.proc} ${snapshots[0]!.op})`);
      // Duplicates: each must be a lease a lock may have expired (its renewals stopped by the lock).
      const windows = faults.map((f) => ({ from: f.invokeAt, to: (f.completeAt ?? Infinity) + ctx.settings.sweepMs + 500 }));
      const dups = duplicatedLeases(model);
      const explained = new Set(explainedByWriteStalls(model, dups, windows));
      for (const l of dups.filter((d) => !explained.has(d))) {
        out.push({ rule: 'C7', jobId: l.jobId, message: `job ${l.jobId} attempt ${l.attempt} ran again although no lock stopped its heartbeats`, ops: [`${l.op.proc}#${l.op.index} claim`] });
      }
      ctx.details.producers = { runner: p1, c7clientLibrary: child?.lib ?? null, c7clientHttp: child?.http ?? null };
      ctx.details.dbErrors = byCode;
      ctx.details.duplicatesExplainedByLocks = explained.size;
      return out;
    },
  };
}
