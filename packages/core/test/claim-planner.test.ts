/**
 * ClaimPlanner: the strategies' arithmetic, deterministic (no backend, no clock).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClaimPlanner } from '../src/scheduling/claim-planner.js';
import { parseServedQueues } from '../src/scheduling/served-queues.js';
import { ValidationError } from '../src/errors.js';

const weighted = () => new ClaimPlanner('weighted', [{ name: 'high', weight: 6 }, { name: 'medium', weight: 3 }, { name: 'low', weight: 1 }]);

/** Serves `rounds` claims of `free` slots, every queue always full; returns jobs per queue. */
function saturate(planner: ClaimPlanner, rounds: number, free: number): Record<string, number> {
  const got: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const { queue, limit } of planner.plan(free)) {
      planner.claimed(queue, limit, limit);
      got[queue] = (got[queue] ?? 0) + limit;
    }
  }
  return got;
}

describe('ClaimPlanner', () => {
  it('weighted: splits slots by weight, exactly over whole turns', () => {
    assert.deepEqual(weighted().plan(10), [{ queue: 'high', limit: 6 }, { queue: 'medium', limit: 3 }, { queue: 'low', limit: 1 }]);
    assert.deepEqual(saturate(weighted(), 1000, 10), { high: 6000, medium: 3000, low: 1000 });
  });

  it('weighted: keeps shares with one slot at a time (concurrency 1)', () => {
    assert.deepEqual(saturate(weighted(), 10_000, 1), { high: 6000, medium: 3000, low: 1000 });
  });

  it('weighted: keeps shares when a turn is smaller than the sum of weights', () => {
    const got = saturate(weighted(), 3333, 3); // 9,999 jobs
    for (const [queue, ideal] of [['high', 5999.4], ['medium', 2999.7], ['low', 999.9]] as const) {
      assert.ok(Math.abs(got[queue]! - ideal) <= 1, `${queue}: ${got[queue]} vs ${ideal}`);
    }
  });

  it('weighted is work-conserving: an empty queue\'s share goes to the others', () => {
    const planner = weighted();
    planner.claimed('high', 0, 6); // came back empty
    assert.deepEqual(planner.plan(8), [{ queue: 'medium', limit: 6 }, { queue: 'low', limit: 2 }]);
    assert.deepEqual(saturate(planner, 1000, 8), { medium: 6000, low: 2000 });
  });

  it('weighted: a queue back from empty starts at the current virtual time (no burst, no starvation)', () => {
    const planner = weighted();
    planner.claimed('high', 0, 6);
    saturate(planner, 500, 10); // medium and low served 5,000 jobs meanwhile
    planner.markReady('high');
    assert.deepEqual(planner.plan(10), [{ queue: 'high', limit: 6 }, { queue: 'medium', limit: 3 }, { queue: 'low', limit: 1 }]);
  });

  it('strict: every slot to the most urgent queue with work; the remainder of a short claim to the next', () => {
    const planner = new ClaimPlanner('strict', [{ name: 'high', weight: 1 }, { name: 'low', weight: 1 }]);
    assert.deepEqual(planner.plan(10), [{ queue: 'high', limit: 10 }]);
    planner.claimed('high', 4, 10);
    assert.equal(planner.isReady('high'), false);
    assert.deepEqual(planner.plan(6), [{ queue: 'low', limit: 6 }]);
    planner.claimed('low', 0, 6);
    assert.equal(planner.anyReady, false);
    assert.deepEqual(planner.plan(6), []);
    planner.markReady('low');
    planner.markReady('high');
    assert.deepEqual(planner.plan(6), [{ queue: 'high', limit: 6 }]);
  });

  it('strict under sustained load starves the lower queue; weighted does not', () => {
    const strict = new ClaimPlanner('strict', [{ name: 'high', weight: 1 }, { name: 'low', weight: 1 }]);
    assert.deepEqual(saturate(strict, 100, 10), { high: 1000 });
    const fair = new ClaimPlanner('weighted', [{ name: 'high', weight: 9 }, { name: 'low', weight: 1 }]);
    assert.deepEqual(saturate(fair, 100, 10), { high: 900, low: 100 });
  });
});

describe('parseServedQueues', () => {
  const nameOf = () => null;
  it('reads the four spellings', () => {
    assert.deepEqual(parseServedQueues('a', nameOf), { strategy: 'strict', queues: [{ name: 'a', weight: 1 }], handles: [] });
    assert.deepEqual(parseServedQueues(['a', 'b'], nameOf).queues.map((q) => q.name), ['a', 'b']);
    assert.equal(parseServedQueues({ strict: ['a', 'b'] }, nameOf).strategy, 'strict');
    assert.deepEqual(parseServedQueues({ weighted: { a: 6, b: 0.5 } }, nameOf), {
      strategy: 'weighted', queues: [{ name: 'a', weight: 6 }, { name: 'b', weight: 0.5 }], handles: [],
    });
  });

  it('rejects bad specs with a ValidationError naming the part', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /queues: must be a non-empty array/],
      [['a', 'a'], /queues\[1\]: names queue "a" twice/],
      [['ok', 'bad name'], /queues\[1\]: must match/],
      [{ weighted: { a: 0 } }, /queues\.weighted\.a: must be a weight > 0/],
      [{ weighted: { a: Number.NaN } }, /queues\.weighted\.a/],
      [{ weighted: {} }, /queues\.weighted: must name 1 to/],
      [{ weighted: { a: 1 }, strict: ['a'] }, /exactly one of/],
      [{ fair: ['a'] }, /queues\.fair: is not a known option/],
      [42, /queue: must be a queue name/],
    ];
    for (const [spec, message] of cases) {
      assert.throws(() => parseServedQueues(spec, nameOf), (err: unknown) => err instanceof ValidationError && message.test(err.message), String(JSON.stringify(spec)));
    }
  });
});
