/**
 * Worker-local deadlines (per-attempt timeouts, abort grace, close grace) are measured on the
 * monotonic clock: a wall-clock step must neither fire a timeout early nor hold one back.
 * Regression test for what chaos scenario C6 found with libfaketime on worker processes: a +1 h
 * step timed attempts out after a fraction of their limit, a −1 h step let an attempt that should
 * have timed out run to completion. Here the step is `Date.now` replaced in this process.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, silentLogger } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { DeadlineTimer } from '../src/worker/deadline-timer.js';

const HOUR = 3_600_000;
const realNow = Date.now.bind(Date);
/** Steps this process's wall clock by `offsetMs` (0: back to real time). */
const stepWallClock = (offsetMs: number): void => {
  Date.now = offsetMs === 0 ? realNow : () => realNow() + offsetMs;
};
afterEach(() => stepWallClock(0));

const dirs: string[] = [];
after(async () => {
  stepWallClock(0);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('DeadlineTimer and wall-clock steps', () => {
  it('a step forward does not fire a deadline early', async () => {
    const timer = new DeadlineTimer();
    const fired: string[] = [];
    timer.set('near', performance.now() + 50, () => fired.push('near'));
    timer.set('far', performance.now() + 400, () => fired.push('far'));
    stepWallClock(HOUR);
    await sleep(150);
    assert.deepEqual(fired, ['near'], 'only the deadline that is due on the monotonic clock fired');
    await sleep(350);
    assert.deepEqual(fired, ['near', 'far']);
    timer.clear();
  });

  it('a step back does not hold a deadline back', async () => {
    const timer = new DeadlineTimer();
    const fired: string[] = [];
    timer.set('soon', performance.now() + 100, () => fired.push('soon'));
    stepWallClock(-HOUR);
    await sleep(300);
    assert.deepEqual(fired, ['soon']);
    timer.clear();
  });
});

describe('worker timeouts and wall-clock steps', () => {
  async function open(): Promise<Client> {
    const dir = await mkdtemp(join(tmpdir(), 'spindle-worker-clock-'));
    dirs.push(dir);
    const client = new Client({ backend: new SqliteBackend({ path: join(dir, 'spindle.db') }), maintenance: false, telemetry: false, logger: silentLogger });
    await client.start();
    return client;
  }

  it('an attempt still times out at its limit when the wall clock steps back mid-attempt', { timeout: 20_000 }, async () => {
    const client = await open();
    try {
      const queue = client.queue<{ ms: number }>('clock-back');
      let started = 0;
      queue.process(async (job) => {
        started = performance.now();
        stepWallClock(-HOUR);
        await sleep(job.payload.ms, undefined, { signal: job.signal }).catch(() => {});
        if (job.signal.aborted) throw job.signal.reason;
        return 'ran to the end';
      }, { concurrency: 1, pollIntervalMs: 20, abortGraceMs: 200 });
      const { id } = await queue.add('slow', { ms: 3000 }, { timeoutMs: 300, maxRetries: 0 });
      let job = await client.getJob(id);
      const end = performance.now() + 10_000;
      while (job?.state !== 'dead' && job?.state !== 'completed' && performance.now() < end) {
        await sleep(50);
        job = await client.getJob(id);
      }
      assert.equal(job?.state, 'dead', 'the attempt timed out instead of running its 3 s');
      assert.equal(job?.errors[0]?.kind, 'timeout');
      assert.ok(performance.now() - started < 2500, 'it timed out long before the handler would have ended');
    } finally {
      stepWallClock(0);
      await client.close({ graceMs: 0 });
    }
  });

  it('an attempt does not time out early when the wall clock steps forward mid-attempt', { timeout: 20_000 }, async () => {
    const client = await open();
    try {
      const queue = client.queue<{ ms: number }>('clock-forward');
      queue.process(async (job) => {
        // The short-limit job steps the clock once its deadline is armed: the timer then fires
        // at that deadline, while the long-limit job still runs.
        if (job.name === 'short-limit') stepWallClock(HOUR);
        await sleep(job.payload.ms, undefined, { signal: job.signal });
        return 'done';
      }, { concurrency: 2, pollIntervalMs: 20 });
      const [a] = await queue.addBulk([
        { name: 'long-limit', payload: { ms: 600 }, opts: { timeoutMs: 5000, maxRetries: 0 } },
        { name: 'short-limit', payload: { ms: 100 }, opts: { timeoutMs: 200, maxRetries: 0 } },
      ]);
      let job = await client.getJob(a!.id);
      const end = performance.now() + 10_000;
      while (job?.state !== 'dead' && job?.state !== 'completed' && performance.now() < end) {
        await sleep(50);
        job = await client.getJob(a!.id);
      }
      assert.equal(job?.state, 'completed', `a 600 ms attempt with a 5 s limit completed (errors: ${JSON.stringify(job?.errors.map((e) => e.kind))})`);
    } finally {
      stepWallClock(0);
      await client.close({ graceMs: 0 });
    }
  });
});
