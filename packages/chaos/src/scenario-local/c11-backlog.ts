/**
 * C11 (reliability.md §5.3): large backlog. A backlog of 1 KiB jobs is bulk-inserted straight
 * through an unrecorded backend into a queue of its own (`<queue>-backlog`, N queued) plus a DLQ
 * (`<queue>-dlq`, D dead, made dead through claim + finalize), first 10k, then N. At each size:
 * claim latency on the backlog queue itself (claims of 8 through the backend, each released), a
 * recorded burst of jobs on the run's queue run by the four workers (their claim latency from
 * the history), worker and runner RSS. At the big size, listings: page sizes are capped at
 * 1,000 (library, backend and HTTP API), first and deep pages and counts are timed.
 *
 * Owns the backlog and its removal. Invariants:
 * - The backlog never enters the history or the final state: it lives in other queues and is
 *   deleted (plain SQL by queue) before the drive returns, so the checker judges exactly the
 *   recorded bursts (I1–I13, no duplicate executions: bound 0).
 * - Figures (latencies, RSS, times) are reported, never asserted; the pass rules are the
 *   non-timing ones: the caps hold (a page never has more than 1,000 jobs; asking for more is
 *   refused or capped) and the backlog really had its size when measured.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { newJobId } from '@spindle/core';
import { childCommand } from '../faults/sqlite-busy.js';
import { targetEnv } from '../scenario/backends.js';
import type { ReportViolation } from '../scenario/report.js';
import type { RunContext, ScenarioSpec } from '../scenario/runner.js';
import { percentile } from '../scenario/measure.js';
import { sleep } from '../scenario/workers.js';
import { produce, round1, rssKiB, runTarget, type Tier, untilSettled } from './common.js';
import { SpindleServer } from '@spindle/server';

const here = fileURLToPath(import.meta.url);
const BACKLOG_SCRIPT = join(here, '..', here.endsWith('.js') ? 'backlog-child.js' : 'backlog-child.ts');

interface Sizes {
  backlog: number;
  dlq: number;
  burst: number;
  samples: number;
}

/** Full tier: §5.3's numbers, 1 M queued + a DLQ of 100k, on both backends (~2 min each here). */
const SIZES: Record<Tier, Record<'sqlite' | 'postgres', Sizes>> = {
  quick: {
    sqlite: { backlog: 50_000, dlq: 5_000, burst: 1000, samples: 200 },
    postgres: { backlog: 50_000, dlq: 5_000, burst: 1000, samples: 200 },
  },
  full: {
    sqlite: { backlog: 1_000_000, dlq: 100_000, burst: 2000, samples: 400 },
    postgres: { backlog: 1_000_000, dlq: 100_000, burst: 2000, samples: 400 },
  },
};
const SMALL = 10_000;
const NO_RETENTION = { completedMs: null, cancelledMs: null, deadMs: null };

interface Phase {
  backlog: number;
  dlq: number;
  directClaimMs: { p50: number | null; p99: number | null; max: number | null };
  workerClaimMs: { p50: number | null; p99: number | null; n: number };
  burstMs: number;
  workerRssMiB: number[];
  runnerRssMiB: number;
  /** CPU seconds the workers used during the burst. */
  workerCpuSec: number;
  /** SQLite: database and WAL file sizes. */
  files?: { dbMiB: number; walMiB: number };
}

