/**
 * C8 (reliability.md §5.3): disk full, mid-run, then healed — `cycles` times — while producers
 * enqueue and four workers run jobs.
 *
 * - SQLite: `PRAGMA max_page_count` capped at the file's current size on EVERY connection that
 *   writes (the pragma is per connection): the runner's own (faults/sqlite-disk-full.ts on its
 *   SqliteBackend), each worker's and the producer process's, through worker-hooks.ts
 *   (CHAOS_PAGE_LIMIT_FILE). A fill counts once every writer has acknowledged the cap; a heal
 *   once every writer has put its limit back.
 * - PostgreSQL: the run's schema on a tablespace on a 64 MiB tmpfs (pg-tmpfs.ts), filled with a
 *   file up to ENOSPC and healed by deleting it. Not covered where `mount -t tmpfs` is refused:
 *   the drive then throws, saying so.
 *
 * Producers: the runner's recorded client, and in a producer process (producer-child.ts) a
 * library producer and an HTTP producer against that process's API server; refused batches are
 * retried with the same ids, and right after each refusal the batch's ids are looked up.
 *
 * Owns: the fill/heal schedule and the pass rules. Invariants (beyond the checker's I1–I13):
 * - Writes are refused with a typed, retryable error (BackendError), never an untyped one; the
 *   HTTP API answers 2xx, 503 (with Retry-After) or 507 — never a 500.
 * - No partial write: no job of a refused batch is stored right after the refusal (and I1/I2).
 * - Recovery by itself: after each heal an enqueue and a completion are acknowledged again,
 *   with no restart or operator action; no producer gives up.
 * - SQLite: `PRAGMA integrity_check` = ok at the end.
 * - The fault really bit: some writes were refused with SQLITE_FULL / SQLSTATE 53100.
 * Readiness (/readyz) during the fault is reported, not judged (§5.3 wants it false; see report).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newJobId } from '@spindle/core';
import type { SqliteBackend } from '@spindle/sqlite';
import { fillDisk } from '../faults/sqlite-disk-full.js';
import type { ReportViolation } from '../scenario/report.js';
import type { ScenarioSpec } from '../scenario/runner.js';
import { sleep } from '../scenario/workers.js';
import { newProducerStats, produce, type ProducerItem, type ProducerStats, readDbErrors, runTarget, sqliteIntegrity, startLocalPool, storedIn, type Tier, until, untilSettled, withPools } from './common.js';
import { canMountTmpfs, setupPgTmpfs } from './pg-tmpfs.js';
import type { ChildItem } from './producer-child.js';
import { type ProducerResult, startProducerChild } from './producer-process.js';

const RATE = 100;
const LEAD_MS = 2000;
const WORKERS = 4;

interface Window {
  from: number;
  to: number;
}

export function c8(tier: Tier): ScenarioSpec {
  const cycles = tier === 'full' ? 5 : 2;
  const fullMs = tier === 'full' ? 5000 : 3000;
  const recoverMs = tier === 'full' ? 5000 : 3000;
  const overMs = LEAD_MS + cycles * (fullMs + recoverMs) + 1000;
  let p1 = newProducerStats();
  let child: ProducerResult | null = null;
  const windows: Window[] = [];
  let integrity: string | null = null;
  return {
    id: 'C8',
    title: 'disk full (mid-run, then healed)',
    jobs: Math.round((RATE * overMs) / 1000),
    mix: { slowShare: 0.02, slowMs: 1500 },
    settings: { workers: 0 },
    enqueueOverMs: overMs,
    drive: (ctx) => withPools(async (pools) => {
      [p1, child, integrity] = [newProducerStats(), null, null]; // a spec object may be run again
      windows.length = 0;
      const sqlite = ctx.backend === 'sqlite';
      if (!sqlite && !canMountTmpfs()) throw new Error('C8 on PostgreSQL needs `mount -t tmpfs` (root with CAP_SYS_ADMIN): not covered here');
      const limitFile = join(ctx.dir, 'pagelimit');
      const env: Record<string, string> = { CHAOS_DB_ERRORS: '1', ...(sqlite ? { CHAOS_PAGE_LIMIT_FILE: limitFile } : {}) };
      if (sqlite) writeFileSync(limitFile, '0');
      const target = runTarget(ctx);
      const tmpfs = target.kind === 'postgres' ? await setupPgTmpfs(target.url, target.schema) : null;
      try {
        const pool = await startLocalPool(ctx, { count: WORKERS, firstSlot: 1, env });
        pools.push(pool);
        const all: ChildItem[] = ctx.payloads.map((payload, i) => ({ payload, id: newJobId(), via: i % 4 === 3 ? 'http' : 'lib' }));
        for (const it of all) ctx.jobIds.set(it.payload.v, it.id);
        const mine: ProducerItem[] = all.filter((_, i) => i % 4 < 2);
        const producer = await startProducerChild(ctx, { proc: 'c8client', items: all.filter((_, i) => i % 4 >= 2), overMs, busyTimeoutMs: 5000, readyPollMs: 200, env });
        try {
          producer.go();
          const producing = produce(ctx.client.queue(ctx.settings.queue), mine, {
            overMs, stats: p1, storedOf: storedIn(ctx.raw), maxTries: 200,
            maxOpts: { maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff },
          });
          await sleep(LEAD_MS);
          const writers = (): string[] => [...pool.live().map((w) => w.proc), 'c8client'];
          for (let c = 0; c < cycles; c++) {
            const from = Date.now();
            if (sqlite) {
              const fault = await fillDisk(ctx.raw as unknown as SqliteBackend, { recorder: ctx.nemesis, target: target.kind === 'sqlite' ? target.path : '' });
              await setPageLimit(limitFile, String(fault.limitPages), writers);
              ctx.log(`disk full: ${fault.limitPages} pages (was ${fault.previousLimit})`);
              await sleep(fullMs);
              await setPageLimit(limitFile, '0', writers);
              await fault.heal();
            } else {
              const healed = ctx.nemesis.faultStarted({ fault: 'disk_full', target: tmpfs!.tablespace });
              const filled = tmpfs!.fill();
              ctx.log(`disk full: tmpfs filled with ${filled} bytes (${tmpfs!.free()} free)`);
              await sleep(fullMs);
              tmpfs!.heal();
              healed();
            }
            windows.push({ from, to: Date.now() });
            await sleep(recoverMs);
          }
          ctx.faultsEndAt = Date.now();
          [, child] = await Promise.all([producing, producer.done]);
        } finally {
          await producer.stop();
        }
        const pending = await untilSettled(ctx);
        if (pending > 0) ctx.log(`C8: ${pending} jobs still pending when the drive ended`);
      } finally {
        await Promise.all(pools.map((p) => p.stop(10_000)));
        await tmpfs?.release();
      }
    }),
    async passRules(ctx, { ops }) {
      const out: ReportViolation[] = [];
      const bad = (message: string): void => void out.push({ rule: 'C8', message });
      const producers: Array<[string, ProducerStats | undefined]> = [['runner', p1], ['c8client library', child?.lib]];
      let refused = 0;
      for (const [name, s] of producers) {
        if (!s) {
          bad(`the ${name} producer reported nothing`);
          continue;
        }
        refused += s.typedRetryable;
        if (s.untyped > 0) bad(`the ${name} producer got ${s.untyped} untyped errors: ${s.untypedSamples.join(' | ')}`);
        if (s.gaveUp > 0) bad(`the ${name} producer gave up on ${s.gaveUp} batches`);
        if (s.partialWrites > 0) bad(`${s.partialWrites} jobs of batches refused to the ${name} producer were stored (a partial write)`);
      }
      const http = child?.http;
      if (http) {
        if (http.bad > 0) bad(`the API answered ${http.bad} enqueues with neither 2xx, 503 nor 507: ${http.badSamples.join(' | ')}`);
        if (http.retryAfterMissing > 0) bad(`${http.retryAfterMissing} 503 answers came without Retry-After`);
        if (http.partialWrites > 0) bad(`${http.partialWrites} jobs of batches the API refused were stored (a partial write)`);
        if (http.gaveUp > 0 || http.networkErrors > 0) bad(`the HTTP producer gave up on ${http.gaveUp} batches (${http.networkErrors} network errors)`);
        refused += (http.status['503'] ?? 0) + (http.status['507'] ?? 0);
      }
      const dbErrors = readDbErrors(ctx.dir);
      const untyped = dbErrors.filter((e) => e.code === null || e.name === 'SqliteError' || e.name === 'DatabaseError');
      if (untyped.length > 0) bad(`${untyped.length} backend calls failed with an untyped error (first: ${untyped[0]!.proc} ${untyped[0]!.op}: ${untyped[0]!.message})`);
      const full = dbErrors.filter((e) => e.causeCode === 'SQLITE_FULL' || e.causeCode === '53100').length + (p1.causeCodes.SQLITE_FULL ?? 0) + (p1.causeCodes['53100'] ?? 0);
      if (full === 0 && refused === 0) bad('no write was refused: the disk never looked full');
      // Recovery by itself: after each heal, an enqueue and a completion are acknowledged again.
      const recovery = windows.map((w, i) => {
        const next = windows[i + 1]?.from ?? Infinity;
        const firstOk = (f: string): number | null => {
          const o = ops.find((x) => x.f === f && x.outcome.type === 'ok' && x.invokeAt >= w.to && x.invokeAt < next);
          return o ? o.completeAt! - w.to : null;
        };
        return { fullMs: w.to - w.from, enqueueOkAfterMs: firstOk('enqueue'), completeOkAfterMs: firstOk('complete'), claimOkAfterMs: firstOk('claim') };
      });
      recovery.forEach((r, i) => {
        if (r.enqueueOkAfterMs === null || r.completeOkAfterMs === null) bad(`after heal ${i + 1} no ${r.enqueueOkAfterMs === null ? 'enqueue' : 'completion'} was acknowledged before the next fault`);
      });
      if (ctx.backend === 'sqlite') {
        const target = runTarget(ctx);
        integrity = target.kind === 'sqlite' ? sqliteIntegrity(target.path) : null;
        if (integrity !== 'ok') bad(`PRAGMA integrity_check: ${integrity}`);
      }
      const readyDuring = (child?.ready ?? []).filter(([t]) => windows.some((w) => t >= w.from && t <= w.to));
      const errs: Record<string, number> = {};
      for (const e of dbErrors) {
        const k = `${e.proc.replace(/\.\d+$/, '')}:${e.op}:${e.causeCode ?? e.code ?? '?'}`;
        errs[k] = (errs[k] ?? 0) + 1;
      }
      ctx.details.recovery = recovery;
      ctx.details.refusedWrites = { producerCalls: refused, backendCallsFull: full };
      ctx.details.dbErrors = errs;
      ctx.details.producers = { runner: p1, c8clientLibrary: child?.lib ?? null, c8clientHttp: child?.http ?? null };
      ctx.details.readyzDuringFault = { polls: readyDuring.length, ready: readyDuring.filter(([, s]) => s === 200).length, notReady: readyDuring.filter(([, s]) => s !== 200).length };
      ctx.details.integrityCheck = integrity ?? 'n/a (PostgreSQL)';
      return out;
    },
  };
}

/** Writes the page cap for every writer and waits until each listed writer acknowledged it. */
async function setPageLimit(file: string, value: string, writers: () => string[]): Promise<void> {
  writeFileSync(file, value);
  await until(() => writers().every((proc) => {
    try {
      return readFileSync(`${file}.${proc}`, 'utf8') === value;
    } catch {
      return false;
    }
  }), 15_000, `every writer to apply max_page_count ${value}`);
}

