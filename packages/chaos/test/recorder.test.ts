/**
 * The recorder against the real backends (SQLite file, PostgreSQL schema): a short run through
 * the recorded Backend — enqueue, claim, heartbeat, a retry, a lease that expires and is rescued
 * and re-claimed, the stopped holder's late completion (must be recorded as refused lease_lost),
 * a topic with two consumers and a stale-generation commit (refused) — then the final state, read
 * through the unrecorded backend, and the recorded history must pass every invariant. Also: two
 * processes' files (one recorder each) merge into one history.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type JobInsert, newJobId, type RetentionDefaults } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { makeTestBackend } from '../../postgres/test/helpers.js';
import { check } from '../src/checker.js';
import { readFinalState } from '../src/final-state.js';
import { Recorder, readHistoryFiles } from '../src/recorder.js';
import type { Op } from '../src/history.js';

const RETENTION: RetentionDefaults = { completedMs: null, cancelledMs: null, deadMs: null };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function insert(id: string, v: string): JobInsert {
  return {
    id, queue: 'chaos', name: 'work', payload: JSON.stringify({ v, n: 1 }), priority: 500, maxRetries: 3, delayMs: null, runAt: null,
    uniqueKey: null, timeoutMs: null, backoff: null, retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

async function claimOne(b: Backend, workerId: string, leaseMs: number) {
  const [job] = await b.claimJobs({ queue: 'chaos', workerId, limit: 1, leaseMs });
  assert.ok(job, `${workerId} claimed a job`);
  return job;
}

/** The short run; `w1` and `w2` are two recorded views of the database (two "processes"). */
async function shortRun(w1: Backend, w2: Backend): Promise<void> {
  const ids = [newJobId(), newJobId(), newJobId()];
  // One job at a time, so each claim takes the job its step is about.
  const enqueue = (i: number) => w1.insertJobs({ jobs: [insert(ids[i]!, `run-1-${i}`)] });
  await enqueue(0);
  // Job 0: claimed, heartbeated, completed.
  const a = await claimOne(w1, 'w1', 5000);
  assert.deepEqual((await w1.extendLeases({ leases: [a], leaseMs: 5000 })).map((o) => o.outcome), ['ok']);
  assert.deepEqual(await w1.finalizeJobs({ items: [{ ...a, kind: 'complete', result: JSON.stringify({ by: 'w1' }) }], retention: RETENTION }), ['ok']);
  // Job 1: w1's lease expires (it "stops"), the rescuer requeues it, w2 re-claims and completes;
  // then w1 wakes up and tries to complete with its stale token.
  await enqueue(1);
  const b1 = await claimOne(w1, 'w1', 60);
  await sleep(120);
  const rescued = await w2.rescueExpiredLeases({ limit: 10, retention: RETENTION });
  assert.deepEqual(rescued.requeued, [b1.id]);
  const b2 = await claimOne(w2, 'w2', 5000);
  assert.equal(b2.id, b1.id);
  assert.equal(b2.attempt, 2);
  assert.deepEqual(await w2.finalizeJobs({ items: [{ ...b2, kind: 'complete', result: JSON.stringify({ by: 'w2' }) }], retention: RETENTION }), ['ok']);
  assert.deepEqual(await w1.finalizeJobs({ items: [{ ...b1, kind: 'complete', result: JSON.stringify({ by: 'stale' }) }], retention: RETENTION }), ['lease_lost']);
  // Job 2: fails once (retry now), then completes.
  await enqueue(2);
  const c1 = await claimOne(w2, 'w2', 5000);
  const error = { attempt: 1, round: 0, kind: 'error' as const, name: 'Error', message: 'boom', at: Date.now() };
  assert.deepEqual(await w2.finalizeJobs({ items: [{ ...c1, kind: 'retry', error, delayMs: 0 }], retention: RETENTION }), ['ok']);
  const c2 = await claimOne(w2, 'w2', 5000);
  assert.equal(c2.attempt, 2);
  assert.deepEqual(await w2.finalizeJobs({ items: [{ ...c2, kind: 'complete', result: null }], retention: RETENTION }), ['ok']);
  assert.equal((await w1.getJob(ids[1]!))?.state, 'completed');

  // A topic: three messages, two consumers; the first one's commit after the rebalance is stale.
  await w1.createTopic({ name: 'events', partitions: 1, retention: { maxAgeMs: null, maxBytes: null } });
  await w1.publish({ topic: 'events', messages: [0, 1, 2].map((i) => ({ partition: 0, key: 'k', value: JSON.stringify({ m: `run-1-m${i}` }), headers: null, idempotencyKey: null })) });
  const g1 = await w1.joinGroup({ topic: 'events', group: 'g', memberId: 'm1', sessionMs: 30_000, start: 'earliest' });
  const f = await w1.fetchMessages({ topic: 'events', partition: 0, offset: 0, limit: 2 });
  assert.equal(f.messages.length, 2);
  assert.deepEqual(await w1.commitOffsets({ topic: 'events', group: 'g', memberId: 'm1', generation: g1.generation, offsets: [{ partition: 0, offset: 2 }] }), ['ok']);
  const g2 = await w2.joinGroup({ topic: 'events', group: 'g', memberId: 'm2', sessionMs: 30_000, start: 'earliest' });
  assert.ok(g2.generation > g1.generation);
  assert.deepEqual(await w1.commitOffsets({ topic: 'events', group: 'g', memberId: 'm1', generation: g1.generation, offsets: [{ partition: 0, offset: 3 }] }), ['stale_generation']);
}

