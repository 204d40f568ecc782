/**
 * The checker's own tests (reliability.md §5.1): a good hand-made history every invariant
 * accepts, and for each invariant I1–I13 hand-made bad histories it catches — and that the other
 * invariants leave alone where that is sensible (`only`), so each catch is its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FinalState } from '../src/final-state.js';
import { H, goodRun, job, resultOf } from './build.js';
import { emptyTopics, ids, only, run } from './expect.js';

describe('checker: the good run', () => {
  it('passes every invariant', () => {
    const { h, final } = goodRun();
    const r = run(h, final, { fifoQueues: ['q'], livenessBoundMs: 60_000, latenessBoundMs: 60_000, maxDuplicateExecutions: 0, maxDuplicateEnqueues: 0 });
    assert.deepEqual(r.violations, []);
    assert.equal(r.ok, true);
  });
  it('accepts an unknown enqueue that did not happen, and one that did', () => {
    const h = new H();
    h.enqueue('u1', { outcome: { type: 'unknown', error: 'reset' } });
    h.enqueue('u2', { outcome: { type: 'unknown' } });
    const l = h.claim('w', 'u2', 1);
    h.complete('w', l);
    only(run(h, emptyTopics([job('u2', { result: resultOf(l) })])), []);
  });
});

describe('I1 no loss', () => {
  it('catches an acknowledged job missing from the final state', () => {
    const { h, final } = goodRun();
    only(run(h, { ...final, jobs: final.jobs.filter((j) => j.id !== 'a') }), ['I1']);
  });
  it('catches a job left non-terminal, and one cancelled with nobody asking', () => {
    const h = new H();
    h.enqueue('c');
    h.enqueue('d');
    only(run(h, emptyTopics([job('c', { state: 'queued', attempt: 0, finishedAt: null }), job('d', { state: 'cancelled', attempt: 0 })])), ['I1']);
  });
  it('accepts a deleted job and a cancel the API asked for', () => {
    const h = new H();
    h.enqueue('c');
    h.enqueue('d');
    h.op('admin', 'delete', { jobIds: ['c'] }, { type: 'ok', value: { jobIds: ['c'] } });
    h.op('admin', 'cancel', { jobId: 'd' }, { type: 'ok', value: { result: 'cancelled' } });
    only(run(h, emptyTopics([job('d', { state: 'cancelled', attempt: 0 })])), []);
  });
});

describe('I2 no phantoms', () => {
  it('catches a stored job nobody enqueued', () => {
    const { h, final } = goodRun();
    only(run(h, { ...final, jobs: [...final.jobs, job('x', { state: 'dead', attempt: 4, errors: [] })] }), ['I2']);
  });
  it('catches a job that exists although its only enqueue was refused', () => {
    const h = new H();
    h.enqueue('r', { outcome: { type: 'refused', code: 'validation_failed' } });
    only(run(h, emptyTopics([job('r', { state: 'cancelled', attempt: 0 })])), ['I2']);
  });
});

describe('I3 one terminal transition', () => {
  it('catches a second terminal transition in one round', () => {
    const { h, final } = goodRun();
    h.op('admin', 'cancel', { jobId: 'a' }, { type: 'ok', value: { result: 'cancelled' } });
    only(run(h, final), ['I3']);
  });
  it('catches a read showing the job not terminal after its ack', () => {
    const { h, final } = goodRun();
    h.op('client', 'read', { jobId: 'a' }, { type: 'ok', value: { state: 'queued', attempt: 1, round: 0 } });
    only(run(h, final), ['I3']);
  });
  it('catches a final state that overwrote the acknowledged outcome', () => {
    const { h, final } = goodRun();
    only(run(h, { ...final, jobs: final.jobs.map((j) => (j.id === 'a' ? { ...j, state: 'dead', errors: [{ attempt: 1, round: 0, kind: 'permanent' }] } : j)) }), ['I3']);
  });
  it('accepts a second outcome after a DLQ redrive', () => {
    const h = new H();
    h.enqueue('e', { maxRetries: 0 });
    const l1 = h.claim('w', 'e', 1, { maxRetries: 0 });
    h.write('w', 'fail', l1, { action: 'dead', errorKind: 'permanent' });
    h.op('admin', 'redrive', { via: 'dlqReplay', jobIds: ['e'] }, { type: 'ok', value: { jobIds: ['e'] } });
    const l2 = h.claim('w', 'e', 1, { round: 1, maxRetries: 0 });
    h.complete('w', l2);
    only(run(h, emptyTopics([job('e', { maxRetries: 0, round: 1, result: resultOf(l2), errors: [{ attempt: 1, round: 0, kind: 'permanent' }] })])), []);
  });
});

/** Job s: attempt 1 (w1) is stopped, rescued, attempt 2 (w2) completes; then w1 writes. */
function pausedWorker(): { h: H; l1: ReturnType<H['claim']>; l2: ReturnType<H['claim']>; final: FinalState } {
  const h = new H();
  h.enqueue('s');
  const l1 = h.claim('w1', 's', 1, { leaseMs: 100 });
  h.t += 200;
  h.op('leader', 'rescue', { limit: 100, now: null }, { type: 'ok', value: { requeued: ['s'], dead: [], cancelled: [] } });
  const l2 = h.claim('w2', 's', 2, { leaseMs: 100 });
  h.complete('w2', l2);
  const final = emptyTopics([job('s', { attempt: 2, result: resultOf(l2), errors: [{ attempt: 1, round: 0, kind: 'lease_expired' }] })]);
  return { h, l1, l2, final };
}

