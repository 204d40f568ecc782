/**
 * Tenant groups (ADR 0015) at the backend level, with injected time: claims rotate across a
 * queue's groups (a burst does not delay another group's job), shares are round-robin, the
 * per-group limits (concurrency, FIFO, rate per key) hold and say why a claim came back short,
 * ungrouped jobs of a grouped queue are one more member of the rotation, and grouped queues get
 * no direct dispatch.
 */
import assert from 'node:assert/strict';
import { NO_QUEUE_LIMITS, type Backend, type ClaimedJob, type QueueLimits } from '@spindle/core';
import type { Suite } from '../suite.js';
import { KEEP_FOREVER, LEASE_MS, QUEUE, RESCUE_SPREAD_MS, WORKER, attemptError, finalizeOne, insertMany, jobInsert, mustGet } from './fixtures.js';

const claim = (backend: Backend, limit: number, now: Date) => backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit, leaseMs: LEASE_MS, now });
const limits = (backend: Backend, l: Partial<QueueLimits>) => backend.setQueueLimits({ queue: QUEUE, limits: { ...NO_QUEUE_LIMITS, ...l } });

/** Group of each claimed job, read back from the store. */
async function groupsOf(backend: Backend, jobs: ClaimedJob[]): Promise<Array<string | null>> {
  return Promise.all(jobs.map(async (j) => (await mustGet(backend, j.id)).group));
}

