/**
 * GroupCommit: batching, per-item answers, and the callback form's guarantees (each item settled
 * exactly once, a throwing callback never taken for a failed write).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCommit } from '../src/group-commit.js';

import { silentLogger, type Logger } from '../src/logger.js';

const silent: Logger = silentLogger;

describe('GroupCommit', () => {
  it('writes items submitted together as one batch and answers each in order', async () => {
    const writes: number[][] = [];
    const gc = new GroupCommit<number, string>({
      name: 'test', maxBatch: 100, onFailure: 'reject', logger: silent,
      write: async (items) => {
        writes.push(items);
        return items.map((i) => `#${i}`);
      },
    });
    const answers = await Promise.all([1, 2, 3].map((i) => gc.submit(i)));
    assert.deepEqual(answers, ['#1', '#2', '#3']);
    assert.deepEqual(writes, [[1, 2, 3]]);
  });

  it('a throwing callback is logged and does not make the batch be written again', async () => {
    let writes = 0;
    const logged: string[] = [];
    const logger = { ...silent, error: (_: unknown, message: string) => logged.push(message) } as unknown as Logger;
    const gc = new GroupCommit<number, number>({
      name: 'outcomes', maxBatch: 100, onFailure: 'retry', logger,
      write: async (items) => {
        writes += 1;
        return items;
      },
    });
    const seen: Array<[unknown, number | undefined]> = [];
    gc.submitWith(1, () => {
      throw new Error('listener bug');
    });
    gc.submitWith(2, (err, answer) => seen.push([err, answer]));
    await gc.idle();
    assert.equal(writes, 1);
    assert.deepEqual(seen, [[undefined, 2]]);
    assert.deepEqual(logged, ['spindle: a callback of outcomes threw']);
  });

  it('settles callbacks with the error of a rejected write, and after abandon, never synchronously', async () => {
    const gc = new GroupCommit<number, number>({
      name: 'test', maxBatch: 100, onFailure: 'reject', logger: silent,
      write: async () => {
        throw undefined; // even a falsy rejection reads as a failure
      },
    });
    const first = await new Promise<unknown>((resolve) => gc.submitWith(1, (err) => resolve(err)));
    assert.ok(first instanceof Error);
    gc.abandon(new Error('closed'));
    let settled = false;
    const late = new Promise<unknown>((resolve) => gc.submitWith(2, (err) => { settled = true; resolve(err); }));
    assert.equal(settled, false);
    assert.equal(((await late) as Error).message, 'closed');
  });
});