export function c11(tier: Tier): ScenarioSpec {
  // Bursts and samples are the same on both backends; the backlog size is read per run.
  let z = SIZES[tier].sqlite;
  const phases: Phase[] = [];
  const caps: string[] = [];
  return {
    id: 'C11',
    title: 'large backlog',
    jobs: 2 * SIZES[tier].sqlite.burst,
    mix: { slowShare: 0, noop: false },
    enqueueOverMs: 0,
    maxDuplicates: 0,
    async drive(ctx) {
      phases.length = 0; // a spec object may be run again
      caps.length = 0;
      z = SIZES[tier][ctx.backend];
      const backlogQueue = `${ctx.settings.queue}-backlog`;
      const dlqQueue = `${ctx.settings.queue}-dlq`;
      const t0 = Date.now();
      try {
        await loadBacklog(ctx, { queue: backlogQueue, dlqQueue, from: 0, n: SMALL, dead: 0 });
        ctx.log(`backlog ${SMALL} queued`);
        phases.push(await measure(ctx, backlogQueue, ctx.payloads.slice(0, z.burst), z.samples, SMALL, 0));
        const cpu0 = workerCpu(ctx);
        const loaded = await loadBacklog(ctx, { queue: backlogQueue, dlqQueue, from: SMALL, n: z.backlog - SMALL, dead: z.dlq });
        const inserted = z.backlog;
        const dead = loaded.dead;
        ctx.log(`backlog ${inserted} queued (${loaded.insertMs} ms), ${dead} dead (${loaded.dlqMs} ms)`);
        ctx.details.insert = { jobsPerSec: Math.round(((z.backlog - SMALL) / loaded.insertMs) * 1000), insertMs: loaded.insertMs, dlqMs: loaded.dlqMs, workerCpuSecWhileLoading: round1(workerCpu(ctx) - cpu0) };
        phases.push(await measure(ctx, backlogQueue, ctx.payloads.slice(z.burst), z.samples, inserted, dead));
        ctx.log('big phase measured; listings');
        ctx.details.listings = await listings(ctx, backlogQueue, caps);
      } finally {
        const r0 = Date.now();
        await deleteQueues(ctx, [backlogQueue, dlqQueue]);
        ctx.details.cleanupMs = Date.now() - r0;
        ctx.log(`backlog deleted (${ctx.details.cleanupMs as number} ms)`);
        ctx.details.backlogPhaseMs = Date.now() - t0;
      }
      ctx.faultsEndAt = Date.now();
    },
    passRules(ctx) {
      const out: ReportViolation[] = caps.map((message) => ({ rule: 'C11', message }));
      const [small, big] = phases;
      if (!small || !big) out.push({ rule: 'C11', message: 'the backlog phases did not both run' });
      else if (big.backlog < z.backlog || big.dlq < z.dlq) out.push({ rule: 'C11', message: `the big phase ran with ${big.backlog} queued / ${big.dlq} dead, not ${z.backlog} / ${z.dlq}` });
      ctx.details.phases = phases;
      if (small && big) {
        const ratio = (a: number | null, b: number | null): number | null => (a && b ? Math.round((b / a) * 100) / 100 : null);
        ctx.details.targets = {
          directClaimP99Ratio: ratio(small.directClaimMs.p99, big.directClaimMs.p99),
          workerClaimP99Ratio: ratio(small.workerClaimMs.p99, big.workerClaimMs.p99),
          workerRssGrowthMiB: Math.max(...big.workerRssMiB.map((r, i) => r - (small.workerRssMiB[i] ?? r))),
          runnerRssGrowthMiB: big.runnerRssMiB - small.runnerRssMiB,
          targets: 'claim p99 ≤ 2× its value at 10k; RSS ≤ baseline + 100 MiB (reported, not asserted)',
        };
      }
      return out;
    },
  };
}

