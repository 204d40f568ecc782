/**
 * Flows (insertFlow, getChildren, and the parent bookkeeping of every write that finishes a
 * child): a parent waits for its children; it becomes `queued` exactly once when the last one
 * finishes; a dead / cancelled / deleted child ends it `dead` under `fail` and is just counted
 * under `continue`; retried children are waited for again; nesting cascades; and nothing
 * touches a parent that left `waiting` (docs/decisions/0012-flows.md).
 */
import assert from 'node:assert/strict';
import type { Backend, ChildFailurePolicy, FlowNodeInsert, JobInsert } from '@spindle/core';
import type { Suite } from '../suite.js';
import { attemptError, claimOne, finalizeOne, jobInsert, KEEP_FOREVER, LEASE_MS, mustGet, RESCUE_SPREAD_MS, rescueAndPromote } from './fixtures.js';

/** A flow tree for tests: a job's overrides, its policy and its children. */
export interface TreeSpec {
  job?: Partial<JobInsert>;
  policy?: ChildFailurePolicy;
  children?: TreeSpec[];
}

/** The pre-ordered nodes of a tree (what the core sends). */
export function flowNodes(tree: TreeSpec): FlowNodeInsert[] {
  const nodes: FlowNodeInsert[] = [];
  const walk = (spec: TreeSpec, parentIndex: number | null): void => {
    const index = nodes.length;
    const children = spec.children ?? [];
    nodes.push({ ...jobInsert({ queue: 'flow', ...spec.job }), parentIndex, childCount: children.length, onChildFailure: spec.policy ?? 'fail' });
    for (const child of children) walk(child, index);
  };
  walk(tree, null);
  return nodes;
}

/** Inserts a tree (must be new) and returns its node ids in pre-order. */
export async function insertTree(backend: Backend, tree: TreeSpec, now?: Date): Promise<string[]> {
  const nodes = flowNodes(tree);
  const result = await backend.insertFlow({ nodes, now });
  assert.equal(result.inserted, true);
  return nodes.map((n) => n.id);
}

/** A parent in queue `p` with `n` leaf children in queue `c` (named `c0`, `c1`, …). */
function fanOut(n: number, policy: ChildFailurePolicy = 'fail', child: Partial<JobInsert> = {}): TreeSpec {
  return {
    job: { queue: 'p', name: 'parent' },
    policy,
    children: Array.from({ length: n }, (_, i) => ({ job: { queue: 'c', name: `c${i}`, ...child } })),
  };
}

/** Claims the child `id` of queue `c` (claims in insertion order) and completes it with `result`. */
async function complete(backend: Backend, queue: string, now: Date, result = '"ok"'): Promise<string> {
  const job = await claimOne(backend, { queue, now });
  assert.equal(await finalizeOne(backend, job, { kind: 'complete', result }, now), 'ok');
  return job.id;
}

async function kill(backend: Backend, queue: string, now: Date, reason = 'broken'): Promise<string> {
  const job = await claimOne(backend, { queue, now });
  assert.equal(await finalizeOne(backend, job, { kind: 'dead', error: attemptError({ message: reason }), reason }, now), 'ok');
  return job.id;
}

