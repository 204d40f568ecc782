/**
 * Queue limits across real processes (issue 6): worker processes share one database and a
 * limited queue. A concurrency limit is checked from the handlers' own start and end times
 * (each strictly inside its job's running interval, so an overlap of N + 1 handlers proves N + 1
 * running jobs); a rate limit from the jobs' start times as the database recorded them (the
 * times the limit is defined on). A per-group limit is checked the same way, group by group.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JobRecord } from '@spindle/core';
import { makeClient, waitFor } from '../client/harness.js';
import { Child, type CrashFactory } from './crash-tests.js';

/** Most intervals open at once (a sweep over starts and ends; an end before a start at a tie). */
function maxOverlap(intervals: Array<{ start: number; end: number }>): number {
  const points = intervals.flatMap((i) => [{ t: i.start, d: 1 }, { t: i.end, d: -1 }]).sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let most = 0;
  for (const p of points) most = Math.max(most, (open += p.d));
  return most;
}

async function allJobs(client: ReturnType<typeof makeClient>, queue: string): Promise<JobRecord[]> {
  const jobs: JobRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await client.listJobs({ filter: { queue }, limit: 500, ...(cursor ? { cursor } : {}) });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

export function limitProcessTests(factory: CrashFactory): void {
  describe(`${factory.name}: queue limits across processes`, () => {
    it('a global concurrency limit of 3 is never exceeded by 4 processes of concurrency 4', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const children: Child[] = [];
      try {
        const q = parent.queue('limited');
        await q.setLimits({ concurrency: 3 });
        await q.addBulk(Array.from({ length: 48 }, (_, i) => ({ name: 'work', payload: { i } })));
        await parent.start();
        for (const tag of ['A', 'B', 'C', 'D']) {
          children.push(new Child(factory.childScript, { ...childEnv, CRASH_TAG: tag, CRASH_QUEUE: 'limited', CRASH_MODE: 'timed:40', CRASH_CONCURRENCY: '4' }));
        }
        await waitFor(async () => (await q.counts()).completed === 48, 'all 48 jobs completed', 60_000);
        const jobs = await allJobs(parent, 'limited');
        const runs = jobs.map((j) => j.result as { by: string; start: number; end: number });
        assert.equal(runs.length, 48);
        const most = maxOverlap(runs);
        assert.ok(most <= 3, `at most 3 handlers at once across processes (saw ${most})`);
        assert.ok(most >= 2, `the limit was exercised: jobs did run in parallel (saw ${most})`);
        // Which process wins a freed slot is not promised (on SQLite the one that freed it hears
        // first); every process keeps claiming against the same limit either way.
      } finally {
        await Promise.all(children.map((c) => c.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });

    it('a rate limit of 5 per 500 ms is never exceeded by 3 processes', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const children: Child[] = [];
      try {
        const q = parent.queue('metered');
        await q.setLimits({ rate: { max: 5, intervalMs: 500 } });
        await q.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'work', payload: { i } })));
        await parent.start();
        const t0 = Date.now();
        for (const tag of ['A', 'B', 'C']) {
          children.push(new Child(factory.childScript, { ...childEnv, CRASH_TAG: tag, CRASH_QUEUE: 'metered', CRASH_MODE: 'quick', CRASH_CONCURRENCY: '10' }));
        }
        await waitFor(async () => (await q.counts()).completed === 30, 'all 30 jobs completed', 60_000);
        const starts = (await allJobs(parent, 'metered')).map((j) => j.startedAt!.getTime()).sort((a, b) => a - b);
        for (const s of starts) {
          const inWindow = starts.filter((x) => x > s - 500 && x <= s).length;
          assert.ok(inWindow <= 5, `at most 5 starts in any 500 ms (saw ${inWindow} in the window ending at ${s - starts[0]!} ms)`);
        }
        assert.ok(starts[29]! - starts[0]! >= 5 * 500 - 50, 'the 30 starts were spread over at least 2.5 s');
        assert.ok(Date.now() - t0 < 30_000, 'and the workers did not idle much longer than the rate requires');
      } finally {
        await Promise.all(children.map((c) => c.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });

    it('a per-group limit of 2 is never exceeded by 3 processes, and small tenants do not wait for a burst', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const children: Child[] = [];
      try {
        const q = parent.queue('tenants');
        await q.setLimits({ groupConcurrency: 2 });
        // A burst of one tenant first, then two small tenants: they must not wait for the burst.
        await q.addBulk(Array.from({ length: 36 }, (_, i) => ({ name: 'work', payload: { i }, opts: { group: 'big' } })));
        await q.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'work', payload: { i }, opts: { group: i % 2 ? 'small-1' : 'small-2' } })));
        await parent.start();
        for (const tag of ['A', 'B', 'C']) {
          children.push(new Child(factory.childScript, { ...childEnv, CRASH_TAG: tag, CRASH_QUEUE: 'tenants', CRASH_MODE: 'timed:40', CRASH_CONCURRENCY: '4' }));
        }
        await waitFor(async () => (await q.counts()).completed === 42, 'all 42 jobs completed', 60_000);
        const jobs = await allJobs(parent, 'tenants');
        const byGroup = new Map<string, Array<{ start: number; end: number }>>();
        for (const j of jobs) byGroup.set(j.group!, [...(byGroup.get(j.group!) ?? []), j.result as { start: number; end: number }]);
        for (const [group, runs] of byGroup) {
          const most = maxOverlap(runs);
          assert.ok(most <= 2, `at most 2 handlers of group ${group} at once across processes (saw ${most})`);
        }
        assert.equal(maxOverlap(byGroup.get('big')!), 2, 'the per-group limit was exercised');
        const bigEnd = Math.max(...byGroup.get('big')!.map((r) => r.end));
        const smallEnd = Math.max(...['small-1', 'small-2'].flatMap((g) => byGroup.get(g)!.map((r) => r.end)));
        assert.ok(smallEnd < bigEnd, 'the small tenants finished while the burst was still running');
      } finally {
        await Promise.all(children.map((c) => c.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });
  });
}