/** Runs backlog-child.ts to completion: `n` queued jobs into `queue` (ids from `from`), `dead` dead ones into `dlqQueue`. */
async function loadBacklog(ctx: RunContext, o: { queue: string; dlqQueue: string; from: number; n: number; dead: number }): Promise<{ insertMs: number; dlqMs: number; dead: number }> {
  const log = openSync(join(ctx.dir, 'backlog.log'), 'a');
  const child = spawn(process.execPath, childCommand(BACKLOG_SCRIPT), { env: { ...process.env, ...targetEnv(runTarget(ctx)), CHAOS_BACKLOG: JSON.stringify(o) }, stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const line = out.split('\n').find((l) => l.includes('"ev":"done"'));
  if (code !== 0 || !line) throw new Error(`the backlog loader failed (exit ${String(code)}; see backlog.log)`);
  return JSON.parse(line) as { insertMs: number; dlqMs: number; dead: number };
}

async function measure(ctx: RunContext, backlogQueue: string, burst: RunContext['payloads'], samples: number, backlog: number, dlq: number): Promise<Phase> {
  const direct: number[] = [];
  for (let i = 0; i < samples; i++) {
    const c0 = performance.now();
    const jobs = await ctx.raw.claimJobs({ queue: backlogQueue, limit: 8, leaseMs: 30_000, workerId: 'c11-probe' });
    direct.push(performance.now() - c0);
    await ctx.raw.finalizeJobs({ retention: NO_RETENTION, items: jobs.map((j) => ({ id: j.id, attempt: j.attempt, leaseToken: j.leaseToken, kind: 'release' as const })) });
  }
  ctx.log(`${samples} direct claims on the ${backlog}-job backlog: p99 ${Math.round((percentile(direct, 99) ?? 0) * 100) / 100} ms`);
  const from = Date.now();
  const cpu0 = workerCpu(ctx);
  // Paced below what the workers can take (~250/s): a saturated SQLite file starves a writer of
  // the write lock (its heartbeats too) past the lease whatever the backlog — measured apart.
  await produce(ctx.client.queue(ctx.settings.queue), burst.map((payload) => ({ payload, id: newJobId() })), {
    overMs: Math.round((burst.length / 250) * 1000), maxOpts: { maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff },
    onAcked: (b) => b.forEach((it) => ctx.jobIds.set(it.payload.v, it.id)),
  });
  await untilSettled(ctx, { stallMs: 60_000 });
  const burstMs = Date.now() - from;
  ctx.log(`burst of ${burst.length} jobs run in ${burstMs} ms`);
  await sleep(500);
  const ms = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);
  const workerClaims = readWorkerClaims(ctx, from);
  return {
    backlog, dlq,
    directClaimMs: { p50: ms(percentile(direct, 50)), p99: ms(percentile(direct, 99)), max: ms(percentile(direct, 100)) },
    workerClaimMs: { p50: ms(percentile(workerClaims, 50)), p99: ms(percentile(workerClaims, 99)), n: workerClaims.length },
    burstMs,
    workerRssMiB: ctx.pool.slots.map((w) => Math.round((rssKiB(w.pid) ?? 0) / 1024)),
    runnerRssMiB: Math.round(process.memoryUsage().rss / 1024 / 1024),
    workerCpuSec: round1(workerCpu(ctx) - cpu0),
    ...fileSizes(ctx),
  };
}

/** CPU seconds (user + system) used so far by the run's current worker processes (/proc). */
function workerCpu(ctx: RunContext): number {
  let ticks = 0;
  for (const w of ctx.pool.slots) {
    try {
      const stat = readFileSync(`/proc/${w.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

function fileSizes(ctx: RunContext): { files?: { dbMiB: number; walMiB: number } } {
  const t = runTarget(ctx);
  if (t.kind !== 'sqlite') return {};
  const mib = (p: string): number => {
    try {
      return Math.round(statSync(p).size / 1024 / 1024);
    } catch {
      return 0;
    }
  };
  return { files: { dbMiB: mib(t.path), walMiB: mib(`${t.path}-wal`) } };
}

/** Durations of the workers' claims (that took jobs) since `from`, read from their history files. */
function readWorkerClaims(ctx: RunContext, from: number): number[] {
  const out: number[] = [];
  for (const w of ctx.pool.slots) {
    const invokes = new Map<number, number>();
    const text = requireText(`${ctx.dir}/${w.proc}.jsonl`);
    for (const line of text.split('\n')) {
      if (!line) continue;
      const o = JSON.parse(line) as { type: string; index: number; f?: string; t: number; value?: { leases?: unknown[] } };
      if (o.type === 'invoke' && o.f === 'claim' && o.t >= from) invokes.set(o.index, o.t);
      else if (o.type === 'ok' && invokes.has(o.index) && (o.value?.leases?.length ?? 0) > 0) out.push(o.t - invokes.get(o.index)!);
    }
  }
  return out;
}

function requireText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function listings(ctx: RunContext, backlogQueue: string, caps: string[]): Promise<Record<string, unknown>> {
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const t = performance.now();
    const v = await fn();
    return [v, Math.round(performance.now() - t)];
  };
  const out: Record<string, unknown> = {};
  const [first, firstMs] = await timed(() => ctx.client.listJobs({ filter: { queue: backlogQueue }, limit: 1000 }));
  if (first.jobs.length > 1000) caps.push(`listJobs(limit 1000) returned ${first.jobs.length} jobs`);
  let cursor = first.nextCursor;
  let deepMs = 0;
  for (let p = 0; p < 20 && cursor; p++) {
    const [page, t] = await timed(() => ctx.client.listJobs({ filter: { queue: backlogQueue }, limit: 1000, cursor }));
    deepMs = Math.max(deepMs, t);
    cursor = page.nextCursor;
  }
  const [dlqPage, dlqMs] = await timed(() => ctx.client.dlq.list({ limit: 1000 }));
  if (dlqPage.jobs.length > 1000) caps.push(`dlq.list(limit 1000) returned ${dlqPage.jobs.length} jobs`);
  for (const [name, call] of [
    ['listJobs', () => ctx.client.listJobs({ filter: { queue: backlogQueue }, limit: 1001 })],
    ['dlq.list', () => ctx.client.dlq.list({ limit: 5000 })],
  ] as Array<[string, () => Promise<{ jobs: unknown[] }>]>) {
    const r = await call().then((p) => p.jobs.length, (e: unknown) => (e as { code?: string }).code ?? String(e));
    if (typeof r === 'number' && r > 1000) caps.push(`${name} with a limit above 1,000 returned ${r} jobs`);
    out[`${name}Over1000`] = r;
  }
  const raw = await ctx.raw.listJobs({ filter: { queue: backlogQueue }, limit: 5000 }).then((p) => p.jobs.length, (e: unknown) => (e as { code?: string }).code ?? String(e));
  // The Backend SPI's `limit` is documented 1..1000 and checked by the core before every call;
  // a backend called directly does not check it. Reported, not judged (no caller reaches it).
  out.backendListOver1000 = raw;
  const [, countMs] = await timed(() => ctx.client.counts());
  const [, depthMs] = await timed(() => ctx.raw.dlqDepth({}));
  const [, groupsMs] = await timed(() => ctx.raw.dlqGroups({ limit: 50 }));
  out.timesMs = { firstPage: firstMs, deepestOf20Pages: deepMs, dlqFirstPage: dlqMs, counts: countMs, dlqDepth: depthMs, dlqGroups: groupsMs };
  out.http = await httpCaps(ctx, backlogQueue, `${ctx.settings.queue}-dlq`, caps);
  return out;
}

async function httpCaps(ctx: RunContext, backlogQueue: string, dlqQueue: string, caps: string[]): Promise<Record<string, unknown>> {
  const server = new SpindleServer(ctx.client, { port: 0, dashboard: false, logger: false, alerts: { builtin: false } });
  const url = await server.start();
  try {
    const get = async (path: string): Promise<{ status: number; jobs: number | null; ms: number }> => {
      const t = performance.now();
      const res = await fetch(`${url}${path}`);
      const body = (await res.json()) as { jobs?: unknown[] };
      return { status: res.status, jobs: Array.isArray(body.jobs) ? body.jobs.length : null, ms: Math.round(performance.now() - t) };
    };
    const q = encodeURIComponent(backlogQueue);
    const r = {
      jobs1000: await get(`/api/v1/jobs?queue=${q}&limit=1000`),
      jobs1001: await get(`/api/v1/jobs?queue=${q}&limit=1001`),
      dlq1000: await get(`/api/v1/dlq/${encodeURIComponent(dlqQueue)}/jobs?limit=1000`),
      dlq5000: await get(`/api/v1/dlq/${encodeURIComponent(dlqQueue)}/jobs?limit=5000`),
    };
    for (const [k, v] of Object.entries(r)) {
      if (v.jobs !== null && v.jobs > 1000) caps.push(`HTTP ${k} returned ${v.jobs} jobs`);
      if (v.status >= 500) caps.push(`HTTP ${k} answered ${v.status}`);
    }
    return r;
  } finally {
    await server.stop();
  }
}

/** Deletes every job of `queues` with plain SQL (the backlog is not the run's to judge); PostgreSQL: then VACUUM. */
async function deleteQueues(ctx: RunContext, queues: string[]): Promise<void> {
  const target = runTarget(ctx);
  if (target.kind === 'sqlite') {
    const db = new Database(target.path, { timeout: 60_000 });
    try {
      const del = db.prepare(`DELETE FROM spindle_jobs WHERE queue = ?`);
      for (const q of queues) del.run(q);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    await client.query(`DELETE FROM "${target.schema}".jobs WHERE queue = ANY($1)`, [queues]);
    // Without it the run's own reads (pending counts, the final state) walk a million dead tuples.
    await client.query(`VACUUM (ANALYZE) "${target.schema}".jobs`);
  } finally {
    await client.end();
  }
}
