/**
 * Several OS processes sharing one SQLite file: concurrent producers/consumers complete every
 * job exactly once, and events committed in one process reach subscribers in another through
 * the outbox (PRAGMA data_version polling).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobEvent, SpindleEvent } from '@spindle/core';
import { report, spawnFixture } from './children.js';
import { makeTestBackend } from './helpers.js';

const CHILDREN = 3;
const PER_CHILD = 300;
const TOTAL = CHILDREN * PER_CHILD;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('3 processes insert and claim+complete 900 jobs on one file: each completed exactly once', async () => {
  const { backend, path, cleanup } = await makeTestBackend();
  try {
    // This (parent) process only watches: every event it sees was committed by a child.
    const seen: JobEvent[] = [];
    backend.subscribe((batch: SpindleEvent[]) => {
      for (const event of batch) if ('jobId' in event) seen.push(event);
    });

    const children = Array.from({ length: CHILDREN }, (_, i) => spawnFixture('worker-child.ts', [path, String(i), String(PER_CHILD), String(TOTAL)]));
    await Promise.all(children.map((c) => c.waitForLine((line) => line === 'ready')));
    for (const child of children) child.send('go');
    const reports = await Promise.all(children.map(async (c) => report<{ completed: string[]; notOk: string[] }>(await c.exited)));

    // Every job completed exactly once, by exactly one child, and no write was refused.
    assert.deepEqual(reports.flatMap((r) => r.notOk), []);
    const completedBy = reports.flatMap((r) => r.completed);
    assert.equal(completedBy.length, TOTAL);
    assert.equal(new Set(completedBy).size, TOTAL, 'a job was completed twice');
    const expected = Array.from({ length: CHILDREN }, (_, c) => Array.from({ length: PER_CHILD }, (_, n) => `c${c}-${n}`)).flat();
    assert.deepEqual([...completedBy].sort(), [...expected].sort());
    assert.ok(reports.filter((r) => r.completed.length > 0).length >= 2, 'work was shared between processes');

    // The database agrees: all completed, each after exactly one attempt.
    assert.deepEqual(await backend.countJobs({ queue: 'mp' }), [{ queue: 'mp', state: 'completed', count: TOTAL }]);
    let cursor: string | null = null;
    let checked = 0;
    do {
      const page = await backend.listJobs({ filter: { queue: 'mp' }, limit: 500, cursor });
      for (const job of page.jobs) {
        assert.equal(job.state, 'completed');
        assert.equal(job.attempt, 1);
        checked++;
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.equal(checked, TOTAL);

    // Cross-process events: the parent saw each child's commits, each event once.
    for (let i = 0; i < 200 && seen.filter((e) => e.type === 'completed').length < TOTAL; i++) await sleep(25);
    const count = (type: string) => seen.filter((e) => e.type === type).length;
    assert.equal(count('added'), TOTAL);
    assert.equal(count('started'), TOTAL);
    assert.equal(count('completed'), TOTAL);
    assert.equal(new Set(seen.filter((e) => e.type === 'completed').map((e) => e.jobId)).size, TOTAL);
  } finally {
    await cleanup();
  }
});

test('a subscriber in another process receives the events this process commits', async () => {
  const { backend, path, cleanup } = await makeTestBackend();
  try {
    const JOBS = 20;
    const listener = spawnFixture('listener-child.ts', [path, String(JOBS)]);
    await listener.waitForLine((line) => line === 'ready');
    await sleep(50); // let the child's poller take its starting position
    const retention = { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
    await backend.insertJobs({
      jobs: Array.from({ length: JOBS }, (_, i) => ({
        id: `p-${i}`,
        queue: 'xp',
        name: 'ping',
        payload: '{}',
        priority: 500,
        maxRetries: 0,
        delayMs: null,
        runAt: null,
        uniqueKey: null,
        timeoutMs: null,
        backoff: null,
        retention,
      })),
    });
    await backend.pauseQueue('xp');
    await backend.resumeQueue('xp');
    const claimed = await backend.claimJobs({ queue: 'xp', workerId: 'parent', limit: JOBS, leaseMs: 30_000 });
    assert.equal(claimed.length, JOBS);
    for (const job of claimed) {
      await backend.finalizeJobs({
        items: [{ id: job.id, attempt: job.attempt, leaseToken: job.leaseToken, kind: 'complete', result: `{"n":"${job.id}"}` }],
        retention: { completedMs: null, cancelledMs: null, deadMs: null },
      });
    }
    const { events } = report<{ events: SpindleEvent[] }>(await listener.exited);
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'added').length, JOBS);
    assert.equal(types.filter((t) => t === 'started').length, JOBS);
    assert.equal(types.filter((t) => t === 'completed').length, JOBS);
    assert.deepEqual(types.filter((t) => t === 'paused' || t === 'resumed'), ['paused', 'resumed']);
    // Commit order is preserved: every job's added < started < completed.
    for (let i = 0; i < JOBS; i++) {
      const order = events.flatMap((e) => ('jobId' in e && e.jobId === `p-${i}` ? [e.type] : []));
      assert.deepEqual(order, ['added', 'started', 'completed']);
    }
    const completed = events.find((e): e is JobEvent => e.type === 'completed' && 'jobId' in e && e.jobId === 'p-3');
    assert.deepEqual(completed?.data, { n: 'p-3' });
  } finally {
    await cleanup();
  }
});
