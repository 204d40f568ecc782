/**
 * pruneJobs' count rules stay linear in the number of finished jobs. Regression test for what
 * chaos scenario C11 (large backlog) found: the `prune_count` named statement, prepared by a
 * leader's pruner while the table was still small, kept a generic plan whose semi-join rescanned
 * every dead job for each dead job (the queues with a count rule were a correlated-looking
 * `IN (SELECT …)`). With 10k dead jobs one prune took ~20 s, with 50k over ten minutes — holding
 * a snapshot and making the client's graceful close wait for it. The queues are now an init
 * plan (`= ANY(ARRAY(…))`), computed once per call whatever plan is cached.
 *
 * The statement is warmed on an empty table first, on the backend's only connection (the plan
 * cache is per connection), as a leader's pruner does from startup.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { JobInsert } from '@spindle/core';
import type { PostgresBackend } from '../src/index.js';
import { makeTestBackendWith } from './helpers.js';

const RETENTION = { completedMs: null, cancelledMs: null, deadMs: null };

function job(queue: string, deadKeepCount: number | null = null): JobInsert {
  return {
    id: `prune-${randomBytes(8).toString('hex')}`, queue, name: 'task', payload: '{}', priority: 500, maxRetries: 0,
    delayMs: null, runAt: null, uniqueKey: null, timeoutMs: null, backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount },
  };
}

/** `n` dead jobs in `queue`, 500 at a time (insert, claim, finalize dead). */
async function makeDead(backend: PostgresBackend, queue: string, n: number, deadKeepCount: number | null = null): Promise<void> {
  for (let done = 0; done < n;) {
    const size = Math.min(500, n - done);
    await backend.insertJobs({ jobs: Array.from({ length: size }, () => job(queue, deadKeepCount)) });
    const claimed = await backend.claimJobs({ queue, limit: size, leaseMs: 60_000, workerId: 'prune-test' });
    await backend.finalizeJobs({
      retention: RETENTION,
      items: claimed.map((j) => ({
        id: j.id, attempt: j.attempt, leaseToken: j.leaseToken, kind: 'dead' as const, reason: 'test',
        error: { attempt: j.attempt, round: j.round, kind: 'permanent' as const, name: 'Error', message: 'test', at: Date.now(), workerId: null },
      })),
    });
    done += claimed.length;
  }
}

describe('pruneJobs count rules with a large DLQ', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('a prune with 10k dead jobs (none with a count rule) is not quadratic, even with the plan cached on an empty table', { timeout: 120_000 }, async () => {
    const { backend, cleanup } = await makeTestBackendWith({ poolMax: 1 });
    cleanups.push(cleanup);
    for (let i = 0; i < 8; i++) await backend.pruneJobs({ limit: 1000 });
    await makeDead(backend, 'dlq', 10_000);
    const deleted = await backend.pruneJobs({ limit: 1000 });
    assert.equal(deleted, 0, 'no job has a retention rule');
    // Measured, not asserted (no timing assertions in tests): ~10 ms here with the fix; the
    // quadratic plan took ~15 s with these 10k dead jobs (chaos C11 found it at 1 M: 16 min).
  });

  it('count rules still trim only the queues that have one, keeping the newest', { timeout: 60_000 }, async () => {
    const { backend, cleanup } = await makeTestBackendWith({ poolMax: 1 });
    cleanups.push(cleanup);
    for (let i = 0; i < 8; i++) await backend.pruneJobs({ limit: 1000 });
    await makeDead(backend, 'kept-two', 5, 2);
    await makeDead(backend, 'unbounded', 5);
    const deleted = await backend.pruneJobs({ limit: 1000 });
    assert.equal(deleted, 3);
    const depth = await backend.dlqDepth({});
    assert.deepEqual(depth.map((d) => [d.queue, d.depth]).sort(), [['kept-two', 2], ['unbounded', 5]]);
  });
});