function assertRecorded(ops: Op[]): void {
  const refused = ops.filter((o) => o.outcome.type === 'refused').map((o) => `${o.f}:${(o.outcome as { code: string }).code}`);
  assert.deepEqual(refused.sort(), ['commit:stale_generation', 'complete:lease_lost']);
  assert.equal(ops.filter((o) => o.outcome.type === 'unknown').length, 0);
  assert.equal(ops.filter((o) => o.f === 'enqueue').length, 3);
  assert.equal(ops.filter((o) => o.f === 'claim').length, 5);
  assert.ok(ops.some((o) => o.f === 'rescue'));
}

describe('recorder on SQLite (a file shared by two recorded connections)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-chaos-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('records a run whose history passes the checker, via two merged per-process files', async () => {
    const path = join(dir, 'db.sqlite');
    const raw1 = new SqliteBackend({ path });
    await raw1.migrate();
    const raw2 = new SqliteBackend({ path });
    const r1 = new Recorder({ proc: 'w1', file: join(dir, 'w1.jsonl') });
    const r2 = new Recorder({ proc: 'w2', file: join(dir, 'w2.jsonl') });
    try {
      await shortRun(r1.wrap(raw1), r2.wrap(raw2));
      r1.close();
      r2.close();
      const ops = readHistoryFiles([join(dir, 'w1.jsonl'), join(dir, 'w2.jsonl')]);
      assert.deepEqual(ops.length, r1.ops().length + r2.ops().length);
      assertRecorded(ops);
      const final = await readFinalState(raw1);
      assert.equal(final.jobs.length, 3);
      const report = check(ops, final);
      assert.deepEqual(report.violations, []);
      assert.equal(report.stats.staleWritesRefused, 1);
      // Dropping the refusal from the record (as if the stale write had been accepted) is caught.
      const forged = ops.map((o) => (o.outcome.type === 'refused' && o.f === 'complete' ? { ...o, outcome: { type: 'ok' as const } } : o));
      assert.ok(check(forged, final).violations.some((v) => v.invariant === 'I4'));
    } finally {
      await raw2.close();
      await raw1.close();
    }
  });
});

describe('recorder on PostgreSQL (a throwaway schema)', () => {
  it('records a run whose history passes the checker', async () => {
    const { backend: raw, cleanup } = await makeTestBackend();
    const rec = new Recorder({ proc: 'w1' });
    const rec2 = new Recorder({ proc: 'w2' });
    try {
      await shortRun(rec.wrap(raw), rec2.wrap(raw));
      const ops = [...rec.ops(), ...rec2.ops()].sort((x, y) => x.invokeAt - y.invokeAt);
      assertRecorded(ops);
      const report = check(ops, await readFinalState(raw));
      assert.deepEqual(report.violations, []);
    } finally {
      await cleanup();
    }
  });
});
