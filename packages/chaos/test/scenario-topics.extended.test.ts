/**
 * C12, consumer group crashes (reliability.md §5.3), quick tier: 4 partitions, 5,000 keyed
 * messages with a per-key sequence, 3 consumer processes, one SIGKILLed every 3 s (4 times) and
 * restarted — on a SQLite file and on a fresh PostgreSQL schema.
 *
 * Asserted: no violations (the checker's I1–I13, of which I9 and I10 concern topics, and C12's
 * own rules: per-key order within each consumer session, nothing missing after the drain,
 * duplicates only between the last accepted commit and the crash or move point, no stale commit
 * accepted), plus counts that show the faults happened. Measured times (resume after a kill,
 * throughput, drain) are logged, never asserted. A failed run's directory is copied to
 * $CHAOS_ARTIFACTS (default <tmpdir>/spindle-chaos-artifacts).
 *
 * Also, without a database: C12's rules (measure.ts) on a small hand-written history — a kill
 * whose uncommitted messages are handled again passes; a re-read of a committed message, a
 * duplicate nobody's crash explains, a skip within a session, a message never handled and an
 * accepted stale commit are each reported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND_KINDS } from '../src/scenario/backends.js';
import type { FinalState } from '../src/final-state.js';
import type { Op, OpKind } from '../src/history.js';
import { describeTopicViolations, measureTopicRun, renderTopicReportRow, runTopicCrashScenario, TOPIC_TIERS } from '../src/topics/index.js';

const ARTIFACTS = process.env.CHAOS_ARTIFACTS ?? join(tmpdir(), 'spindle-chaos-artifacts');
const verbose = process.env.CHAOS_VERBOSE === '1';

for (const backend of BACKEND_KINDS) {
  describe(`C12 quick tier on ${backend}`, () => {
    it('consumer group crashes: every message handled, in key order per session; duplicates only after the last commit; no stale commit accepted', { timeout: 120_000 }, async () => {
      const r = await runTopicCrashScenario({
        backend, tier: 'quick', artifactsDir: ARTIFACTS,
        ...(verbose ? { log: (m: string) => void process.stderr.write(`${m}\n`) } : {}),
      });
      process.stderr.write(`${renderTopicReportRow(r)}\n  details: ${JSON.stringify(r.details).slice(0, 600)}\n`);
      assert.deepEqual(r.violations, [], `C12 on ${backend}:\n${describeTopicViolations(r)}\nartifacts: ${r.artifacts ?? '—'}`);
      const q = TOPIC_TIERS.quick;
      assert.equal(r.messages, q.messages);
      assert.equal(r.faults, q.kills, 'every kill happened');
      assert.equal(r.lost, 0);
      assert.equal(r.staleAccepted, 0);
      assert.equal(r.unexpectedExits, 0);
      assert.ok(r.duplicates <= r.duplicateBound, `duplicates ${r.duplicates} ≤ bound ${r.duplicateBound}`);
      assert.ok(r.maxResumeMs !== null, 'the killed members\' partitions were consumed again');
    });
  });
}

/** A hand-written C12 history: one partition of 4 messages (k0#0 k1#0 k0#1 k1#1), group committed 4. */
function history() {
  const ops: Op[] = [];
  const indexes = new Map<string, number>();
  let t = 1000;
  const add = (proc: string, f: OpKind, args: Record<string, unknown>, outcome: Op['outcome'] = { type: 'ok' }): Op => {
    const index = (indexes.get(proc) ?? 0) + 1;
    indexes.set(proc, index);
    t += 10;
    const op: Op = { proc, index, f, args: { topic: 'c12', group: 'g', ...args }, invokeAt: t, completeAt: t + 1, outcome };
    ops.push(op);
    return op;
  };
  const msgs = [['k0', 0], ['k1', 0], ['k0', 1], ['k1', 1]] as const;
  const value = (i: number) => JSON.stringify({ k: msgs[i]![0], s: msgs[i]![1] });
  msgs.forEach((_, i) => add('producer', 'publish', { partition: 0, key: msgs[i]![0], value: value(i), idemKey: null }, { type: 'ok', value: { partition: 0, offset: i, duplicate: false } }));
  const join = (proc: string, generation: number) => add(proc, 'join', { memberId: 'm1', heartbeat: false }, { type: 'ok', value: { generation, members: ['m1'], partitions: [0] } });
  const fetch = (proc: string, from: number) => add(proc, 'fetch', { partition: 0, offset: from, limit: 100 }, { type: 'ok', value: { messages: [from, from + 1, from + 2, from + 3].filter((o) => o < 4).map((o) => ({ offset: o, key: msgs[o]![0], value: value(o) })), startOffset: 0, highWater: 4 } });
  const handle = (proc: string, offset: number, generation = 1) => {
    const args = { memberId: 'm1', generation, epoch: 0, partition: 0, offset, k: msgs[offset]![0], s: msgs[offset]![1] };
    add(proc, 'handler_start', args);
    add(proc, 'handler_end', args);
  };
  const commit = (proc: string, offset: number, generation = 1, outcome: Op['outcome'] = { type: 'ok' }) => add(proc, 'commit', { memberId: 'm1', generation, partition: 0, offset }, outcome);
  const kill = (target: string) => add('nemesis', 'fault', { fault: 'SIGKILL', target, pid: 1 });
  const final: FinalState = {
    readAt: 0, jobs: [],
    partitions: [{ topic: 'c12', partition: 0, startOffset: 0, highWater: 4, messages: msgs.map((_, i) => ({ offset: i, key: msgs[i]![0], value: value(i) })) }],
    groups: [{ topic: 'c12', group: 'g', generation: 1, offsets: [{ partition: 0, committed: 4 }] }],
  };
  return { ops, final, join, fetch, handle, commit, kill };
}