describe('I4 fencing', () => {
  it('accepts the paused worker when its late write is refused', () => {
    const { h, l1, final } = pausedWorker();
    h.complete('w1', l1, { type: 'refused', code: 'lease_lost' });
    const r = run(h, final);
    only(r, []);
    assert.equal(r.stats.staleWritesRefused, 1);
  });
  it('catches a stale heartbeat accepted after a newer attempt was claimed', () => {
    const { h, l1, final } = pausedWorker();
    h.write('w1', 'heartbeat', l1, { leaseMs: 100 }, { type: 'ok', value: { cancelRequested: false } });
    only(run(h, final), ['I4']);
  });
  it('catches a stale write accepted after the rescuer expired the lease (nobody re-claimed yet)', () => {
    const h = new H();
    h.enqueue('s');
    const l1 = h.claim('w1', 's', 1, { leaseMs: 100 });
    h.t += 200;
    h.op('leader', 'rescue', { limit: 100, now: null }, { type: 'ok', value: { requeued: ['s'], dead: [], cancelled: [] } });
    h.write('w1', 'progress', l1);
    const l2 = h.claim('w2', 's', 2);
    h.complete('w2', l2);
    only(run(h, emptyTopics([job('s', { attempt: 2, result: resultOf(l2), errors: [{ attempt: 1, round: 0, kind: 'lease_expired' }] })])), ['I4']);
  });
  it('catches a completion refused to the client that landed anyway, and a forged token', () => {
    const h = new H();
    h.enqueue('z');
    const l = h.claim('w', 'z', 1);
    h.complete('w', l, { type: 'refused', code: 'lease_lost' });
    h.write('w', 'progress', { ...l, token: 'forged' });
    const r = run(h, emptyTopics([job('z', { result: resultOf(l) })]));
    only(r, ['I4']);
    assert.equal(r.violations.length, 2);
  });
});

describe('I5 lease exclusivity', () => {
  it('catches a second attempt leased while the first lease (heartbeated) was unexpired', () => {
    const h = new H();
    h.enqueue('e');
    const l1 = h.claim('w1', 'e', 1, { leaseMs: 100 });
    h.write('w1', 'heartbeat', l1, { leaseMs: 1000 }, { type: 'ok', value: { cancelRequested: false } });
    h.t += 200; // past the claim's expiry, not the heartbeat's
    const l2 = h.claim('w2', 'e', 2);
    h.complete('w2', l2);
    only(run(h, emptyTopics([job('e', { attempt: 2, result: resultOf(l2) })])), ['I5']);
  });
  it('catches one attempt claimed twice', () => {
    const h = new H();
    h.enqueue('e');
    h.claim('w1', 'e', 1, { token: 'x1' });
    const l = h.claim('w2', 'e', 1, { token: 'x2' });
    h.complete('w2', l);
    assert.ok(ids(run(h, emptyTopics([job('e', { result: resultOf(l) })]))).includes('I5'));
  });
});

