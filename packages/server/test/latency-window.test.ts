/** The latency window's percentiles (log buckets, ±19 %) and its memory bounds. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LatencyWindow, percentiles } from '../src/metrics/latency-window.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const ev = (type: string, jobId: string, at: number, status: string, queue = 'q') => ({ id: 'x', type, jobId, queue, at: new Date(at).toISOString(), status });

describe('LatencyWindow', () => {
  test('percentiles of wait and run times are within one bucket (±19 %)', () => {
    const w = new LatencyWindow();
    // Runs of 1..100 ms, waits of 10 ms each.
    for (let i = 1; i <= 100; i++) {
      const id = `j${i}`;
      w.observe(ev('job.added', id, t0, 'queued'));
      w.observe(ev('job.started', id, t0 + 10, 'running'));
      w.observe(ev('job.completed', id, t0 + 10 + i, 'completed'));
    }
    const a = w.query({ fromMs: t0, toMs: t0 + 60_000, stepMs: 60_000, queues: null });
    const run = percentiles(a.total, 'run');
    assert.equal(run.count, 100);
    for (const [got, want] of [
      [run.p50, 50],
      [run.p95, 95],
      [run.p99, 99],
    ] as const) assert.ok(got !== null && Math.abs(got - want) / want <= 0.2, `${got} vs ${want}`);
    const wait = percentiles(a.total, 'wait');
    assert.ok(wait.p95 !== null && Math.abs(wait.p95 - 10) <= 2, String(wait.p95));
    assert.equal(a.perQueue.get('q')?.runN, 100);
    assert.equal(percentiles(null, 'run').p95, null);
  });

  test('filters by queue and bucket, and forgets minutes older than the retention', () => {
    const w = new LatencyWindow(3_600_000);
    const run = (id: string, at: number, queue: string) => {
      w.observe(ev('job.started', id, at, 'running', queue));
      w.observe(ev('job.completed', id, at + 5, 'completed', queue));
    };
    run('a', t0, 'a');
    run('b', t0 + 120_000, 'b');
    const onlyB = w.query({ fromMs: t0, toMs: t0 + 180_000, stepMs: 60_000, queues: new Set(['b']) });
    assert.equal(onlyB.total.runN, 1);
    assert.equal(onlyB.buckets[0], null);
    assert.equal(onlyB.buckets[2]?.runN, 1);
    run('c', t0 + 2 * 3_600_000, 'a'); // two hours later: the first minutes are pruned
    const all = w.query({ fromMs: t0 - 60_000, toMs: t0 + 3 * 3_600_000, stepMs: 60_000, queues: null });
    assert.equal(all.total.runN, 1);
  });
});
