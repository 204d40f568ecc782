/**
 * Topics (core backend/topics.ts, issue 7) at the backend level, with injected time: dense
 * offsets per partition, idempotent publishes, reads and their range errors, consumer groups
 * (generations, assignment, expiry, commit fencing and monotonic offsets, fan-out), seeks,
 * growing a topic and retention.
 */
import assert from 'node:assert/strict';
import {
  OffsetOutOfRangeError,
  TopicNotFoundError,
  ValidationError,
  type Backend,
  type MessageInsert,
  type TopicRetention,
} from '@spindle/core';
import type { Suite } from '../suite.js';

const NO_RETENTION: TopicRetention = { maxAgeMs: null, maxBytes: null };
const SESSION_MS = 10_000;

const message = (partition: number, value: unknown, extra: Partial<MessageInsert> = {}): MessageInsert => ({
  partition,
  key: null,
  value: JSON.stringify(value),
  headers: null,
  idempotencyKey: null,
  ...extra,
});

async function topic(backend: Backend, name: string, partitions: number, now?: Date, retention = NO_RETENTION): Promise<void> {
  const r = await backend.createTopic({ name, partitions, retention, now });
  assert.equal(r.created, true);
}

const join = (backend: Backend, group: string, memberId: string, now: Date, start: 'earliest' | 'latest' = 'earliest') =>
  backend.joinGroup({ topic: 'orders', group, memberId, sessionMs: SESSION_MS, start, now });
const beat = (backend: Backend, group: string, memberId: string, now: Date) =>
  backend.heartbeatGroup({ topic: 'orders', group, memberId, sessionMs: SESSION_MS, start: 'earliest', now });