export function groupTests(suite: Suite): void {
  suite.group('tenant groups', () => {
    suite.test("a 10,000-job burst of one group does not delay another group's single job", async ({ backend, at }) => {
      await insertMany(backend, Array.from({ length: 10_000 }, () => ({ group: 'tenant-a' })), at(0));
      const [single] = await insertMany(backend, [{ group: 'tenant-b' }], at(1));
      const first = await claim(backend, 2, at(2));
      assert.equal(first.length, 2);
      assert.ok(first.some((j) => j.id === single), 'the other tenant is served in the first claim');
      assert.deepEqual((await groupsOf(backend, first)).sort(), ['tenant-a', 'tenant-b']);
      assert.equal((await mustGet(backend, single!)).group, 'tenant-b');
      assert.equal((await backend.listQueues()).find((q) => q.name === QUEUE)?.grouped, true);
    });

    suite.test('claims share round-robin across groups and rotate when there are more groups than slots', async ({ backend, at }) => {
      const ids: Record<string, string[]> = {};
      for (const g of ['a', 'b', 'c']) ids[g] = await insertMany(backend, Array.from({ length: 5 }, () => ({ group: g })), at(0));
      const six = await claim(backend, 6, at(1));
      const counts = (await groupsOf(backend, six)).reduce<Record<string, number>>((m, g) => ({ ...m, [g!]: (m[g!] ?? 0) + 1 }), {});
      assert.deepEqual(counts, { a: 2, b: 2, c: 2 });
      // One slot per claim: the rotation moves on from where the last claim stopped.
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) seen.push(...((await groupsOf(backend, await claim(backend, 1, at(2 + i)))) as string[]));
      assert.deepEqual([...seen].sort(), ['a', 'b', 'c'], `three one-job claims serve three different groups (got ${seen})`);
      // Within a group: submission order (same priority).
      const rest = await claim(backend, 100, at(10));
      assert.equal(rest.length, 6);
      const aRest = rest.filter((j) => ids.a!.includes(j.id)).map((j) => ids.a!.indexOf(j.id));
      assert.deepEqual(aRest, [...aRest].sort((x, y) => x - y));
    });

    suite.test('ungrouped jobs of a grouped queue are one more member of the rotation', async ({ backend, at }) => {
      const [plain] = await insertMany(backend, [{}], at(0));
      await insertMany(backend, Array.from({ length: 50 }, () => ({ group: 'bulk' })), at(1));
      const [late] = await insertMany(backend, [{}], at(2));
      const two = await claim(backend, 2, at(3));
      assert.deepEqual((await groupsOf(backend, two)).sort(), [null, 'bulk'].sort());
      assert.ok(two.some((j) => j.id === plain));
      const next = await claim(backend, 2, at(4));
      assert.ok(next.some((j) => j.id === late), 'the ungrouped job inserted after the burst is not behind it');
      assert.equal((await mustGet(backend, late!)).group, null);
    });

    suite.test('a per-group concurrency limit counts running jobs per group and says so when all are full', async ({ backend, at }) => {
      await limits(backend, { groupConcurrency: 2 });
      await insertMany(backend, Array.from({ length: 4 }, () => ({ group: 'x' })), at(0));
      await insertMany(backend, Array.from({ length: 4 }, () => ({ group: 'y' })), at(0));
      const first = await claim(backend, 10, at(1));
      assert.equal(first.length, 4);
      assert.deepEqual((await groupsOf(backend, first)).sort(), ['x', 'x', 'y', 'y']);
      assert.equal(first.limited?.reason, 'concurrency');
      const none = await claim(backend, 10, at(2));
      assert.equal(none.length, 0);
      assert.deepEqual(none.limited, { reason: 'concurrency' });
      const xJob = first[0]!;
      await finalizeOne(backend, xJob, { kind: 'complete', result: null }, at(3));
      const one = await claim(backend, 10, at(4));
      assert.equal(one.length, 1);
      assert.equal((await mustGet(backend, one[0]!.id)).group, (await mustGet(backend, xJob.id)).group);
    });

    suite.test('FIFO: one job per group in flight, in submission order, a retrying job keeping its place', async ({ backend, at }) => {
      await limits(backend, { fifo: true });
      const ids = await insertMany(backend, Array.from({ length: 3 }, () => ({ group: 'serial' })), at(0));
      const [other] = await insertMany(backend, [{ group: 'other' }], at(0));
      const first = await claim(backend, 10, at(1));
      assert.deepEqual(first.map((j) => j.id).sort(), [ids[0], other].sort());
      const j0 = first.find((j) => j.id === ids[0])!;
      await finalizeOne(backend, j0, { kind: 'retry', error: attemptError({ at: at(2).getTime() }), delayMs: 1000 }, at(2));
      assert.equal((await claim(backend, 10, at(3))).length, 0, 'a retrying job still holds its group');
      await backend.promoteDueJobs({ limit: 100, now: at(2000) });
      const again = await claim(backend, 10, at(2001));
      assert.deepEqual(again.map((j) => j.id), [ids[0]], 'the retried job runs before the later ones');
      await finalizeOne(backend, again[0]!, { kind: 'complete', result: null }, at(2002));
      assert.deepEqual((await claim(backend, 10, at(2003))).map((j) => j.id), [ids[1]]);
    });

    suite.test('FIFO: a job rescued after its lease expired keeps its place (retrying, it holds its group until it runs again)', async ({ backend, at }) => {
      await limits(backend, { fifo: true });
      const ids = await insertMany(backend, Array.from({ length: 3 }, () => ({ group: 'serial' })), at(0));
      const [other] = await insertMany(backend, [{ group: 'other' }], at(0));
      const crashed = await backend.claimJobs({ queue: QUEUE, workerId: 'crashed', limit: 10, leaseMs: 1_000, now: at(1) });
      assert.deepEqual(crashed.map((j) => j.id).sort(), [ids[0], other].sort());
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepEqual([...rescued.requeued].sort(), [ids[0], other].sort());
      assert.equal((await mustGet(backend, ids[0]!)).state, 'retrying');
      assert.equal((await claim(backend, 10, at(2_001))).length, 0, 'a later job of the group ran before the rescued one');
      await backend.promoteDueJobs({ limit: 100, now: at(2_000 + RESCUE_SPREAD_MS) });
      const again = await claim(backend, 10, at(2_001 + RESCUE_SPREAD_MS));
      assert.deepEqual(again.map((j) => j.id).sort(), [ids[0], other].sort(), 'the rescued job runs before the later ones of its group');
      const j0 = again.find((j) => j.id === ids[0])!;
      assert.equal(j0.attempt, 2);
      await finalizeOne(backend, j0, { kind: 'complete', result: null }, at(2_002 + RESCUE_SPREAD_MS));
      assert.deepEqual((await claim(backend, 10, at(2_003 + RESCUE_SPREAD_MS))).map((j) => j.id), [ids[1]]);
    });

    suite.test('a singleton key (groupConcurrency 1): at most one running per key, the others keep going', async ({ backend, at }) => {
      await limits(backend, { groupConcurrency: 1 });
      await insertMany(backend, Array.from({ length: 3 }, () => ({ group: 'report:acme' })), at(0));
      await insertMany(backend, Array.from({ length: 3 }, () => ({ group: 'report:globex' })), at(0));
      const first = await claim(backend, 10, at(1));
      assert.deepEqual((await groupsOf(backend, first)).sort(), ['report:acme', 'report:globex']);
      assert.equal((await claim(backend, 10, at(2))).length, 0, 'both keys have their one running job');
      await finalizeOne(backend, first[0]!, { kind: 'complete', result: null }, at(3));
      const next = await claim(backend, 10, at(4));
      assert.equal(next.length, 1);
      assert.equal((await mustGet(backend, next[0]!.id)).group, (await mustGet(backend, first[0]!.id)).group, 'the key whose job finished runs its next');
    });

    suite.test('a rate limit per group (per key) is a sliding window per group', async ({ backend, at }) => {
      await limits(backend, { groupRate: { max: 2, intervalMs: 1000 } });
      await insertMany(backend, Array.from({ length: 5 }, () => ({ group: 'k1' })), at(0));
      await insertMany(backend, Array.from({ length: 5 }, () => ({ group: 'k2' })), at(0));
      const a = await claim(backend, 10, at(100));
      assert.equal(a.length, 4, 'two per group');
      const b = await claim(backend, 10, at(500));
      assert.equal(b.length, 0);
      assert.equal(b.limited?.reason, 'rate');
      assert.equal(b.limited?.retryAfterMs, 600);
      const c = await claim(backend, 10, at(1101));
      assert.equal(c.length, 4);
    });

    suite.test('a grouped queue gets no direct dispatch; limits list with the queue', async ({ backend, at }) => {
      await insertMany(backend, [{ group: 'g' }], at(0));
      const out = await backend.insertJobs({
        jobs: [jobInsert({ group: 'g' })],
        dispatch: [{ queue: QUEUE, workerId: WORKER, limit: 5, leaseMs: LEASE_MS }],
        now: at(1),
      });
      assert.equal(out[0]!.state, 'queued');
      assert.equal(out[0]!.claimed, undefined);
      await limits(backend, { groupConcurrency: 3, groupRate: { max: 9, intervalMs: 60_000 } });
      const listed = (await backend.listQueues()).find((q) => q.name === QUEUE)!;
      assert.deepEqual(listed.limits, { ...NO_QUEUE_LIMITS, groupConcurrency: 3, groupRate: { max: 9, intervalMs: 60_000 } });
    });
  });
}
