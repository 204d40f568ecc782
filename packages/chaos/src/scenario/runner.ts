/**
 * The scenario runner: one scenario on one backend, from a fresh database to a report.
 *
 * A run: create a fresh database (SQLite file in a temp dir / PostgreSQL schema); start the
 * runner's own recorded client (proc `runner`: it enqueues and leads maintenance with the
 * rescuer sweeping every `sweepMs`); start K worker processes; drive the scenario (enqueue the
 * planned jobs while the nemesis injects faults); stop faults; a fault-free drain (until every
 * job is terminal, seen in 3 polls in a row, or the liveness deadline); stop everything; read
 * the final state through an unrecorded backend; merge every process's history; run the checker
 * and the scenario's pass rules; return the report.
 *
 * Owns: the run's lifecycle and cleanup. Invariants:
 * - Children, clients, the schema and the temp dir are released on every path (`finally`);
 *   a run's artifacts are copied out first when `artifactsDir` is given and the run failed
 *   (or `keepArtifacts`).
 * - Retention is off everywhere (finished jobs stay until the final state is read).
 * - The final state is read only after every worker process has exited.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, Client, type ClientOptions, type Logger, newJobId } from '@spindle/core';
import { check, type CheckOptions } from '../checker.js';
import { type FinalState, readFinalState } from '../final-state.js';
import type { Op } from '../history.js';
import { Model } from '../model.js';
import { Recorder, readHistoryFiles } from '../recorder.js';
import { type BackendKind, createDatabase, openBackend, targetEnv } from './backends.js';
import { burstRate, explainedByWriteStalls, faultDisruptions, refusalsByCause, handlerDisruptions, orphanReclaimTimes, percentile, summarizeDisruptions, throughputAround, type DisruptionSummary } from './measure.js';
import type { ReportViolation, ScenarioReport } from './report.js';
import { DEFAULT_SETTINGS, type JobKind, type JobMix, type JobPayload, livenessBoundMs, planJobs, type ScenarioSettings, seededRandom } from './settings.js';
import { sleep, WorkerPool, withTimeout } from './workers.js';

const TERMINAL = new Set(['completed', 'dead', 'cancelled']);
const NO_RETENTION = { completedMs: null, cancelledMs: null, deadMs: null };

export interface RunContext {
  readonly spec: ScenarioSpec;
  readonly settings: ScenarioSettings;
  readonly backend: BackendKind;
  readonly dir: string;
  readonly random: () => number;
  /** Unrecorded: reads (counts, final state) only. */
  readonly raw: Backend;
  /** The runner's recorded client (proc `runner`): enqueues, maintenance. */
  readonly client: Client;
  readonly nemesis: Recorder;
  readonly pool: WorkerPool;
  readonly payloads: JobPayload[];
  /** Job id by payload value (`v`), filled as the producer enqueues. */
  readonly jobIds: Map<string, string>;
  /** When faults stopped (set by the nemesis; default: the end of the drive). */
  faultsEndAt: number | null;
  /** Set by the scenario: figures for the report's `details`. */
  details: Record<string, unknown>;
  /** Set by a scenario that measures throughput with bursts (before the faults, after them). */
  bursts: { baseline?: Burst; after?: Burst };
  /** Jobs not yet terminal. */
  pending(): Promise<number>;
  /** Enqueues `payloads` (all, or a slice) evenly over `overMs`, in batches. */
  enqueue(payloads: JobPayload[], overMs: number): Promise<void>;
  /** Another recorded client in this process under its own proc name (no maintenance). */
  recordedClient(proc: string): Client;
  log(message: string): void;
}

/** Jobs enqueued together at `startAt` (by payload value). */
export interface Burst {
  startAt: number;
  values: string[];
}

export interface RunResult {
  ops: Op[];
  final: FinalState;
  model: Model;
  disruptions: DisruptionSummary;
}

