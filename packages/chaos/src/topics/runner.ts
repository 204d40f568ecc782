/**
 * C12, "Consumer group crashes" (reliability.md §5.3): one run on one backend, from a fresh
 * database to a report.
 *
 * A run: a fresh database (SQLite file in a temp dir / PostgreSQL schema); the topic; K consumer
 * processes joining one group (consumers.ts); the producer publishing keyed messages with a
 * per-key sequence through a recorded client (proc `producer`) spread over the fault window
 * and two kill intervals after it,
 * while the nemesis (proc `nemesis`) SIGKILLs a random consumer every killEveryMs and starts it
 * again (drive.ts); a fault-free drain until the group has caught up; a graceful stop; the final
 * state read through an unrecorded backend; every process's history merged; the checker (all
 * of I1–I13: the job invariants are vacuous here, I9 and I10 are the point) and C12's own rules
 * (measure.ts); the report (report.ts).
 *
 * Owns: the run's lifecycle and cleanup. Invariants:
 * - Children, clients, the schema and the temp dir are released on every path (`finally`); the
 *   run's directory (histories, child logs, final state) is copied to `artifactsDir` first when
 *   the run failed or `keepArtifacts` is set.
 * - The final state is read only after every consumer process has exited.
 * - Nothing here loosens a rule: a drain that does not catch up is itself a violation.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type Logger } from '@spindle/core';
import { check } from '../checker.js';
import { readFinalState } from '../final-state.js';
import { Recorder, readHistoryFiles } from '../recorder.js';
import { type BackendKind, createDatabase, openBackend, targetEnv } from '../scenario/backends.js';
import type { ReportViolation } from '../scenario/report.js';
import { seededRandom } from '../scenario/settings.js';
import { ConsumerPool } from './consumers.js';
import { drain, produce, runNemesis } from './drive.js';
import { measureTopicRun } from './measure.js';
import type { TopicScenarioReport } from './report.js';
import { TOPIC_TIERS, type TopicScenarioSettings, type TopicTier } from './settings.js';

export interface TopicScenarioOptions {
  backend: BackendKind;
  tier: TopicTier;
  seed?: number;
  /** Copy the run's directory here when it fails (or always, with keepArtifacts). */
  artifactsDir?: string;
  keepArtifacts?: boolean;
  /** Overrides of the tier's numbers (e.g. fewer messages to fit a time budget). */
  settings?: Partial<TopicScenarioSettings>;
  log?: (message: string) => void;
}

function titleOf(tier: TopicTier, s: TopicScenarioSettings): string {
  const numbers = `${s.partitions} partitions, ${s.messages.toLocaleString('en-US')} messages, ${s.consumers} consumers, kill -9 every ${s.killEveryMs / 1000} s × ${s.kills}`;
  const full = TOPIC_TIERS.full;
  const scaled = tier === 'full' && (s.messages !== full.messages || s.partitions !== full.partitions || s.kills !== full.kills || s.killEveryMs !== full.killEveryMs || s.consumers !== full.consumers);
  return `Consumer group crashes (${tier === 'quick' ? 'quick: ' : scaled ? 'scaled to fit 3 min: ' : ''}${numbers})`;
}