const rulesOf = (ops: Op[], final: FinalState) => measureTopicRun({ ops, final, topic: 'c12', group: 'g' });

describe('C12 rules on hand-written histories', () => {
  it('a kill after handling past the last commit: its uncommitted messages come again, within the bound', () => {
    const h = history();
    h.join('a.1', 1); h.fetch('a.1', 0); h.handle('a.1', 0); h.handle('a.1', 1); h.commit('a.1', 2); h.handle('a.1', 2); h.handle('a.1', 3); h.kill('a.1');
    h.join('b.1', 1); h.fetch('b.1', 2); h.handle('b.1', 2); h.handle('b.1', 3); h.commit('b.1', 4);
    const m = rulesOf(h.ops, h.final);
    assert.deepEqual(m.violations, []);
    assert.equal(m.duplicates, 2);
    assert.equal(m.duplicateBound, 2);
    assert.equal(m.duplicatesAfterKill, 2);
    assert.equal(m.resumeMs.length, 1);
  });

  it('reports a committed message handled again, and an accepted commit from a stale generation', () => {
    const h = history();
    h.join('a.1', 1); h.fetch('a.1', 0); h.handle('a.1', 0); h.handle('a.1', 1); h.commit('a.1', 2); h.kill('a.1');
    h.join('b.1', 2); h.fetch('b.1', 1); h.handle('b.1', 1, 2); h.handle('b.1', 2, 2); h.handle('b.1', 3, 2); h.commit('b.1', 4, 2);
    h.commit('a.2', 4, 1); // accepted although generation 2 had been reported
    const m = rulesOf(h.ops, h.final);
    const messages = m.violations.map((v) => v.message).join('\n');
    assert.match(messages, /partition 0@1 handled again by b\.1 \(generation 2\) after the group had committed 2/);
    assert.match(messages, /handled and committed by 2 sessions/);
    assert.equal(m.staleAccepted, 1);
  });

  it('reports a duplicate no kill or move explains, a skip within a session, and a message never handled', () => {
    const h = history();
    h.join('a.1', 1); h.fetch('a.1', 0); h.handle('a.1', 0); h.handle('a.1', 2); // skipped offset 1 (k1#0), never handled
    h.join('b.1', 1); h.fetch('b.1', 2); h.handle('b.1', 2); h.handle('b.1', 3); h.commit('b.1', 4);
    const m = rulesOf(h.ops, h.final);
    const messages = m.violations.map((v) => v.message).join('\n');
    assert.match(messages, /session a\.1\/p0\/g1\/e0: handled offset 2 right after 0 \(a skip\)/);
    assert.match(messages, /partition 0@2: a\.1's handling was neither committed by its session nor cut short by a kill or a move/);
    assert.match(messages, /acknowledged message \{"k":"k1","s":0\}.* was never handled/);
    assert.equal(m.lost, 1);
  });
});