describe('I6 attempt accounting', () => {
  it('catches a claim beyond max attempts', () => {
    const h = new H();
    h.enqueue('m', { maxRetries: 0 });
    const l = h.claim('w', 'm', 2, { maxRetries: 0, token: 'only' });
    h.write('w', 'fail', l, { action: 'dead', errorKind: 'error' });
    only(run(h, emptyTopics([job('m', { state: 'dead', attempt: 2, maxRetries: 0 })])), ['I6']);
  });
  it('catches a job sent to the DLQ early', () => {
    const h = new H();
    h.enqueue('m');
    only(run(h, emptyTopics([job('m', { state: 'dead', attempt: 2, errors: [{ attempt: 1, round: 0, kind: 'error' }, { attempt: 2, round: 0, kind: 'error' }] })])), ['I6']);
  });
  it('catches a crash that did not count as an attempt', () => {
    const { h, final } = pausedWorker();
    only(run(h, { ...final, jobs: final.jobs.map((j) => ({ ...j, errors: [] })) }), ['I6']);
  });
});

describe('I7 no redelivery after an acknowledged ack', () => {
  it('catches a claim after the completion was acknowledged', () => {
    const { h, final } = goodRun();
    h.claim('w3', 'a', 2);
    only(run(h, final), ['I7']);
  });
  it('accepts it after a redrive', () => {
    const { h, final } = goodRun();
    h.op('admin', 'redrive', { via: 'retryJobs', jobIds: ['a'] }, { type: 'unknown' });
    const l = h.claim('w3', 'a', 1, { round: 1 });
    h.complete('w3', l);
    only(run(h, { ...final, jobs: final.jobs.map((j) => (j.id === 'a' ? { ...j, round: 1, result: resultOf(l) } : j)) }), []);
  });
});

describe('I8 unknown enqueues and duplicates', () => {
  it('catches a keyed value stored twice', () => {
    const h = new H();
    h.enqueue('k1', { payload: '{"v":"same"}', uniqueKey: 'key', outcome: { type: 'unknown' } });
    h.enqueue('k2', { payload: '{"v":"same"}', uniqueKey: 'key' });
    only(run(h, emptyTopics([job('k1', { payload: '{"v":"same"}', attempt: 0 }), job('k2', { payload: '{"v":"same"}', attempt: 0 })])), ['I8']);
  });
  it('counts an unkeyed retry duplicate and holds it to the bound', () => {
    const h = new H();
    h.enqueue('d1', { payload: '{"v":"same"}', outcome: { type: 'unknown' } });
    h.enqueue('d2', { payload: '{"v":"same"}' });
    const final = emptyTopics([job('d1', { payload: '{"v":"same"}', attempt: 0 }), job('d2', { payload: '{"v":"same"}', attempt: 0 })]);
    const free = run(h, final);
    only(free, []);
    assert.equal(free.stats.duplicateEnqueues, 1);
    only(run(h, final, { maxDuplicateEnqueues: 0 }), ['I8']);
  });
  it('counts duplicate executions after a crash and holds them to the bound', () => {
    const { h, final } = pausedWorker();
    const r = run(h, final);
    only(r, []);
    assert.equal(r.stats.duplicateExecutions, 1);
    only(run(h, final, { maxDuplicateExecutions: 0 }), ['I8']);
  });
});

