/**
 * Quick tiers of the scenarios in src/scenario-local (reliability.md §5.3), per PR:
 * - C7 SQLite busy (SQLite): 4 locks of 2 s by another process at 200 enqueues/s — no untyped
 *   error and no 500 reaches a client, 0 SQLITE_BUSY_SNAPSHOT, duplicates only from leases a lock
 *   stopped;
 * - C8 disk full (SQLite): 2 fill/heal cycles on every writer's connection — refusals typed, no
 *   partial write, recovery by itself, integrity_check ok;
 * - C6 clock jumps, short: worker clocks ±1 h and 10× on PostgreSQL (no effect at all); on
 *   SQLite, steps of every writer's clock by +5 × lease and −10 min (early redelivery only);
 * - C14 SIGTERM rolling restart (both backends): 4 graceful restarts, nothing left running.
 *
 * Each run ends with a fault-free drain, the checker (I1–I13) and the scenario's pass rules; the
 * assertion is that the report has no violations, plus counts showing the fault happened.
 * Timings are logged, never asserted. C11 (large backlog) runs only in the full tier (cli).
 * A failed run's histories are copied to $CHAOS_ARTIFACTS (default <tmpdir>/spindle-chaos-artifacts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendKind } from '../src/scenario/backends.js';
import { describeViolations, markdownTable, type ScenarioReport } from '../src/scenario/report.js';
import { runScenario } from '../src/scenario/runner.js';
import { LOCAL_SCENARIOS } from '../src/scenario-local/index.js';

const ARTIFACTS = process.env.CHAOS_ARTIFACTS ?? join(tmpdir(), 'spindle-chaos-artifacts');
const verbose = process.env.CHAOS_VERBOSE === '1';

/** Open engine limitation found by C6 on SQLite (see the scenario's header and the report). */
const C6_STRETCH = 'engine (SQLite): a backward step of the host clock stretches every lease written before it by the size of the step — the rescuer judges expiry with its own wall clock (state-sql.ts nowMs) and there is no monotonic bound on a lease';

async function run(id: string, backend: BackendKind, known: readonly string[] = []): Promise<ScenarioReport> {
  const report = await runScenario(LOCAL_SCENARIOS[id]!('quick'), backend, {
    artifactsDir: ARTIFACTS,
    ...(verbose ? { log: (m: string) => void process.stderr.write(`${m}\n`) } : {}),
  });
  process.stderr.write(`${markdownTable([report]).split('\n').slice(2).join('\n')}\n  details: ${JSON.stringify(report.details).slice(0, 800)}\n`);
  const unexpected = report.violations.filter((v) => !known.includes(v.rule));
  assert.deepEqual(unexpected, [], `${id} on ${backend}:\n${describeViolations({ ...report, violations: unexpected })}\nartifacts: ${report.artifacts ?? '—'}`);
  assert.equal(report.lost, 0);
  assert.equal(report.staleAccepted, 0);
  assert.ok(report.duplicateExecutions <= report.bound, `duplicates ${report.duplicateExecutions} ≤ bound ${report.bound}`);
  return report;
}

describe('scenario-local quick tier', () => {
  it('C7 SQLite busy: 4 × 2 s BEGIN EXCLUSIVE at 200 enqueues/s — typed retryable errors or waits, never an untyped error or a 500', { timeout: 120_000 }, async () => {
    const r = await run('C7', 'sqlite');
    assert.equal(r.faults, 4, 'four locks');
    const p = r.details.producers as { runner: { untyped: number }; c7clientLibrary: { typedRetryable: number; untyped: number }; c7clientHttp: { status: Record<string, number>; bad: number } };
    assert.equal(p.runner.untyped + p.c7clientLibrary.untyped + p.c7clientHttp.bad, 0);
    assert.ok(p.c7clientLibrary.typedRetryable > 0, 'the short-timeout producer met the locks (typed BackendError)');
    assert.ok((p.c7clientHttp.status['503'] ?? 0) > 0, 'the API answered 503 + Retry-After during a lock');
  });

  it('C8 disk full (SQLite): every writer capped, then healed — typed refusals, no partial write, recovery, integrity ok', { timeout: 120_000 }, async () => {
    const r = await run('C8', 'sqlite');
    assert.equal(r.faults, 2, 'two fills');
    assert.equal(r.details.integrityCheck, 'ok');
    const refused = r.details.refusedWrites as { producerCalls: number; backendCallsFull: number };
    assert.ok(refused.producerCalls > 0 && refused.backendCallsFull > 0, 'writes were refused with SQLITE_FULL');
  });

  it('C6 clock jumps (PostgreSQL): worker clocks +1 h, −1 h, 10× — no effect (no lease lost, timeouts on time)', { timeout: 150_000 }, async () => {
    const r = await run('C6', 'postgres');
    assert.equal(r.faults, 3, 'three clock settings');
    assert.equal(r.duplicateExecutions, 0);
    const extras = r.details.extras as { mustTimeOut: number; mustTimeOutDead: number; timedOkTimedOut: number };
    assert.ok(extras.mustTimeOut > 0);
    assert.equal(extras.mustTimeOutDead, extras.mustTimeOut);
    assert.equal(extras.timedOkTimedOut, 0);
  });

  describe('C6 clock jumps (SQLite): every writer steps +5 × lease, then −10 min', () => {
    let report: ScenarioReport | null = null;
    it('early redelivery only: no stale write, no loss, I1–I13', { timeout: 150_000 }, async () => {
      report = await run('C6', 'sqlite', ['C6-stretch']);
      assert.equal(report.faults, 4, 'two steps, two kills');
    });
    // TODO until the engine bounds a lease on a monotonic clock (C6_STRETCH): reported as such.
    it('a backward step does not stretch a lease written before it', { todo: C6_STRETCH }, () => {
      assert.ok(report, 'the scenario ran');
      assert.deepEqual(report.violations.filter((v) => v.rule === 'C6-stretch').map((v) => v.message), []);
    });
  });

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`C14 SIGTERM rolling restart (${backend}): 4 graceful restarts — in-flight jobs finish or are released, nothing left running`, { timeout: 120_000 }, async () => {
      const r = await run('C14', backend);
      assert.equal(r.faults, 4, 'four restarts');
      const stops = r.details.stops as Array<{ exitCode: number | null; leftRunning: number }>;
      assert.ok(stops.every((s) => s.exitCode === 0 && s.leftRunning === 0));
    });
  }
});
