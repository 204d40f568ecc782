/**
 * The checker at the edges: unknown outcomes read conservatively, whole-millisecond ties, a
 * 10,000-job history checked quickly, more bad histories (I5+I6, I9, I10, I11) and legal
 * histories close to a violation (unknown give-back, rebalance learnt by heartbeat).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { H, goodRun, job, resultOf } from './build.js';
import { emptyTopics, only, run } from './expect.js';

describe('conservative reading of unknown outcomes and whole-millisecond ties', () => {
  it('accepts an unknown complete that landed, and one that did not (the rescuer took over)', () => {
    const h = new H();
    h.enqueue('u');
    const l = h.claim('w', 'u', 1);
    h.complete('w', l, { type: 'unknown', error: 'connection reset' });
    only(run(h, emptyTopics([job('u', { result: resultOf(l) })])), []);
  });
  it('accepts a finalize and the next claim within the same millisecond', () => {
    const h = new H();
    h.enqueue('r');
    const l1 = h.claim('w', 'r', 1);
    const fail = h.write('w', 'fail', l1, { action: 'retry', delayMs: 0, errorKind: 'error' });
    h.t = fail.invokeAt; // the claim below starts and ends in the millisecond the fail began
    const l2 = h.claim('w', 'r', 2, { leaseMs: 1000 });
    h.ops[h.ops.length - 1]!.completeAt = fail.invokeAt;
    h.complete('w', l2);
    only(run(h, emptyTopics([job('r', { attempt: 2, result: resultOf(l2), errors: [{ attempt: 1, round: 0, kind: 'error' }] })])), []);
  });
  it('checks a 10,000-job history quickly', () => {
    const h = new H();
    const jobs = [];
    for (let i = 0; i < 10_000; i++) {
      const id = `j${i}`;
      h.enqueue(id);
      const l = h.claim(`w${i % 4}`, id, 1);
      h.complete(`w${i % 4}`, l);
      jobs.push(job(id, { result: resultOf(l) }));
    }
    const started = performance.now();
    only(run(h, emptyTopics(jobs)), []);
    assert.ok(performance.now() - started < 5000, 'under 5 s');
  });
});

describe('more bad histories', () => {
  it('I6 + I5: a crash that did not count as an attempt (the same attempt claimed again)', () => {
    const h = new H();
    h.enqueue('c');
    h.claim('w1', 'c', 1, { leaseMs: 10, token: 'first' });
    h.t += 50;
    const l = h.claim('w2', 'c', 1, { token: 'second' });
    h.complete('w2', l);
    only(run(h, emptyTopics([job('c', { result: resultOf(l) })])), ['I5', 'I6']);
  });
  it('I9: a keyed message stored twice, and two values acknowledged at one offset', () => {
    const { h, final } = goodRun();
    h.op('p', 'publish', { topic: 't', partition: 0, key: 'k', value: '{"m":3}', idemKey: 'once' }, { type: 'unknown' });
    h.op('p', 'publish', { topic: 't', partition: 0, key: 'k', value: '{"m":3}', idemKey: 'once' }, { type: 'ok', value: { partition: 0, offset: 3, duplicate: false } });
    h.op('p', 'publish', { topic: 't', partition: 0, key: 'k', value: '{"m":4}', idemKey: null }, { type: 'ok', value: { partition: 0, offset: 3, duplicate: false } });
    const p = final.partitions[0]!;
    const r = run(h, { ...final, partitions: [{ ...p, highWater: 4, messages: [...p.messages, { offset: 2, key: 'k', value: '{"m":3}' }, { offset: 3, key: 'k', value: '{"m":3}' }] }] });
    only(r, ['I9']);
    assert.ok(r.violations.some((v) => /stored 2 times/.test(v.message)));
    assert.ok(r.violations.some((v) => /two different values/.test(v.message)));
  });
  it('I10: a commit accepted for a partition not assigned to the member', () => {
    const { h, final } = goodRun();
    h.op('c2', 'join', { topic: 't', group: 'g', memberId: 'm2', heartbeat: false }, { type: 'ok', value: { generation: 2, members: ['m1', 'm2'], partitions: [1] } });
    h.op('c2', 'commit', { topic: 't', group: 'g', memberId: 'm2', generation: 2, partition: 0, offset: 2 });
    only(run(h, final), ['I10']);
  });
  it('I11: two jobs of a fifo group in flight at once (enqueued concurrently)', () => {
    const h = new H();
    h.enqueue('f1', { group: 'g' });
    h.enqueue('f2', { group: 'g' });
    const l1 = h.claim('w1', 'f1', 1);
    const l2 = h.claim('w2', 'f2', 1);
    h.complete('w1', l1);
    h.complete('w2', l2);
    h.ops[0]!.completeAt = h.ops[1]!.invokeAt + 1; // the enqueues overlap: no order between them
    only(run(h, emptyTopics([job('f1', { group: 'g', result: resultOf(l1) }), job('f2', { group: 'g', result: resultOf(l2) })]), { fifoQueues: ['q'] }), ['I11']);
  });
});

describe('legal histories near the edges', () => {
  it('I6: an unknown snooze may or may not have given the attempt back', () => {
    for (const next of [1, 2]) {
      const h = new H();
      h.enqueue('s');
      const l1 = h.claim('w', 's', 1, { leaseMs: 10 });
      h.write('w', 'snooze', l1, { delayMs: 0 }, { type: 'unknown' });
      h.t += 50;
      if (next === 2) h.op('leader', 'rescue', { limit: 10, now: null }, { type: 'ok', value: { requeued: ['s'], dead: [], cancelled: [] } });
      const l2 = h.claim('w', 's', next, { token: `again-${next}` });
      h.complete('w', l2);
      const errors = next === 2 ? [{ attempt: 1, round: 0, kind: 'lease_expired' }] : [];
      only(run(h, emptyTopics([job('s', { attempt: next, result: resultOf(l2), errors })])), []);
    }
  });
  it('I9: a consumer that learns of a rebalance by heartbeat reads again from the committed offset', () => {
    const { h, final } = goodRun();
    h.op('c1', 'join', { topic: 't', group: 'g', memberId: 'm1', heartbeat: true }, { type: 'ok', value: { generation: 2, members: ['m1'], partitions: [0] } });
    h.op('c1', 'fetch', { topic: 't', partition: 0, offset: 1, limit: 10 }, { type: 'ok', value: { messages: [{ offset: 1, key: 'k', value: '{"m":2}' }], startOffset: 0, highWater: 2 } });
    only(run(h, final), []);
  });
});