export async function runTopicCrashScenario(options: TopicScenarioOptions): Promise<TopicScenarioReport> {
  const started = Date.now();
  const { backend, tier } = options;
  const s: TopicScenarioSettings = { ...TOPIC_TIERS[tier], ...options.settings };
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = (m: string): void => options.log?.(`[C12/${backend} +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  const dir = mkdtempSync(join(tmpdir(), `spindle-chaos-C12-${backend}-`));
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
  const logger: Logger = { debug() {}, info() {}, warn() {}, error: (obj, msg) => log(`producer client error: ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}`) };
  const producer = new Client({ backend: recorder('producer').wrap(raw), closeBackend: false, autoMigrate: false, maintenance: false, telemetry: false, tracing: false, logger });
  const nemesis = recorder('nemesis');
  const pool = new ConsumerPool({
    count: s.consumers, dir, env: targetEnv(db.target),
    config: { topic: s.topic, group: s.group, sessionMs: s.sessionMs, pollMs: s.pollMs, batchSize: s.batchSize },
  });
  let report: TopicScenarioReport | null = null;
  try {
    await producer.start();
    await producer.topics.create(s.topic, { partitions: s.partitions });
    log(`seed ${seed}; starting ${s.consumers} consumers in ${dir}`);
    await pool.start();
    const startAt = Date.now();
    // Publishing spans the fault window and two kill intervals after it (the "after" throughput).
    const publishOverMs = (s.kills + 2) * s.killEveryMs;
    log(`consumers joined; publishing ${s.messages} messages over ${publishOverMs / 1000} s, ${s.kills} kills every ${s.killEveryMs / 1000} s`);
    const [produced, kills] = await Promise.all([
      produce(producer, s, publishOverMs),
      runNemesis({ pool, nemesis, settings: s, random: seededRandom(seed), startAt, log }),
    ]);
    const faultsEndAt = Date.now();
    const killed = new Set(kills.map((k) => k.proc));
    const unexpectedExits = pool.all.filter((c) => c.exit !== null && !killed.has(c.proc)).map((c) => c.proc);
    log(`faults over (${produced.published} published in ${((produced.endedAt - produced.startedAt) / 1000).toFixed(1)} s); draining`);
    const drained = await drain(raw, pool, s, faultsEndAt + s.drainTimeoutMs);
    const unexpectedAfterDrain = pool.all.filter((c) => c.exit !== null && !killed.has(c.proc)).map((c) => c.proc);
    await pool.stop();
    await producer.close({ graceMs: 1000 });
    for (const r of recorders) r.close();
    const final = await readFinalState(raw);
    writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
    const files = readdirSync(dir);
    const ops = readHistoryFiles(files.filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f)));
    const childErrors = files.filter((f) => f.endsWith('.log')).reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => / error /.test(l)).length, 0);
    log(`checking ${ops.length} ops`);
    const checkStarted = Date.now();
    const result = check(ops, final);
    const m = measureTopicRun({ ops, final, topic: s.topic, group: s.group });
    const checkMs = Date.now() - checkStarted;
    const violations: ReportViolation[] = [
      ...result.violations.map((v) => ({ rule: v.invariant, message: v.message, ops: v.ops })),
      ...m.violations,
    ];
    if (!drained.caughtUp) violations.push({ rule: 'C12', message: `the group did not catch up within ${s.drainTimeoutMs} ms after the faults (lag ${drained.lag})` });
    for (const proc of unexpectedAfterDrain) violations.push({ rule: 'C12', message: `consumer ${proc} exited although nobody killed it (see ${proc}.log)` });
    report = {
      scenario: 'C12', title: titleOf(tier, s), tier, backend, seed,
      messages: produced.published, partitions: s.partitions, consumers: s.consumers,
      faults: ops.filter((o) => o.f === 'fault').length,
      freshMemberRestarts: kills.filter((k) => k.freshMember).length,
      unexpectedExits: unexpectedAfterDrain.length,
      lost: m.lost, staleAccepted: m.staleAccepted, staleRefused: m.staleRefused, unknownCommits: m.unknownCommits,
      duplicates: m.duplicates, duplicatesAfterKill: m.duplicatesAfterKill, duplicatesAfterMove: m.duplicatesAfterMove, duplicateBound: m.duplicateBound,
      maxResumeMs: m.maxResumeMs, p50ResumeMs: m.p50ResumeMs,
      throughputBaseline: m.throughputBaseline, throughputAfter: m.throughputAfter,
      publishRate: Math.round(s.messages / (publishOverMs / 1000)),
      drainMs: Math.max(0, drained.at - faultsEndAt),
      durationMs: Date.now() - started,
      ops: result.stats.ops, unknownOps: result.stats.unknownOps,
      details: {
        handlings: m.handlings, sessions: m.sessions, checkMs, childErrorLines: childErrors,
        unexpectedExitsDuringFaults: unexpectedExits,
        restartMs: kills.map((k) => k.restartedMs),
        resumeMs: m.resumeMs,
        publishMs: produced.endedAt - produced.startedAt,
      },
      violations,
    };
    log(`done: ${violations.length} violations`);
    return report;
  } finally {
    await pool.killAll().catch(() => {});
    await producer.close({ graceMs: 0 }).catch(() => {});
    for (const r of recorders) r.close();
    await raw.close().catch(() => {});
    await db.cleanup().catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
    if (options.artifactsDir && (options.keepArtifacts || !report || report.violations.length > 0)) {
      const to = join(options.artifactsDir, `C12-${backend}-${new Date(started).toISOString().replace(/[:.]/g, '-')}`);
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