export interface ScenarioSpec {
  id: string;
  title: string;
  jobs: number;
  mix: JobMix;
  settings?: Partial<ScenarioSettings>;
  /** Spread the enqueues over this long (0: all at once). */
  enqueueOverMs: number;
  /** Runs alongside the producer; resolves when its faults are over (it sets faultsEndAt). */
  nemesis?(ctx: RunContext): Promise<void>;
  /** Replaces the default drive (enqueue alongside the nemesis). */
  drive?(ctx: RunContext): Promise<void>;
  /** Job kinds that disrupt their own worker (their leases count like a fault's). */
  disruptive?: Partial<Record<JobKind, { cause: string; firstAttemptOnly: boolean }>>;
  /** The checker's duplicate bound: a number, or (default) Σ in flight at each disruption. */
  maxDuplicates?: number;
  /** The scenario's own pass rules, after the checker. */
  passRules?(ctx: RunContext, result: RunResult): Promise<ReportViolation[]> | ReportViolation[];
}

export interface RunOptions {
  seed?: number;
  /** Copy the run's histories, logs and final state here when it fails (or always, with keepArtifacts). */
  artifactsDir?: string;
  keepArtifacts?: boolean;
  log?: (message: string) => void;
}

const quietLogger = (log: (m: string) => void): Logger => ({ debug() {}, info() {}, warn() {}, error: (obj, msg) => log(`runner client error: ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}`) });

