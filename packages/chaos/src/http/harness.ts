/**
 * The lifecycle of one HTTP scenario run: a fresh database; the recorded maintainer (proc
 * `maintainer`: leads maintenance, rescues every `sweepMs`, promotes due retries); the API
 * server as a child process on a fixed port; the scenario's drive; a fault-free drain through
 * the HTTP recorder (claim + complete until no job is left unfinished, 3 polls in a row); the
 * final state through an unrecorded backend; the merged histories; the checker and the
 * scenario's pass rules; the report.
 *
 * Owns: creating and releasing everything above. Invariants:
 * - The server, clients, recorders, schema and temp dir are released on every path (`finally`);
 *   the run's histories, server logs and final state are copied to `artifactsDir` first when the
 *   run failed (or `keepArtifacts`).
 * - Retention is off everywhere; the server child runs no maintenance, so every rescue is a
 *   recorded op (I6 counts lease_expired errors against recorded rescues).
 * - The final state is read after the server child has exited and the maintainer has closed.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, Client, type Logger } from '@spindle/core';
import { check, type CheckOptions, type CheckReport } from '../checker.js';
import { type FinalState, readFinalState } from '../final-state.js';
import type { Op } from '../history.js';
import { Model } from '../model.js';
import { freePort, sleep } from '../faults/nemesis.js';
import { readHistoryFiles, Recorder } from '../recorder.js';
import { type BackendKind, createDatabase, openBackend, targetEnv } from '../scenario/backends.js';
import type { ReportViolation } from '../scenario/report.js';
import { withTimeout } from '../scenario/workers.js';
import { HttpRecorder, type HttpStats, newHttpStats } from './http-recorder.js';
import type { HttpScenarioReport } from './report.js';
import { ApiServerProcess } from './server-process.js';

const TERMINAL = new Set(['completed', 'dead', 'cancelled']);
const NO_RETENTION = { completedMs: null, cancelledMs: null, deadMs: null };

export interface HttpRunContext {
  readonly backend: BackendKind;
  readonly seed: number;
  readonly dir: string;
  /** Unrecorded: counts and the final state only. */
  readonly raw: Backend;
  readonly server: ApiServerProcess;
  readonly nemesis: Recorder;
  /** Counters of every scenario client (the drain's are kept apart). */
  readonly stats: HttpStats;
  /** A recorded HTTP client under its own proc name (default: straight to the server). */
  client(proc: string, baseUrl?: string): HttpRecorder;
  /** Jobs not yet terminal. */
  pending(): Promise<number>;
  log(message: string): void;
  /** Set by the drive: figures for the report. */
  details: Record<string, unknown>;
  /** Set by the drive when its faults stopped (default: when the drive returned). */
  faultsEndAt: number | null;
}

export interface HttpRunResult {
  ops: Op[];
  final: FinalState;
  model: Model;
}

export interface HttpSpec {
  id: HttpScenarioReport['scenario'];
  title: string;
  tier: HttpScenarioReport['tier'];
  /** Queue the drain works. */
  queue: string;
  leaseMs: number;
  sweepMs: number;
  /** The drive: client loops and the nemesis. Returns the number of client operations. */
  drive(ctx: HttpRunContext): Promise<number>;
  /** The checker's options for this run (the duplicate bound, liveness). */
  checkOptions(ctx: HttpRunContext, run: HttpRunResult): CheckOptions;
  /** The scenario's own pass rules, and its figures (duplicates, faults). */
  judge(ctx: HttpRunContext, run: HttpRunResult, checked: CheckReport): { violations: ReportViolation[]; faults: number; duplicates: number; unkeyedDuplicates: number };
}

export interface HttpRunOptions {
  seed?: number;
  artifactsDir?: string;
  keepArtifacts?: boolean;
  log?: (message: string) => void;
}

const quietLogger = (log: (m: string) => void): Logger => ({ debug() {}, info() {}, warn() {}, error: (obj, msg) => log(`maintainer error: ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}`) });