export function flowTests(suite: Suite): void {
  suite.group('flows', () => {
    suite.test('inserts a tree in one call: parents wait with their child count, leaves are queued or scheduled', async ({ backend, at }) => {
      const ids = await insertTree(backend, { job: { queue: 'p' }, children: [{ job: { queue: 'c' } }, { job: { queue: 'd', delayMs: 60_000 } }] }, at(0));
      const [parent, child, delayed] = await Promise.all(ids.map((id) => mustGet(backend, id)));
      assert.equal(parent!.state, 'waiting');
      assert.equal(parent!.pendingChildren, 2);
      assert.equal(parent!.onChildFailure, 'fail');
      assert.equal(parent!.parentId, null);
      assert.equal(child!.state, 'queued');
      assert.equal(child!.parentId, ids[0]);
      assert.equal(child!.pendingChildren, null);
      assert.equal(delayed!.state, 'scheduled');
      assert.deepStrictEqual((await backend.getChildren(ids[0]!)).map((j) => j.id), [ids[1], ids[2]]);
      assert.deepStrictEqual(await backend.getChildren(ids[1]!), []);
      // A waiting parent is never claimed, is counted and its queue is known.
      assert.deepStrictEqual(await backend.claimJobs({ queue: 'p', workerId: 'w', limit: 10, leaseMs: LEASE_MS, now: at(1) }), []);
      assert.ok((await backend.countJobs()).some((r) => r.queue === 'p' && r.state === 'waiting' && r.count === 1));
      assert.ok((await backend.listQueues()).some((q) => q.name === 'p'));
      const page = await backend.listJobs({ filter: { parentId: ids[0]! }, limit: 10, order: 'oldest' });
      assert.deepStrictEqual(page.jobs.map((j) => j.id), [ids[1], ids[2]]);
      const waiting = await backend.listJobs({ filter: { states: ['waiting'] }, limit: 10 });
      assert.deepStrictEqual(waiting.jobs.map((j) => j.id), [ids[0]]);
    });

    suite.test('a duplicate root (id or unique key) inserts nothing and names the existing job', async ({ backend, at }) => {
      const first = flowNodes({ job: { queue: 'p', uniqueKey: 'video-1' }, children: [{ job: { queue: 'c' } }] });
      assert.equal((await backend.insertFlow({ nodes: first, now: at(0) })).inserted, true);
      const byKey = flowNodes({ job: { queue: 'p', uniqueKey: 'video-1' }, children: [{ job: { queue: 'c' } }] });
      assert.deepStrictEqual(await backend.insertFlow({ nodes: byKey, now: at(1) }), { inserted: false, id: first[0]!.id, state: 'waiting', states: [] });
      const byId = flowNodes({ job: { queue: 'p', id: first[0]!.id }, children: [{ job: { queue: 'c' } }] });
      assert.equal((await backend.insertFlow({ nodes: byId, now: at(2) })).inserted, false);
      assert.equal(await backend.getJob(byKey[1]!.id), null);
      assert.equal(await backend.getJob(byId[1]!.id), null);
      assert.equal((await backend.getChildren(first[0]!.id)).length, 1);
    });

    suite.test('a flow whose child id collides with an existing job writes nothing', async ({ backend, at }) => {
      const taken = flowNodes({ job: { queue: 'c' } })[0]!;
      await backend.insertJobs({ jobs: [taken], now: at(0) });
      const nodes = flowNodes({ job: { queue: 'p' }, children: [{ job: { queue: 'c' } }, { job: { queue: 'c', id: taken.id } }] });
      await assert.rejects(backend.insertFlow({ nodes, now: at(1) }));
      assert.equal(await backend.getJob(nodes[0]!.id), null);
      assert.equal(await backend.getJob(nodes[1]!.id), null);
    });

    suite.test('the parent waits for every child, then becomes queued once and runs with their results', async ({ backend, at }) => {
      const [parent] = await insertTree(backend, fanOut(3), at(0));
      await complete(backend, 'c', at(1), '1');
      await complete(backend, 'c', at(2), '2');
      let record = await mustGet(backend, parent!);
      assert.equal(record.state, 'waiting');
      assert.equal(record.pendingChildren, 1);
      await complete(backend, 'c', at(3), '3');
      record = await mustGet(backend, parent!);
      assert.equal(record.state, 'queued');
      assert.equal(record.pendingChildren, 0);
      assert.equal(record.finishedAt, null);
      const claimed = await claimOne(backend, { queue: 'p', now: at(4) });
      assert.equal(claimed.id, parent);
      const children = await backend.getChildren(parent!);
      assert.deepStrictEqual(children.map((c) => [c.name, c.state, c.result]), [['c0', 'completed', 1], ['c1', 'completed', 2], ['c2', 'completed', 3]]);
      assert.equal(await finalizeOne(backend, claimed, { kind: 'complete', result: null }, at(5)), 'ok');
    });

    suite.test('a parent whose own delay is still ahead becomes scheduled, not queued', async ({ backend, at }) => {
      const [parent] = await insertTree(backend, { ...fanOut(1), job: { queue: 'p', delayMs: 3_600_000 } }, at(0));
      await complete(backend, 'c', at(1));
      assert.equal((await mustGet(backend, parent!)).state, 'scheduled');
    });

    suite.test("policy 'fail': a dead child ends the parent dead at once, naming the child; siblings run on and change nothing", async ({ backend, at }) => {
      const [parent, first, second] = await insertTree(backend, fanOut(2, 'fail'), at(0));
      await kill(backend, 'c', at(1), 'transcoder crashed');
      const dead = await mustGet(backend, parent!);
      assert.equal(dead.state, 'dead');
      assert.equal(dead.failureReason, 'child c/c0 dead');
      assert.ok(dead.finishedAt);
      assert.ok(dead.lastFailedAt);
      const last = dead.errors.at(-1)!;
      assert.equal(last.name, 'ChildFailed');
      assert.equal(last.kind, 'permanent');
      assert.match(last.message, new RegExp(`child ${first} \\(c/c0\\) dead: transcoder crashed`));
      assert.ok((await backend.dlqDepth()).some((d) => d.queue === 'p' && d.depth === 1));
      // The sibling still runs; its completion does not touch the dead parent.
      assert.equal(await complete(backend, 'c', at(2)), second);
      const after = await mustGet(backend, parent!);
      assert.equal(after.state, 'dead');
      assert.deepStrictEqual(after.finishedAt, dead.finishedAt);
      assert.equal(after.errors.length, dead.errors.length);
    });

    suite.test("policy 'continue': a dead child is counted and the parent runs once all finished", async ({ backend, at }) => {
      const [parent] = await insertTree(backend, fanOut(2, 'continue'), at(0));
      await kill(backend, 'c', at(1));
      assert.equal((await mustGet(backend, parent!)).state, 'waiting');
      await complete(backend, 'c', at(2));
      const record = await mustGet(backend, parent!);
      assert.equal(record.state, 'queued');
      assert.equal(record.failureReason, null);
      const children = await backend.getChildren(parent!);
      assert.deepStrictEqual(children.map((c) => [c.state, c.failureReason]), [['dead', 'broken'], ['completed', null]]);
    });

    suite.test('cancelling a queued child: fail → parent dead; continue → counted', async ({ backend, at }) => {
      const [failParent, failChild] = await insertTree(backend, fanOut(2, 'fail'), at(0));
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [failChild!], retention: KEEP_FOREVER, now: at(1) }), ['cancelled']);
      const failed = await mustGet(backend, failParent!);
      assert.equal(failed.state, 'dead');
      assert.equal(failed.failureReason, 'child c/c0 cancelled');
      const [goParent, goChild, goSibling] = await insertTree(backend, fanOut(2, 'continue', { queue: 'k' }), at(2));
      await backend.cancelJobs({ ids: [goChild!, goSibling!], retention: KEEP_FOREVER, now: at(3) });
      assert.equal((await mustGet(backend, goParent!)).state, 'queued');
    });

    suite.test('a running child cancelled by its worker, and a cancel of the waiting parent itself', async ({ backend, at }) => {
      const [parent] = await insertTree(backend, fanOut(2, 'fail'), at(0));
      const running = await claimOne(backend, { queue: 'c', now: at(1) });
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [running.id], retention: KEEP_FOREVER, now: at(2) }), ['cancel_requested']);
      assert.equal((await mustGet(backend, parent!)).state, 'waiting', 'a cancel request alone finishes nothing');
      assert.equal(await finalizeOne(backend, running, { kind: 'cancel', error: null }, at(3)), 'ok');
      assert.equal((await mustGet(backend, parent!)).state, 'dead');
      // Cancelling a waiting parent (its children keep their own course).
      const [other, otherChild] = await insertTree(backend, fanOut(1, 'fail', { queue: 'k' }), at(4));
      assert.deepStrictEqual(await backend.cancelJobs({ ids: [other!], retention: KEEP_FOREVER, now: at(5) }), ['cancelled']);
      assert.equal((await mustGet(backend, otherChild!)).state, 'queued');
      await complete(backend, 'k', at(6));
      assert.equal((await mustGet(backend, other!)).state, 'cancelled');
    });

    suite.test("the rescuer moving a child's expired lease to dead settles the parent", async ({ backend, at }) => {
      const [parent] = await insertTree(backend, fanOut(1, 'fail', { maxRetries: 0 }), at(0));
      await claimOne(backend, { queue: 'c', now: at(1), leaseMs: 1_000 });
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(5_000) });
      assert.equal(rescued.dead.length, 1);
      const record = await mustGet(backend, parent!);
      assert.equal(record.state, 'dead');
      assert.match(record.errors.at(-1)!.message, /dead: lease expired/);
      // A child that will run again (retrying, then queued: not finished) changes nothing.
      const [other, child] = await insertTree(backend, fanOut(1, 'fail', { queue: 'k', maxRetries: 2 }), at(6_000));
      await claimOne(backend, { queue: 'k', now: at(6_001), leaseMs: 1_000 });
      const again = await rescueAndPromote(backend, at(9_000));
      assert.deepStrictEqual(again.requeued, [child]);
      assert.equal((await mustGet(backend, other!)).state, 'waiting');
      assert.equal((await mustGet(backend, other!)).pendingChildren, 1);
      // The rescued child runs again and completes: the parent goes on as after any child.
      const rerun = await claimOne(backend, { queue: 'k', now: again.promotedAt });
      assert.equal(rerun.id, child);
      assert.equal(rerun.attempt, 2);
      assert.equal(await finalizeOne(backend, rerun, { kind: 'complete', result: null }, again.promotedAt), 'ok');
      const settled = await mustGet(backend, other!);
      assert.equal(settled.pendingChildren, 0);
      // queued, or scheduled while its own runAt is ahead of the database clock (PostgreSQL settles by now()).
      assert.ok(settled.state === 'queued' || settled.state === 'scheduled', `parent ${settled.state} after its child completed`);
    });

    suite.test('deleting an unfinished child counts as a failed child; deleting a finished one changes nothing', async ({ backend, at }) => {
      const [parent, first, second] = await insertTree(backend, fanOut(2, 'continue'), at(0));
      await complete(backend, 'c', at(1));
      assert.deepStrictEqual(await backend.deleteJobs({ ids: [first!] }), ['ok']);
      assert.equal((await mustGet(backend, parent!)).pendingChildren, 1);
      assert.deepStrictEqual(await backend.deleteJobs({ ids: [second!] }), ['ok']);
      assert.equal((await mustGet(backend, parent!)).state, 'queued');
      const [failing, child] = await insertTree(backend, fanOut(1, 'fail', { queue: 'k' }), at(2));
      await backend.deleteJobs({ ids: [child!] });
      assert.equal((await mustGet(backend, failing!)).failureReason, 'child k/c0 deleted');
    });

    suite.test('a child removed on completion still counts as completed', async ({ backend, at }) => {
      const retention = { completedKeepMs: 0, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
      const [parent] = await insertTree(backend, fanOut(2, 'fail', { retention }), at(0));
      // Both in one finalize batch (the batched removal path).
      const jobs = await backend.claimJobs({ queue: 'c', workerId: 'w', limit: 2, leaseMs: LEASE_MS, now: at(1) });
      const outcomes = await backend.finalizeJobs({ items: jobs.map((j) => ({ id: j.id, attempt: j.attempt, leaseToken: j.leaseToken, kind: 'complete' as const, result: null })), retention: KEEP_FOREVER, now: at(2) });
      assert.deepStrictEqual(outcomes, ['ok', 'ok']);
      assert.deepStrictEqual(await backend.getChildren(parent!), []);
      assert.equal((await mustGet(backend, parent!)).state, 'queued');
    });

    suite.test('a replayed (or retried) child of a still-waiting parent is waited for again', async ({ backend, at }) => {
      const [parent, first] = await insertTree(backend, fanOut(2, 'continue'), at(0));
      await kill(backend, 'c', at(1));
      assert.equal((await mustGet(backend, parent!)).pendingChildren, 1);
      assert.deepStrictEqual((await backend.dlqReplay({ ids: [first!], limit: 10, now: at(2) })).replayed, [first]);
      assert.equal((await mustGet(backend, parent!)).pendingChildren, 2);
      await complete(backend, 'c', at(3));
      assert.equal((await mustGet(backend, parent!)).state, 'waiting');
      await complete(backend, 'c', at(4));
      assert.equal((await mustGet(backend, parent!)).state, 'queued');
      // Once the parent left `waiting`, retrying a child does not touch it.
      assert.deepStrictEqual(await backend.retryJobs({ ids: [first!], now: at(5) }), ['ok']);
      const record = await mustGet(backend, parent!);
      assert.equal(record.state, 'queued');
      assert.equal(record.pendingChildren, 0);
    });

    suite.test('nested flows: grandchildren release their parent, which releases the root; a failure cascades up', async ({ backend, at }) => {
      const tree: TreeSpec = {
        job: { queue: 'root', name: 'notify' },
        children: [
          { job: { queue: 'mid', name: 'transcode' }, children: [{ job: { queue: 'leaf', name: 'a' } }, { job: { queue: 'leaf', name: 'b' } }] },
          { job: { queue: 'leaf2', name: 'thumbnail' } },
        ],
      };
      const [root, mid] = await insertTree(backend, tree, at(0));
      assert.equal((await mustGet(backend, mid!)).state, 'waiting');
      await complete(backend, 'leaf', at(1));
      await complete(backend, 'leaf', at(2));
      assert.equal((await mustGet(backend, mid!)).state, 'queued');
      await complete(backend, 'leaf2', at(3));
      assert.equal((await mustGet(backend, root!)).state, 'waiting', 'the root still waits for its own child');
      await complete(backend, 'mid', at(4));
      assert.equal((await mustGet(backend, root!)).state, 'queued');

      const [root2, mid2] = await insertTree(backend, { ...tree, job: { queue: 'root2' } }, at(10));
      await kill(backend, 'leaf', at(11));
      assert.equal((await mustGet(backend, mid2!)).state, 'dead');
      const top = await mustGet(backend, root2!);
      assert.equal(top.state, 'dead');
      assert.equal(top.failureReason, 'child mid/transcode dead');
    });

    suite.test('two workers completing the last two children at once leave the parent queued exactly once', async ({ backend, at }) => {
      for (let round = 0; round < 5; round++) {
        const queue = `c${round}`;
        const [parent] = await insertTree(backend, { job: { queue: `p${round}` }, children: [{ job: { queue } }, { job: { queue } }] }, at(0));
        const a = await claimOne(backend, { queue, now: at(1), workerId: 'w1' });
        const b = await claimOne(backend, { queue, now: at(1), workerId: 'w2' });
        const outcomes = await Promise.all([
          backend.finalizeJobs({ items: [{ id: a.id, attempt: a.attempt, leaseToken: a.leaseToken, kind: 'complete', result: null }], retention: KEEP_FOREVER, now: at(2) }),
          backend.finalizeJobs({ items: [{ id: b.id, attempt: b.attempt, leaseToken: b.leaseToken, kind: 'complete', result: null }], retention: KEEP_FOREVER, now: at(2) }),
        ]);
        assert.deepStrictEqual(outcomes, [['ok'], ['ok']]);
        const record = await mustGet(backend, parent!);
        assert.equal(record.state, 'queued');
        assert.equal(record.pendingChildren, 0);
        const claimed = await backend.claimJobs({ queue: `p${round}`, workerId: 'w', limit: 10, leaseMs: LEASE_MS, now: at(3) });
        assert.deepStrictEqual(claimed.map((j) => j.id), [parent]);
      }
    });
  });
}