describe('I9 topic log', () => {
  it('catches a lost acknowledged publish (and the hole it leaves)', () => {
    const { h, final } = goodRun();
    const p = final.partitions[0]!;
    only(run(h, { ...final, partitions: [{ ...p, messages: [p.messages[0]!] }] }), ['I9']);
  });
  it('catches non-dense offsets and a value nobody published', () => {
    const { h, final } = goodRun();
    const p = final.partitions[0]!;
    only(run(h, { ...final, partitions: [{ ...p, highWater: 3, messages: [...p.messages, { offset: 3, key: null, value: '"ghost"' }] }] }), ['I9']);
  });
  it('catches a poll-skip within a consumer session', () => {
    const { h, final } = goodRun();
    h.op('c1', 'fetch', { topic: 't', partition: 0, offset: 5, limit: 10 }, { type: 'ok', value: { messages: [], startOffset: 0, highWater: 2 } });
    only(run(h, final), ['I9']);
  });
});

describe('I10 committed offsets', () => {
  it('catches an accepted commit going backwards', () => {
    const { h, final } = goodRun();
    h.op('c1', 'commit', { topic: 't', group: 'g', memberId: 'm1', generation: 1, partition: 0, offset: 1 });
    only(run(h, final), ['I10']);
  });
  it('catches an accepted commit from a stale generation', () => {
    const { h, final } = goodRun();
    h.op('c2', 'join', { topic: 't', group: 'g', memberId: 'm2', heartbeat: false }, { type: 'ok', value: { generation: 2, members: ['m1', 'm2'], partitions: [] } });
    h.op('c1', 'commit', { topic: 't', group: 'g', memberId: 'm1', generation: 1, partition: 0, offset: 2 });
    only(run(h, final), ['I10']);
  });
  it('catches a consumer resuming below the committed offset after a rebalance', () => {
    const { h, final } = goodRun();
    h.op('c3', 'join', { topic: 't', group: 'g', memberId: 'm3', heartbeat: false }, { type: 'ok', value: { generation: 2, members: ['m3'], partitions: [0] } });
    h.op('c3', 'fetch', { topic: 't', partition: 0, offset: 0, limit: 10 }, { type: 'ok', value: { messages: [{ offset: 0, key: 'k', value: '{"m":1}' }, { offset: 1, key: 'k', value: '{"m":2}' }], startOffset: 0, highWater: 2 } });
    only(run(h, final), ['I10']);
  });
});

describe('I11 FIFO groups', () => {
  it('catches a later job of a fifo group claimed before the earlier one finished', () => {
    const h = new H();
    h.enqueue('f1', { group: 'g' });
    h.enqueue('f2', { group: 'g' });
    const l2 = h.claim('w', 'f2', 1);
    h.complete('w', l2);
    const l1 = h.claim('w', 'f1', 1);
    h.complete('w', l1);
    const final = emptyTopics([job('f1', { group: 'g', result: resultOf(l1) }), job('f2', { group: 'g', result: resultOf(l2) })]);
    only(run(h, final), []);
    only(run(h, final, { fifoQueues: ['q'] }), ['I11']);
  });
});

describe('I12 liveness', () => {
  it('catches no progress after a healed fault, and a job finished past the bound', () => {
    const h = new H();
    h.enqueue('l');
    h.op('nemesis', 'fault', { fault: 'sigstop', target: 'w1' }, { type: 'ok' }, { dur: 100 });
    h.t += 20_000;
    const l = h.claim('w', 'l', 1);
    h.complete('w', l);
    const final = emptyTopics([job('l', { result: resultOf(l), finishedAt: h.t })]);
    only(run(h, final, { livenessBoundMs: 15_000 }), ['I12']);
    assert.equal(run(h, final, { livenessBoundMs: 15_000 }).violations.length, 2);
  });
});

describe('I13 schedules', () => {
  it('catches a claim before the job\'s runAt, before its enqueue delay, and before its retry delay', () => {
    const h = new H();
    h.enqueue('s1', { delayMs: 5000 });
    const l1 = h.claim('w', 's1', 1, { runAt: h.t + 5000 });
    h.write('w', 'fail', l1, { action: 'retry', delayMs: 1000, errorKind: 'error' });
    const l2 = h.claim('w', 's1', 2);
    h.complete('w', l2);
    const r = run(h, emptyTopics([job('s1', { attempt: 2, result: resultOf(l2), errors: [{ attempt: 1, round: 0, kind: 'error' }] })]));
    only(r, ['I13']);
    assert.equal(r.violations.length, 3);
  });
});