export function topicTests(suite: Suite): void {
  suite.group('topics', () => {
    suite.test('creates a topic once; lists it with its partitions and empty offsets', async ({ backend, at }) => {
      await topic(backend, 'orders', 3, at(0), { maxAgeMs: 86_400_000, maxBytes: null });
      const again = await backend.createTopic({ name: 'orders', partitions: 5, retention: NO_RETENTION, now: at(1) });
      assert.equal(again.created, false);
      assert.equal(again.topic.partitions, 3, 'an existing topic is left as it was');
      const info = await backend.getTopic('orders');
      assert.ok(info);
      assert.equal(info.name, 'orders');
      assert.deepEqual(info.retention, { maxAgeMs: 86_400_000, maxBytes: null });
      assert.deepEqual(info.offsets, [0, 1, 2].map((partition) => ({ partition, startOffset: 0, highWater: 0 })));
      assert.equal(await backend.getTopic('nope'), null);
      assert.deepEqual((await backend.listTopics()).map((t) => t.name), ['orders']);
    });

    suite.test('assigns dense offsets per partition in publish order and reads them back', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      const first = await backend.publish({
        topic: 'orders',
        messages: [message(0, { n: 0 }, { key: 'a', headers: JSON.stringify({ trace: 't1' }) }), message(1, { n: 1 }), message(0, { n: 2 })],
        now: at(1),
      });
      assert.deepEqual(first, [
        { partition: 0, offset: 0, duplicate: false },
        { partition: 1, offset: 0, duplicate: false },
        { partition: 0, offset: 1, duplicate: false },
      ]);
      const second = await backend.publish({ topic: 'orders', messages: [message(0, { n: 3 }), message(0, { n: 4 })], now: at(2) });
      assert.deepEqual(second.map((o) => o.offset), [2, 3]);
      const read = await backend.fetchMessages({ topic: 'orders', partition: 0, offset: 0, limit: 10 });
      assert.equal(read.highWater, 4);
      assert.equal(read.startOffset, 0);
      assert.deepEqual(read.messages.map((m) => [m.offset, m.value]), [[0, { n: 0 }], [1, { n: 2 }], [2, { n: 3 }], [3, { n: 4 }]]);
      const m0 = read.messages[0]!;
      assert.equal(m0.topic, 'orders');
      assert.equal(m0.partition, 0);
      assert.equal(m0.key, 'a');
      assert.deepEqual(m0.headers, { trace: 't1' });
      assert.equal(m0.publishedAt.getTime(), at(1).getTime());
      assert.equal(read.messages[1]!.headers, null);
      const page = await backend.fetchMessages({ topic: 'orders', partition: 0, offset: 1, limit: 2 });
      assert.deepEqual(page.messages.map((m) => m.offset), [1, 2]);
      const end = await backend.fetchMessages({ topic: 'orders', partition: 0, offset: 4, limit: 10 });
      assert.deepEqual(end.messages, [], 'reading at the highWater waits for nothing and returns nothing');
    });

    suite.test('an idempotency key stores a message once and answers the stored offset', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      const a = await backend.publish({ topic: 'orders', messages: [message(1, 'x', { idempotencyKey: 'evt-1' })], now: at(1) });
      const b = await backend.publish({
        topic: 'orders',
        messages: [message(1, 'y'), message(1, 'x-again', { idempotencyKey: 'evt-1' }), message(1, 'z', { idempotencyKey: 'evt-2' }), message(1, 'z2', { idempotencyKey: 'evt-2' })],
        now: at(2),
      });
      assert.deepEqual(a, [{ partition: 1, offset: 0, duplicate: false }]);
      assert.deepEqual(b, [
        { partition: 1, offset: 1, duplicate: false },
        { partition: 1, offset: 0, duplicate: true },
        { partition: 1, offset: 2, duplicate: false },
        { partition: 1, offset: 2, duplicate: true },
      ]);
      const read = await backend.fetchMessages({ topic: 'orders', partition: 1, offset: 0, limit: 10 });
      assert.deepEqual(read.messages.map((m) => m.value), ['x', 'y', 'z'], 'offsets stay dense: duplicates take none');
    });

    suite.test('bad reads and publishes are typed errors that change nothing', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      await backend.publish({ topic: 'orders', messages: [message(0, 1), message(0, 2)], now: at(1) });
      await assert.rejects(backend.publish({ topic: 'ghost', messages: [message(0, 1)] }), TopicNotFoundError);
      await assert.rejects(backend.publish({ topic: 'orders', messages: [message(0, 3), message(2, 4)] }), ValidationError);
      await assert.rejects(backend.fetchMessages({ topic: 'ghost', partition: 0, offset: 0, limit: 1 }), TopicNotFoundError);
      await assert.rejects(backend.fetchMessages({ topic: 'orders', partition: 5, offset: 0, limit: 1 }), ValidationError);
      await assert.rejects(backend.fetchMessages({ topic: 'orders', partition: 0, offset: 3, limit: 1 }), (e: unknown) => {
        assert.ok(e instanceof OffsetOutOfRangeError);
        assert.equal(e.highWater, 2);
        assert.equal(e.startOffset, 0);
        return true;
      });
      const info = await backend.getTopic('orders');
      assert.deepEqual(info!.offsets.map((p) => p.highWater), [2, 0], 'the refused batch wrote nothing, not even its valid message');
    });

    suite.test('groups: generations, assignment by sorted member, commit fencing and monotonic offsets', async ({ backend, at }) => {
      await topic(backend, 'orders', 4, at(0));
      await backend.publish({ topic: 'orders', messages: [0, 1, 2, 3].flatMap((p) => [message(p, 'a'), message(p, 'b')]), now: at(1) });
      const m1 = await join(backend, 'billing', 'm-b', at(2));
      assert.deepEqual(m1, { generation: 1, members: ['m-b'], partitions: [0, 1, 2, 3] });
      const m2 = await join(backend, 'billing', 'm-a', at(3));
      assert.deepEqual(m2, { generation: 2, members: ['m-a', 'm-b'], partitions: [0, 2] });
      assert.deepEqual(await beat(backend, 'billing', 'm-b', at(4)), { generation: 2, members: ['m-a', 'm-b'], partitions: [1, 3] });
      assert.deepEqual(await join(backend, 'billing', 'm-a', at(5)), m2, 'a live member joining again changes nothing');
      const commit = (memberId: string, generation: number, partition: number, offset: number) =>
        backend.commitOffsets({ topic: 'orders', group: 'billing', memberId, generation, offsets: [{ partition, offset }], now: at(6) });
      assert.deepEqual(await commit('m-b', 1, 1, 1), ['stale_generation']);
      assert.deepEqual(await commit('m-b', 2, 0, 1), ['not_assigned']);
      assert.deepEqual(await commit('m-zz', 2, 1, 1), ['not_assigned']);
      assert.deepEqual(await commit('m-b', 2, 1, 3), ['beyond_high_water']);
      assert.deepEqual(await commit('m-b', 2, 1, 2), ['ok']);
      assert.deepEqual(await commit('m-b', 2, 1, 2), ['ok'], 'the same offset again is fine');
      assert.deepEqual(await commit('m-b', 2, 1, 1), ['backwards']);
      const group = await backend.getGroup({ topic: 'orders', group: 'billing', now: at(7) });
      assert.ok(group);
      assert.equal(group.generation, 2);
      assert.deepEqual(group.members.map((m) => [m.memberId, m.partitions]), [['m-a', [0, 2]], ['m-b', [1, 3]]]);
      assert.deepEqual(group.offsets.map((o) => [o.partition, o.committed, o.highWater, o.lag]), [[0, 0, 2, 2], [1, 2, 2, 0], [2, 0, 2, 2], [3, 0, 2, 2]]);
    });

    suite.test('a member that stops heartbeating expires: the next call makes a new generation without it', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      await join(backend, 'ship', 'm1', at(0));
      await join(backend, 'ship', 'm2', at(1));
      assert.deepEqual((await beat(backend, 'ship', 'm1', at(SESSION_MS - 1))).partitions, [0]);
      const after = await beat(backend, 'ship', 'm1', at(SESSION_MS + 2));
      assert.deepEqual(after, { generation: 3, members: ['m1'], partitions: [0, 1] });
      const late = await beat(backend, 'ship', 'm2', at(SESSION_MS + 3));
      assert.deepEqual(late.partitions, [], 'an expired member owns nothing until it joins again');
      const back = await join(backend, 'ship', 'm2', at(SESSION_MS + 4));
      assert.deepEqual(back, { generation: 4, members: ['m1', 'm2'], partitions: [1] });
      await backend.leaveGroup({ topic: 'orders', group: 'ship', memberId: 'm1', now: at(SESSION_MS + 5) });
      assert.deepEqual(await beat(backend, 'ship', 'm2', at(SESSION_MS + 6)), { generation: 5, members: ['m2'], partitions: [0, 1] });
    });

    suite.test('every group sees every message (fan-out); a new group starts at earliest or latest', async ({ backend, at }) => {
      await topic(backend, 'orders', 1, at(0));
      await backend.publish({ topic: 'orders', messages: [message(0, 1), message(0, 2), message(0, 3)], now: at(1) });
      const pay = await join(backend, 'payment', 'p1', at(2), 'earliest');
      const inv = await join(backend, 'inventory', 'i1', at(2), 'earliest');
      const late = await join(backend, 'audit', 'a1', at(2), 'latest');
      await backend.commitOffsets({ topic: 'orders', group: 'payment', memberId: 'p1', generation: pay.generation, offsets: [{ partition: 0, offset: 3 }], now: at(3) });
      await backend.commitOffsets({ topic: 'orders', group: 'inventory', memberId: 'i1', generation: inv.generation, offsets: [{ partition: 0, offset: 1 }], now: at(3) });
      await backend.publish({ topic: 'orders', messages: [message(0, 4)], now: at(4) });
      const lag = async (group: string) => (await backend.getGroup({ topic: 'orders', group, now: at(5) }))!.offsets[0]!;
      assert.deepEqual(await lag('payment'), { partition: 0, committed: 3, highWater: 4, lag: 1 });
      assert.deepEqual(await lag('inventory'), { partition: 0, committed: 1, highWater: 4, lag: 3 });
      assert.deepEqual(await lag('audit'), { partition: 0, committed: 3, highWater: 4, lag: 1 }, 'latest = the highWater when the group was made');
      assert.equal(late.generation, 1);
      assert.deepEqual((await backend.listGroups('orders')).map((g) => g.group).sort(), ['audit', 'inventory', 'payment']);
      assert.equal(await backend.getGroup({ topic: 'orders', group: 'nobody' }), null);
    });

    suite.test('seek moves a group to earliest, latest, given offsets (clamped) or a time, in a new generation', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      for (let i = 0; i < 4; i++) await backend.publish({ topic: 'orders', messages: [message(0, i), message(1, i)], now: at(1000 * (i + 1)) });
      const g = await join(backend, 'replay', 'r1', at(5000), 'latest');
      const offsets = async () => (await backend.getGroup({ topic: 'orders', group: 'replay', now: at(5001) }))!.offsets.map((o) => o.committed);
      assert.deepEqual(await offsets(), [4, 4]);
      assert.deepEqual((await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'earliest' } })).map((o) => o.committed), [0, 0]);
      assert.deepEqual((await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'time', at: at(2500) } })).map((o) => o.committed), [2, 2]);
      assert.deepEqual((await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'time', at: at(9000) } })).map((o) => o.committed), [4, 4]);
      assert.deepEqual(
        (await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'offsets', offsets: [{ partition: 1, offset: 99 }] } })).map((o) => o.committed),
        [4, 4],
        'clamped to the highWater; partitions not named stay',
      );
      assert.deepEqual((await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'offsets', offsets: [{ partition: 0, offset: 1 }] } })).map((o) => o.committed), [1, 4]);
      assert.deepEqual((await backend.seekGroup({ topic: 'orders', group: 'replay', to: { kind: 'latest' } })).map((o) => o.committed), [4, 4]);
      const after = await beat(backend, 'replay', 'r1', at(5002));
      assert.ok(after.generation > g.generation, 'a seek fences commits of the generation before it');
      const stale = await backend.commitOffsets({ topic: 'orders', group: 'replay', memberId: 'r1', generation: g.generation, offsets: [{ partition: 0, offset: 4 }], now: at(5003) });
      assert.deepEqual(stale, ['stale_generation']);
    });

    suite.test('a topic grows: new partitions start empty and groups rebalance over them', async ({ backend, at }) => {
      await topic(backend, 'orders', 2, at(0));
      await backend.publish({ topic: 'orders', messages: [message(1, 'kept')], now: at(1) });
      const before = await join(backend, 'g', 'm1', at(2));
      await join(backend, 'g', 'm2', at(2));
      const grown = await backend.growTopic({ name: 'orders', partitions: 4 });
      assert.equal(grown.partitions, 4);
      assert.deepEqual(grown.offsets.map((p) => p.highWater), [0, 1, 0, 0]);
      const after = await beat(backend, 'g', 'm1', at(3));
      assert.ok(after.generation > before.generation + 1);
      assert.deepEqual(after.partitions, [0, 2]);
      await assert.rejects(backend.growTopic({ name: 'orders', partitions: 3 }), ValidationError);
      await assert.rejects(backend.growTopic({ name: 'ghost', partitions: 3 }), TopicNotFoundError);
    });

    suite.test('retention by age moves the start offset; reads below it name the earliest offset', async ({ backend, at }) => {
      await topic(backend, 'orders', 1, at(0), { maxAgeMs: 1000, maxBytes: null });
      for (let i = 0; i < 5; i++) await backend.publish({ topic: 'orders', messages: [message(0, i)], now: at(i * 400) });
      assert.equal(await backend.pruneTopics({ now: at(2100), limit: 100 }), 3, 'published at 0, 400 and 800 are older than 1 s at 2100');
      const info = await backend.getTopic('orders');
      assert.deepEqual(info!.offsets, [{ partition: 0, startOffset: 3, highWater: 5 }]);
      await assert.rejects(backend.fetchMessages({ topic: 'orders', partition: 0, offset: 1, limit: 10 }), (e: unknown) => {
        assert.ok(e instanceof OffsetOutOfRangeError);
        assert.equal(e.startOffset, 3);
        return true;
      });
      assert.deepEqual((await backend.fetchMessages({ topic: 'orders', partition: 0, offset: 3, limit: 10 })).messages.map((m) => m.value), [3, 4]);
      assert.equal(await backend.pruneTopics({ now: at(2100), limit: 100 }), 0);
    });

    suite.test('retention by size keeps the newest messages within the byte budget per partition', async ({ backend, at }) => {
      await topic(backend, 'orders', 1, at(0), { maxAgeMs: null, maxBytes: 250 });
      const big = 'x'.repeat(98); // 100 bytes of JSON text each
      for (let i = 0; i < 5; i++) await backend.publish({ topic: 'orders', messages: [message(0, big)], now: at(i) });
      const pruned = await backend.pruneTopics({ now: at(10), limit: 100 });
      assert.equal(pruned, 3, 'two messages of about 100 bytes fit in 250');
      assert.deepEqual((await backend.getTopic('orders'))!.offsets[0], { partition: 0, startOffset: 3, highWater: 5 });
    });
  });
}
