/**
 * The PostgreSQL fault scenarios' quick tier (reliability.md §5.3 C3, C4, C5, C16), each on its
 * own private PostgreSQL cluster (never the machine's shared instance), C5 behind the TCP proxy.
 * PostgreSQL only: SQLite has no server to restart, connections to kill, network or xmin.
 *
 * Each run ends with a fault-free drain, the checker (I1–I13; duplicates bounded by the leases
 * the fault windows caught) and the scenario's pass rules; the assertions are that the report
 * has no violations, plus the counts that show the faults really happened. Measured times
 * (resumption after a restart, call hangs across a blackhole, HTTP answer times, throughput)
 * are logged, never asserted. A failed run's histories are copied to $CHAOS_ARTIFACTS (default
 * <tmpdir>/spindle-chaos-artifacts).
 *
 * C3 is marked TODO — only — when the run's sole violations are the checker's I5/I6 for claims
 * PostgreSQL acknowledged and lost in an immediate shutdown (C3_LOST_CLAIMS, an open engine
 * finding); any other violation fails it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeViolations, markdownTable, type ScenarioReport } from '../src/scenario/report.js';
import { type DbScenarioId, runDbScenario } from '../src/scenario-db/index.js';

const ARTIFACTS = process.env.CHAOS_ARTIFACTS ?? join(tmpdir(), 'spindle-chaos-artifacts');
const verbose = process.env.CHAOS_VERBOSE === '1';

/**
 * Open engine finding of C3 (reported to the lead: fixing it reverses a decision of ADR 0007).
 * The checker's I5/I6 violations it causes are named in the report (`claimsLostInCrash`); only
 * those mark the test TODO, any other violation fails it.
 */
const C3_LOST_CLAIMS = 'engine: claims commit with synchronous_commit = off (docs/decisions/0007); a claim answered just before `pg_ctl stop -m immediate` can be lost in the crash: the job is queued again at its old attempt and claimed a second time at that attempt (I5), the lost run not counted (I6)';

async function runReport(id: DbScenarioId): Promise<ScenarioReport> {
  const report = await runDbScenario(id, 'quick', {
    artifactsDir: ARTIFACTS,
    ...(verbose ? { log: (m: string) => void process.stderr.write(`${m}\n`) } : {}),
  });
  process.stderr.write(`${markdownTable([report]).split('\n').slice(2).join('\n')}\n  details: ${JSON.stringify(report.details).slice(0, 1500)}\n`);
  return report;
}

async function run(id: DbScenarioId): Promise<ScenarioReport> {
  return assertClean(await runReport(id), []);
}

/** No violations but the `known` ones; the figures every run must show. */
function assertClean(report: ScenarioReport, known: ScenarioReport['violations']): ScenarioReport {
  const others = report.violations.filter((v) => !known.includes(v));
  assert.deepEqual(others, [], `${report.scenario}:\n${describeViolations({ ...report, violations: others })}\nartifacts: ${report.artifacts ?? '—'}`);
  assert.equal(report.backend, 'postgres');
  assert.equal(report.lost, 0);
  assert.equal(report.staleAccepted, 0);
  assert.ok(report.duplicateExecutions <= report.bound, `duplicates ${report.duplicateExecutions} ≤ bound ${report.bound}`);
  return report;
}

describe('PostgreSQL fault scenarios, quick tier (private cluster)', () => {
  it('C3: restart PostgreSQL (-m immediate and -m fast, ~3 s down) under load: nothing lost, no stale write, every worker works again, HTTP answers 503 not 500', { timeout: 150_000 }, async (t) => {
    const report = await runReport('C3');
    const lost = new Set((report.details.claimsLostInCrash as Array<{ jobId: string }>).map((x) => x.jobId));
    const known = report.violations.filter((v) => (v.rule === 'I5' || v.rule === 'I6') && v.jobId !== undefined && lost.has(v.jobId));
    const r = assertClean(report, known);
    const restarts = r.details.restarts as Array<{ mode: string }>;
    assert.equal(r.faults, 3);
    assert.deepEqual(restarts.map((x) => x.mode).sort(), ['fast', 'immediate', 'immediate']);
    const resumed = r.details.resumeAfterRestart as Array<{ silentWorkers: string[] }>;
    assert.equal(resumed.length, 3);
    for (const x of resumed) assert.deepEqual(x.silentWorkers, [], 'every worker made progress again after the restart');
    const http = r.details.http as { duringOutage: number; wrongStatus: number; statuses: Record<string, number> };
    assert.ok(http.duringOutage > 0, 'the HTTP API was asked during the outages');
    assert.ok((http.statuses['503'] ?? 0) > 0, 'and answered 503');
    assert.equal(http.wrongStatus, 0);
    assert.ok(r.throughputBaseline !== null && r.throughputAfter !== null, 'throughput measured before and after');
    // Last, so that every other assertion above still fails the test.
    if (known.length > 0) t.todo(`${C3_LOST_CLAIMS} — ${lost.size} claim(s) lost this run`);
  });

  it('C4: kill every app connection every 3 s (+ a claim and a finalize statement, targeted): one terminal transition per job, retried outcomes idempotent or refused', { timeout: 150_000 }, async () => {
    const r = await run('C4');
    const rounds = r.details.rounds as Array<{ killed?: number; target?: string }>;
    assert.equal(r.faults, 8);
    assert.ok(rounds.filter((x) => x.target === undefined).every((x) => (x.killed ?? 0) > 0), 'each round killed connections');
    assert.deepEqual(rounds.filter((x) => x.target).map((x) => x.target), ['claim', 'finalize']);
    assert.ok(r.details.outcomeRetries !== undefined);
  });

  it('C5: blackhole the DB network (twice) and add 500 ± 200 ms latency: nothing lost, jobs recovered, work resumes after each heal', { timeout: 150_000 }, async () => {
    const r = await run('C5');
    assert.equal(r.faults, 3, 'two blackholes and a latency phase');
    const resumed = r.details.resumeAfterBlackhole as Array<{ silentWorkers: string[] }>;
    for (const x of resumed) assert.deepEqual(x.silentWorkers, [], 'every worker made progress again after the blackhole');
    const hangs = r.details.hangsAcrossBlackholes as { calls: number };
    assert.ok(hangs.calls > 0, 'calls were in flight across the blackholes (their durations are measured)');
  });

  it('C16: a REPEATABLE READ transaction holds xmin under a steady job rate: nothing lost; throughput and dead tuples measured', { timeout: 150_000 }, async () => {
    const r = await run('C16');
    assert.equal(r.faults, 1);
    assert.ok(r.details.holderXmin !== null, 'the holder pinned an xmin');
    const tuples = r.details.deadTuples as Array<{ dead: number }>;
    assert.ok(tuples.length > 2);
    assert.ok(r.details.duringHoldMinPercent !== undefined && r.details.recoveredTo95PercentAfterMs !== undefined);
  });
});