export async function runHttp(spec: HttpSpec, backend: BackendKind, options: HttpRunOptions = {}): Promise<HttpScenarioReport> {
  const started = Date.now();
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = (m: string): void => options.log?.(`[${spec.id}/${backend} +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  const dir = mkdtempSync(join(tmpdir(), `spindle-chaos-${spec.id}-${backend}-`));
  const db = await createDatabase(backend, dir).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const raw = openBackend(db.target, 4);
  const recorders: Recorder[] = [];
  const recorder = (proc: string): Recorder => {
    const r = new Recorder({ proc, file: join(dir, `${proc}.jsonl`) });
    recorders.push(r);
    return r;
  };
  const nemesis = recorder('nemesis');
  const server = new ApiServerProcess({ dir, env: targetEnv(db.target), port: await freePort(), nemesis });
  const maintainer = new Client({
    backend: recorder('maintainer').wrap(raw), closeBackend: false, autoMigrate: false, retention: NO_RETENTION, telemetry: false, tracing: false, logger: quietLogger(log),
    maintenance: { rescueIntervalMs: spec.sweepMs, promoteIntervalMs: 250, leaderTtlMs: 10_000 },
  });
  let report: HttpScenarioReport | null = null;
  try {
    await maintainer.start();
    await withTimeout((async () => { while (!maintainer.isLeader) await sleep(20); })(), 15_000, 'the maintainer to lead maintenance');
    await server.start();
    log(`seed ${seed}; server on ${server.url}; driving (${dir})`);
    const stats = newHttpStats();
    const ctx: HttpRunContext = {
      backend, seed, dir, raw, server, nemesis, stats, details: {}, faultsEndAt: null, log,
      client: (proc, baseUrl) => new HttpRecorder({ recorder: recorder(proc), baseUrl: baseUrl ?? server.url, stats }),
      async pending() {
        const counts = await raw.countJobs({ queue: spec.queue });
        return counts.filter((c) => !TERMINAL.has(c.state)).reduce((n, c) => n + c.count, 0);
      },
    };
    const operations = await spec.drive(ctx);
    const faultsEndAt = ctx.faultsEndAt ?? Date.now();
    log(`drive done (${operations} operations); draining ${await ctx.pending()} pending jobs`);
    const drainStats = newHttpStats();
    await drain(ctx, new HttpRecorder({ recorder: recorder('drain'), baseUrl: server.url, stats: drainStats }), spec, faultsEndAt + 90_000);
    ctx.details.drainRequests = drainStats.requests;
    await server.stop();
    await maintainer.close({ graceMs: 1000 });
    for (const r of recorders) r.close();
    const final = await readFinalState(raw);
    writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
    const ops = readHistoryFiles(readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f)));
    log(`checking ${ops.length} ops`);
    const run: HttpRunResult = { ops, final, model: new Model(ops, final) };
    const checkOptions = spec.checkOptions(ctx, run);
    const checked = check(ops, final, checkOptions);
    const judged = spec.judge(ctx, run, checked);
    const violations: ReportViolation[] = [
      ...checked.violations.map((v) => ({ rule: v.invariant, message: v.message, ...(v.jobId ? { jobId: v.jobId } : {}), ops: v.ops })),
      ...judged.violations,
    ];
    const finished = final.jobs.map((j) => j.finishedAt ?? 0);
    ctx.details.http = { byStatus: stats.byStatus, byCode: stats.byCode, transport: stats.transport };
    report = {
      scenario: spec.id, title: spec.title, backend, tier: spec.tier, seed,
      jobs: final.jobs.length, messages: final.partitions.reduce((n, p) => n + p.messages.length, 0),
      operations, ops: checked.stats.ops, unknownOps: checked.stats.unknownOps,
      faults: judged.faults, restarts: server.all.length - 1,
      lost: checked.violations.filter((v) => v.invariant === 'I1').length,
      staleAccepted: checked.violations.filter((v) => v.invariant === 'I4').length,
      staleRefused: checked.stats.staleWritesRefused,
      duplicates: judged.duplicates, unkeyedDuplicates: judged.unkeyedDuplicates,
      duplicateExecutions: checked.stats.duplicateExecutions, bound: checkOptions.maxDuplicateExecutions ?? 0,
      drainMs: Math.max(0, Math.max(0, ...finished) - faultsEndAt),
      durationMs: Date.now() - started,
      details: ctx.details,
      violations,
    };
    log(`done: ${violations.length} violations`);
    return report;
  } finally {
    await server.killAll().catch(() => {});
    await maintainer.close({ graceMs: 0 }).catch(() => {});
    for (const r of recorders) r.close();
    await raw.close().catch(() => {});
    await db.cleanup().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
    if (options.artifactsDir && (options.keepArtifacts || !report || report.violations.length > 0)) {
      const to = join(options.artifactsDir, `${spec.id}-${backend}-${new Date(started).toISOString().replace(/[:.]/g, '-')}`);
      try {
        cpSync(dir, to, { recursive: true });
        if (report) report.artifacts = to;
      } catch (err) {
        log(`could not keep artifacts: ${String(err)}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fault-free drain: claim and complete over HTTP until no job is unfinished in 3 polls in a row. */
async function drain(ctx: HttpRunContext, http: HttpRecorder, spec: HttpSpec, deadline: number): Promise<void> {
  let empty = 0;
  while (empty < 3 && Date.now() < deadline) {
    const claimed = await http.claim(spec.queue, { workerId: 'drain', batch: 50, leaseMs: Math.max(spec.leaseMs, 5000) });
    for (const lease of claimed.leases) {
      for (let i = 0; i < 5; i++) if ((await http.complete(lease, { by: 'drain' })).kind !== 'unknown') break;
    }
    if (claimed.leases.length > 0) {
      empty = 0;
      continue;
    }
    empty = (await ctx.pending()) === 0 ? empty + 1 : 0;
    if (empty < 3) await sleep(150);
  }
  if (empty < 3) ctx.log(`drain deadline passed with ${await ctx.pending()} jobs pending`);
}

/** Extra copies of a value among stored items: Σ (count − 1) over values stored more than once. */
export function extraCopies(values: Iterable<string>): number {
  const seen = new Map<string, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  let n = 0;
  for (const c of seen.values()) if (c > 1) n += c - 1;
  return n;
}
