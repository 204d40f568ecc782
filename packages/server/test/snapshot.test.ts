/** http/snapshot.ts: staleness bounds, one read in flight, failures not kept. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Snapshot } from '../src/http/snapshot.js';

describe('Snapshot', () => {
  it('reads every time for maxAgeMs 0 and reuses a read no older than maxAgeMs', async () => {
    let now = 1_000;
    let reads = 0;
    const snap = new Snapshot(async () => ++reads, () => now);
    assert.deepEqual(await snap.get(0), { value: 1, startedAt: 1_000 });
    assert.deepEqual(await snap.get(0), { value: 2, startedAt: 1_000 });
    now = 1_500;
    assert.deepEqual(await snap.get(500), { value: 2, startedAt: 1_000 });
    now = 1_501;
    assert.deepEqual(await snap.get(500), { value: 3, startedAt: 1_501 }, 'older than asked: read again');
  });

  it('shares one read in flight among callers that accept staleness, and does not keep a failed read', async () => {
    let release!: (v: number) => void;
    let reads = 0;
    let fail = false;
    const snap = new Snapshot(() => {
      reads += 1;
      if (fail) return Promise.reject(new Error('db down'));
      return new Promise<number>((r) => (release = r));
    });
    const a = snap.get(1_000);
    const b = snap.get(1_000);
    assert.equal(reads, 1);
    release(7);
    assert.equal((await a).value, 7);
    assert.equal((await b).value, 7);
    fail = true;
    await assert.rejects(snap.get(0), /db down/);
    assert.equal((await snap.get(60_000)).value, 7, 'the failed read left the last good one in place');
  });
});