export async function runScenario(spec: ScenarioSpec, backend: BackendKind, options: RunOptions = {}): Promise<ScenarioReport> {
  const started = Date.now();
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const settings: ScenarioSettings = { ...DEFAULT_SETTINGS, ...spec.settings };
  const log = (m: string): void => options.log?.(`[${spec.id}/${backend} +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  const dir = mkdtempSync(join(tmpdir(), `spindle-chaos-${spec.id}-${backend}-`));
  const db = await createDatabase(backend, dir).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const raw = openBackend(db.target, 4);
  const recorders: Recorder[] = [];
  const clients: Client[] = [];
  const pool = new WorkerPool({
    count: settings.workers, dir, restartDelayMs: settings.restartDelayMs,
    env: { ...targetEnv(db.target), CHAOS_WORKER: JSON.stringify({ queue: settings.queue, concurrency: settings.concurrency, leaseMs: settings.leaseMs, heartbeatMs: settings.heartbeatMs, pollIntervalMs: settings.pollIntervalMs }) },
  });
  let report: ScenarioReport | null = null;
  try {
    const recorder = (proc: string): Recorder => {
      const r = new Recorder({ proc, file: join(dir, `${proc}.jsonl`) });
      recorders.push(r);
      return r;
    };
    const newClient = (proc: string, maintenance: ClientOptions['maintenance']): Client => {
      const c = new Client({ backend: recorder(proc).wrap(raw), closeBackend: false, autoMigrate: false, maintenance, retention: NO_RETENTION, telemetry: false, tracing: false, logger: quietLogger(log) });
      clients.push(c);
      return c;
    };
    const client = newClient('runner', { rescueIntervalMs: settings.sweepMs, promoteIntervalMs: 250, leaderTtlMs: 10_000 });
    await client.start();
    await withTimeout((async () => { while (!client.isLeader) await sleep(20); })(), 15_000, 'the runner to lead maintenance');
    const payloads = planJobs(String(seed), spec.jobs, spec.mix, seededRandom(seed));
    const queue = client.queue<JobPayload>(settings.queue);
    const jobOpts = { maxRetries: settings.maxAttempts - 1, backoff: settings.backoff };
    let enqueueRetries = 0;
    const ctx: RunContext = {
      spec, settings, backend, dir, raw, client, pool, payloads, random: seededRandom(seed ^ 0x5bd1e995),
      nemesis: recorder('nemesis'), jobIds: new Map(), faultsEndAt: null, details: {}, bursts: {},
      async pending() {
        const counts = await raw.countJobs({ queue: settings.queue });
        return counts.filter((c) => !TERMINAL.has(c.state)).reduce((n, c) => n + c.count, 0);
      },
      async enqueue(list, overMs) {
        const t0 = Date.now();
        const batches = overMs <= 0 ? Math.ceil(list.length / 500) : Math.max(1, Math.ceil(overMs / 100));
        const per = Math.ceil(list.length / batches);
        for (let b = 0; b * per < list.length; b++) {
          if (overMs > 0) await sleep(Math.max(0, t0 + (b * overMs) / batches - Date.now()));
          const batch = list.slice(b * per, (b + 1) * per);
          // Caller-chosen ids make a retried batch idempotent (a failed call may have committed:
          // e.g. SQLITE_BUSY while a stopped worker holds the write lock).
          const jobs = batch.map((payload) => ({ name: payload.k, payload, opts: { ...jobOpts, id: newJobId() } }));
          for (let attempt = 1; ; attempt++) {
            try {
              await queue.addBulk(jobs);
              break;
            } catch (err) {
              if (attempt >= 8) throw err;
              enqueueRetries += 1;
              log(`enqueue failed (${String(err)}); retrying`);
              await sleep(100 * 2 ** attempt);
            }
          }
          jobs.forEach((j) => ctx.jobIds.set(j.payload.v, j.opts.id));
        }
      },
      recordedClient: (proc) => newClient(proc, false),
      log,
    };
    log(`seed ${seed}; starting ${settings.workers} workers in ${dir}`);
    await pool.start();
    log('workers ready; driving');
    if (spec.drive) await spec.drive(ctx);
    else await Promise.all([ctx.enqueue(payloads, spec.enqueueOverMs), spec.nemesis?.(ctx)]);
    const faultsEndAt = ctx.faultsEndAt ?? Date.now();
    if (enqueueRetries > 0) ctx.details.enqueueRetries = enqueueRetries;
    log(`faults over; draining (${await ctx.pending()} pending)`);
    await drain(ctx, livenessBoundMs(settings));
    await pool.stop();
    for (const c of clients) await c.close({ graceMs: 1000 });
    for (const r of recorders) r.close();
    const final = await readFinalState(raw);
    writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
    const ops = readHistoryFiles(readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f)));
    log(`checking ${ops.length} ops`);
    report = await judge(ctx, { ops, final, faultsEndAt, seed, started });
    log(`done: ${report.violations.length} violations`);
    return report;
  } finally {
    await pool.killAll().catch(() => {});
    for (const c of clients) await c.close({ graceMs: 0 }).catch(() => {});
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

/**
 * The fault-free drain: until every job is terminal in 3 polls in a row; given up once the
 * number of pending jobs has not changed for `stallMs` (nothing moves: the jobs left are
 * reported by I1) or after `capMs`. A long backlog still moving is waited for.
 */
async function drain(ctx: RunContext, stallMs: number, capMs = 15 * 60_000): Promise<void> {
  const cap = Date.now() + capMs;
  let empty = 0;
  let last = -1;
  let changedAt = Date.now();
  while (empty < 3 && Date.now() < cap && Date.now() - changedAt < stallMs) {
    const pending = await ctx.pending();
    if (pending !== last) [last, changedAt] = [pending, Date.now()];
    empty = pending === 0 ? empty + 1 : 0;
    if (empty < 3) await sleep(250);
  }
  if (empty < 3) ctx.log(`drain gave up with ${last} jobs pending (${Date.now() >= cap ? 'time cap' : `no change for ${stallMs} ms`})`);
}

async function judge(ctx: RunContext, run: { ops: Op[]; final: FinalState; faultsEndAt: number; seed: number; started: number }): Promise<ScenarioReport> {
  const { spec, settings } = ctx;
  const { ops, final } = run;
  const model = new Model(ops, final);
  const faults = faultDisruptions(ops);
  const causes = new Map<string, { cause: string; firstAttemptOnly: boolean }>();
  for (const p of ctx.payloads) {
    const c = spec.disruptive?.[p.k];
    const id = ctx.jobIds.get(p.v);
    if (c && id) causes.set(id, c);
  }
  const self = handlerDisruptions(ops, causes);
  const summary = summarizeDisruptions(model, [...faults, ...self]);
  // On SQLite a stopped worker may hold the write lock: every writer stalls (measure.ts).
  const stalls = ctx.backend === 'sqlite' ? faults.filter((f) => f.cause === 'SIGSTOP').map((f) => ({ from: f.at, to: f.op?.completeAt ?? Infinity })) : [];
  const stalled = new Set(explainedByWriteStalls(model, summary.unexplained, stalls));
  if (stalled.size > 0) {
    ctx.details.duplicatesFromWriteStalls = stalled.size;
    summary.unexplained = summary.unexplained.filter((l) => !stalled.has(l));
  }
  // Faults stop at the last nemesis heal; without a nemesis, at the end of the drive or the
  // last self-disruption (a poison job crashing or blocking its worker), whichever is later.
  const faultsEndAt = faults.length > 0 ? Math.max(...faults.map((f) => f.op?.completeAt ?? f.at)) : Math.max(run.faultsEndAt, ...self.map((d) => d.at));
  const options: CheckOptions = {
    maxDuplicateExecutions: spec.maxDuplicates ?? summary.bound + stalled.size,
    livenessBoundMs: livenessBoundMs(settings),
    faultsEndAt,
  };
  const result = check(ops, final, options);
  const violations: ReportViolation[] = result.violations.map((v) => ({ rule: v.invariant, message: v.message, ...(v.jobId ? { jobId: v.jobId } : {}), ops: v.ops }));
  if (spec.maxDuplicates === undefined) {
    for (const l of summary.unexplained) {
      violations.push({ rule: spec.id, jobId: l.jobId, message: `job ${l.jobId} attempt ${l.attempt} (${l.op.proc}) ran again although no fault caught it in flight`, ops: [`${l.op.proc}#${l.op.index} claim`] });
    }
  }
  violations.push(...(await (spec.passRules?.(ctx, { ops, final, model, disruptions: summary }) ?? [])));
  const reclaims = orphanReclaimTimes(model, faults);
  const refusals = refusalsByCause(model);
  const rateOf = (b: Burst | undefined): number | null => (b ? burstRate(ops, new Set(b.values.map((v) => ctx.jobIds.get(v)!).filter(Boolean)), b.startAt) : null);
  const tp = ctx.bursts.baseline ? { baseline: rateOf(ctx.bursts.baseline), after: rateOf(ctx.bursts.after) } : throughputAround(ops, ops.filter((o) => o.f === 'fault'));
  const finished = final.jobs.map((j) => j.finishedAt ?? 0);
  return {
    scenario: spec.id, title: spec.title, backend: ctx.backend, seed: run.seed, jobs: final.jobs.length,
    workers: settings.workers, concurrency: settings.concurrency,
    faults: faults.length, selfDisruptions: self.length, restarts: ctx.pool.all.length - settings.workers,
    lost: result.violations.filter((v) => v.invariant === 'I1').length,
    staleAccepted: result.violations.filter((v) => v.invariant === 'I4').length,
    staleRefused: refusals.takenOver,
    ownRaceRefused: refusals.ownRace,
    duplicateExecutions: result.stats.duplicateExecutions, bound: options.maxDuplicateExecutions!,
    maxInFlightAtFault: Math.max(0, ...summary.perDisruption),
    maxOrphanReclaimMs: percentile(reclaims, 100), p50OrphanReclaimMs: percentile(reclaims, 50), orphans: reclaims.length,
    throughputBaseline: tp.baseline, throughputAfter: tp.after,
    livenessBoundMs: options.livenessBoundMs!,
    drainMs: Math.max(0, Math.max(0, ...finished) - faultsEndAt),
    durationMs: Date.now() - run.started,
    ops: result.stats.ops, unknownOps: result.stats.unknownOps,
    details: ctx.details,
    violations,
  };
}
