/**
 * Topics on SQLite beyond the conformance suite: the schema of migration 0009, dense offsets
 * under many publishes (one process, and three processes on one file), idempotent publishes,
 * generations (expiry, leave, grow, seek), commit fencing, expiry at the exact boundary with
 * injected time, retention boundaries (age, bytes, the per-call limit, prefix only), seek by
 * time (also when the clock goes back), growing a topic, typed errors through the backend's
 * wrapper, and the query plans of the topic statements (no scan of messages or group tables).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import {
  BackendError,
  NotFoundError,
  OffsetOutOfRangeError,
  TopicNotFoundError,
  ValidationError,
  type MessageInsert,
  type TopicRetention,
} from '@spindle/core';
import type { SqliteBackend } from '../src/index.js';
import { report, spawnFixture } from './children.js';
import { makeTestBackend } from './helpers.js';
import { plansOf } from './plans.js';

const NO_RETENTION: TopicRetention = { maxAgeMs: null, maxBytes: null };
const SESSION = 10_000;
const T0 = Date.UTC(2030, 0, 1);
const at = (ms: number) => new Date(T0 + ms);

const msg = (partition: number, value: unknown, extra: Partial<MessageInsert> = {}): MessageInsert => ({
  partition,
  key: null,
  value: JSON.stringify(value),
  headers: null,
  idempotencyKey: null,
  ...extra,
});

/** A fresh migrated backend for one test, with a raw read connection to the same file. */
async function withBackend(body: (backend: SqliteBackend, raw: Database.Database) => Promise<void>): Promise<void> {
  const { backend, path, cleanup } = await makeTestBackend();
  const raw = new Database(path, { readonly: true });
  try {
    await body(backend, raw);
  } finally {
    raw.close();
    await cleanup();
  }
}

const createTopic = (backend: SqliteBackend, name: string, partitions: number, retention = NO_RETENTION) =>
  backend.createTopic({ name, partitions, retention, now: at(0) });

const join = (backend: SqliteBackend, group: string, memberId: string, now: number, start: 'earliest' | 'latest' = 'earliest') =>
  backend.joinGroup({ topic: 't', group, memberId, sessionMs: SESSION, start, now: at(now) });
const beat = (backend: SqliteBackend, group: string, memberId: string, now: number) =>
  backend.heartbeatGroup({ topic: 't', group, memberId, sessionMs: SESSION, start: 'earliest', now: at(now) });
const leave = (backend: SqliteBackend, group: string, memberId: string, now: number) =>
  backend.leaveGroup({ topic: 't', group, memberId, now: at(now) });

/** The stored generation and member list of a group, and its member rows (raw). */
function groupRows(raw: Database.Database, group: string) {
  const row = raw.prepare('SELECT generation, members FROM spindle_consumer_groups WHERE topic = ? AND name = ?').get('t', group) as
    | { generation: number; members: string }
    | undefined;
  const ids = raw.prepare('SELECT member_id FROM spindle_consumer_members WHERE topic = ? AND group_name = ? ORDER BY member_id').pluck().all('t', group);
  return { generation: row?.generation, members: row ? (JSON.parse(row.members) as string[]) : undefined, rows: ids as string[] };
}

describe('topics schema (migration 0009)', () => {
  test('creates the topic, partition, message and consumer-group tables with their indexes', async () => {
    await withBackend(async (_backend, raw) => {
      const tables = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'spindle_topic%' OR name LIKE 'spindle_consumer%') ORDER BY name")
        .pluck()
        .all();
      assert.deepEqual(tables, [
        'spindle_consumer_groups',
        'spindle_consumer_members',
        'spindle_consumer_offsets',
        'spindle_topic_messages',
        'spindle_topic_partitions',
        'spindle_topics',
      ]);
      const indexes = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'spindle_topic%' AND sql IS NOT NULL ORDER BY name")
        .pluck()
        .all();
      assert.deepEqual(indexes, ['spindle_topic_messages_idempotency_idx']);
      // Messages live in a rowid table (values can be large); the others are WITHOUT ROWID.
      const withoutRowid = (table: string) => /WITHOUT ROWID/i.test(raw.prepare("SELECT sql FROM sqlite_master WHERE name = ?").pluck().get(table) as string);
      assert.equal(withoutRowid('spindle_topic_messages'), false);
      for (const t of ['spindle_topic_partitions', 'spindle_consumer_groups', 'spindle_consumer_members', 'spindle_consumer_offsets']) assert.equal(withoutRowid(t), true, t);
    });
  });
});

describe('publish', () => {
  test('many publishes of varying batch sizes over 3 partitions leave dense offsets and exact byte sums', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 3);
      const expected: unknown[][] = [[], [], []];
      let n = 0;
      for (let b = 0; b < 120; b++) {
        const batch = Array.from({ length: 1 + (b % 7) }, () => {
          const partition = (n * 7 + b) % 3;
          const value = { n: n++, text: 'é'.repeat(n % 5) };
          return msg(partition, value, n % 4 === 0 ? { key: `k${n}`, headers: JSON.stringify({ h: 'ü' }) } : {});
        });
        const outcomes = await backend.publish({ topic: 't', messages: batch, now: at(b) });
        outcomes.forEach((o, i) => {
          assert.equal(o.duplicate, false);
          assert.equal(o.partition, batch[i]!.partition);
          assert.equal(o.offset, expected[o.partition]!.length, 'the next offset of its partition');
          expected[o.partition]!.push(JSON.parse(batch[i]!.value));
        });
      }
      const info = await backend.getTopic('t');
      assert.deepEqual(info!.offsets, expected.map((list, partition) => ({ partition, startOffset: 0, highWater: list.length })));
      for (let p = 0; p < 3; p++) {
        const read = await backend.fetchMessages({ topic: 't', partition: p, offset: 0, limit: 10_000 });
        assert.deepEqual(read.messages.map((m) => m.offset), expected[p]!.map((_, i) => i));
        assert.deepEqual(read.messages.map((m) => m.value), expected[p]);
      }
      // The partition's byte count is the UTF-8 size of key + value + headers of its messages.
      const sums = raw.prepare(`SELECT p.partition, p.bytes AS kept,
          (SELECT sum(length(CAST(coalesce(m.key, '') AS BLOB)) + length(CAST(m.value AS BLOB)) + length(CAST(coalesce(m.headers, '') AS BLOB)))
           FROM spindle_topic_messages m WHERE m.topic = p.topic AND m.partition = p.partition) AS actual
        FROM spindle_topic_partitions p WHERE p.topic = 't' ORDER BY p.partition`).all() as Array<{ kept: number; actual: number }>;
      for (const s of sums) assert.equal(s.kept, s.actual);
    });
  });

  test('three processes publishing to one file at once: offsets dense, each shared idempotency key stored once', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    try {
      const [children_, batches, perBatch, partitions] = [3, 40, 6, 2];
      await backend.createTopic({ name: 'mp', partitions, retention: NO_RETENTION });
      const children = Array.from({ length: children_ }, (_, c) =>
        spawnFixture('publish-child.ts', [path, String(c), String(batches), String(perBatch), String(partitions)]),
      );
      await Promise.all(children.map((c) => c.waitForLine((line) => line === 'ready')));
      for (const child of children) child.send('go');
      type Outcome = { partition: number; offset: number; duplicate: boolean; n: number };
      const reports = await Promise.all(children.map(async (c) => report<{ outcomes: Outcome[] }>(await c.exited)));

      const total = batches * perBatch;
      const shared = Array.from({ length: total }, (_, n) => n).filter((n) => n % 3 === 0);
      const stored = children_ * total - (children_ - 1) * shared.length;
      const info = await backend.getTopic('mp');
      assert.equal(info!.offsets.reduce((sum, p) => sum + p.highWater, 0), stored);
      const byPlace = new Map<string, { child: number; n: number }>();
      for (let p = 0; p < partitions; p++) {
        const read = await backend.fetchMessages({ topic: 'mp', partition: p, offset: 0, limit: 10_000 });
        assert.deepEqual(read.messages.map((m) => m.offset), read.messages.map((_, i) => i), 'dense from 0');
        for (const m of read.messages) byPlace.set(`${p}:${m.offset}`, m.value as { child: number; n: number });
      }
      reports.forEach((r, child) => {
        assert.equal(r.outcomes.length, total);
        const last = new Map<number, number>();
        for (const o of r.outcomes) {
          const value = byPlace.get(`${o.partition}:${o.offset}`);
          assert.ok(value, `outcome ${o.partition}:${o.offset} names a stored message`);
          assert.equal(value.n, o.n, 'the stored message is this message (or, shared, its first copy)');
          if (!o.duplicate) {
            assert.equal(value.child, child);
            assert.ok(o.offset > (last.get(o.partition) ?? -1), "a process's own messages go in order");
            last.set(o.partition, o.offset);
          } else {
            assert.equal(o.n % 3, 0, 'only shared keys are duplicates');
          }
        }
      });
      for (const n of shared) {
        const copies = reports.map((r) => r.outcomes[n]!).filter((o) => !o.duplicate);
        assert.equal(copies.length, 1, `shared-${n} stored by exactly one process`);
      }
    } finally {
      await cleanup();
    }
  });

  test('idempotency keys: per topic, duplicates answer the stored place (even another partition) and take no offset', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 2);
      await createTopic(backend, 'other', 2);
      const first = await backend.publish({ topic: 't', messages: [msg(0, 'a', { idempotencyKey: 'k' })], now: at(1) });
      assert.deepEqual(first, [{ partition: 0, offset: 0, duplicate: false }]);
      const again = await backend.publish({
        topic: 't',
        messages: [msg(1, 'a-retry', { idempotencyKey: 'k' }), msg(1, 'b', { idempotencyKey: 'j' }), msg(0, 'b-retry', { idempotencyKey: 'j' }), msg(1, 'c')],
        now: at(2),
      });
      assert.deepEqual(again, [
        { partition: 0, offset: 0, duplicate: true },
        { partition: 1, offset: 0, duplicate: false },
        { partition: 1, offset: 0, duplicate: true },
        { partition: 1, offset: 1, duplicate: false },
      ]);
      assert.deepEqual(await backend.publish({ topic: 'other', messages: [msg(0, 'a', { idempotencyKey: 'k' })] }), [{ partition: 0, offset: 0, duplicate: false }], 'keys are per topic');
      assert.deepEqual((await backend.getTopic('t'))!.offsets.map((p) => p.highWater), [1, 2]);
    });
  });

  test('a key whose message retention deleted is free again', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 1, { maxAgeMs: 1000, maxBytes: null });
      await backend.publish({ topic: 't', messages: [msg(0, 1, { idempotencyKey: 'k' })], now: at(0) });
      assert.equal(await backend.pruneTopics({ now: at(5000), limit: 10 }), 1);
      assert.deepEqual(await backend.publish({ topic: 't', messages: [msg(0, 2, { idempotencyKey: 'k' })], now: at(5000) }), [{ partition: 0, offset: 1, duplicate: false }]);
    });
  });

  test('typed errors pass through the backend unchanged (not wrapped in BackendError) and change nothing', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 2);
      const notWrapped = (type: new (...args: never[]) => Error) => (e: unknown) => e instanceof type && !(e instanceof BackendError);
      await assert.rejects(backend.publish({ topic: 'nope', messages: [msg(0, 1)] }), notWrapped(TopicNotFoundError));
      await assert.rejects(backend.publish({ topic: 't', messages: [msg(-1, 1), msg(0, 2), msg(2, 3)] }), (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.deepEqual(e.issues.map((i) => i.path), ['messages[0].partition', 'messages[2].partition'], 'every bad partition is named');
        return true;
      });
      await assert.rejects(backend.fetchMessages({ topic: 't', partition: 2, offset: 0, limit: 1 }), notWrapped(ValidationError));
      await assert.rejects(backend.fetchMessages({ topic: 't', partition: 0, offset: 1, limit: 1 }), notWrapped(OffsetOutOfRangeError));
      await assert.rejects(backend.growTopic({ name: 'nope', partitions: 3 }), notWrapped(TopicNotFoundError));
      await assert.rejects(backend.joinGroup({ topic: 'nope', group: 'g', memberId: 'm', sessionMs: 1, start: 'earliest' }), notWrapped(TopicNotFoundError));
      await assert.rejects(backend.listGroups('nope'), notWrapped(TopicNotFoundError));
      await assert.rejects(backend.getGroup({ topic: 'nope', group: 'g' }), notWrapped(TopicNotFoundError));
      await assert.rejects(backend.seekGroup({ topic: 't', group: 'ghost', to: { kind: 'earliest' } }), (e: unknown) => notWrapped(NotFoundError)(e) && !(e instanceof TopicNotFoundError));
      assert.deepEqual((await backend.getTopic('t'))!.offsets.map((p) => p.highWater), [0, 0]);
    });
  });
});

describe('consumer groups', () => {
  test('generations: +1 per change of live members, one more when a call notices expiries; members column = member rows', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 3);
      assert.deepEqual(await beat(backend, 'g', 'a', 0), { generation: 0, members: [], partitions: [] }, 'a heartbeat does not create a group');
      assert.equal(groupRows(raw, 'g').generation, undefined);
      assert.deepEqual(await join(backend, 'g', 'c', 0), { generation: 1, members: ['c'], partitions: [0, 1, 2] });
      assert.deepEqual(await join(backend, 'g', 'a', 1), { generation: 2, members: ['a', 'c'], partitions: [0, 2] });
      assert.deepEqual(await join(backend, 'g', 'b', 2), { generation: 3, members: ['a', 'b', 'c'], partitions: [1] });
      assert.deepEqual(await join(backend, 'g', 'b', 3), { generation: 3, members: ['a', 'b', 'c'], partitions: [1] }, 'a live member joining again');
      assert.deepEqual(groupRows(raw, 'g'), { generation: 3, members: ['a', 'b', 'c'], rows: ['a', 'b', 'c'] });
      await leave(backend, 'g', 'zz', 4);
      assert.equal(groupRows(raw, 'g').generation, 3, 'a member that is not there leaving changes nothing');
      await leave(backend, 'g', 'a', 4);
      assert.deepEqual(groupRows(raw, 'g'), { generation: 4, members: ['b', 'c'], rows: ['b', 'c'] });
      // c's session (joined at 0) ends at SESSION; b's (last joined at 3) at SESSION + 3.
      assert.deepEqual(await beat(backend, 'g', 'b', SESSION), { generation: 5, members: ['b'], partitions: [0, 1, 2] });
      assert.deepEqual(groupRows(raw, 'g'), { generation: 5, members: ['b'], rows: ['b'] });
      // b's session now ends at 2 * SESSION. A join at that moment finds b expired (one
      // generation) and then adds d (another): two changes, two generations.
      assert.deepEqual(await join(backend, 'g', 'd', 2 * SESSION), { generation: 7, members: ['d'], partitions: [0, 1, 2] });
      // Every member gone: the group stays, with its offsets.
      await leave(backend, 'g', 'd', 2 * SESSION + 1);
      assert.deepEqual(groupRows(raw, 'g'), { generation: 8, members: [], rows: [] });
      const info = await backend.getGroup({ topic: 't', group: 'g', now: at(2 * SESSION + 2) });
      assert.deepEqual([info!.generation, info!.members, info!.offsets.length], [8, [], 3]);
    });
  });

  test('expiry at the boundary: live while now < expiresAt; reads report it but write nothing', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 2);
      await join(backend, 'g', 'm1', 0);
      await join(backend, 'g', 'm2', 0);
      const live = (now: number) => backend.getGroup({ topic: 't', group: 'g', now: at(now) });
      const before = await live(SESSION - 1);
      assert.deepEqual(before!.members.map((m) => [m.memberId, m.expiresAt.getTime(), m.partitions]), [['m1', T0 + SESSION, [0]], ['m2', T0 + SESSION, [1]]]);
      const atEnd = await live(SESSION);
      assert.deepEqual(atEnd!.members, [], 'expires_at ≤ now: expired');
      assert.equal(atEnd!.generation, 2, 'the stored generation: a read notices nothing');
      assert.deepEqual(groupRows(raw, 'g').rows, ['m1', 'm2'], 'and deletes nothing');
      // A heartbeat one ms before the end extends the session; the other member expires.
      assert.deepEqual(await beat(backend, 'g', 'm1', SESSION - 1), { generation: 2, members: ['m1', 'm2'], partitions: [0] });
      assert.deepEqual(await beat(backend, 'g', 'm1', SESSION), { generation: 3, members: ['m1'], partitions: [0, 1] });
      const g = await live(2 * SESSION - 2);
      assert.deepEqual(g!.members.map((m) => [m.memberId, m.expiresAt.getTime()]), [['m1', T0 + 2 * SESSION]]);
    });
  });

  test('commit fencing: every outcome, in one call, and the order of the checks', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 4);
      await backend.publish({ topic: 't', messages: [0, 1, 2, 3].flatMap((p) => [msg(p, 1), msg(p, 2), msg(p, 3)]), now: at(0) });
      await join(backend, 'g', 'a', 0);
      const { generation } = await join(backend, 'g', 'b', 0); // a: 0, 2; b: 1, 3
      const commit = (memberId: string, gen: number, offsets: Array<[number, number]>, now = 1) =>
        backend.commitOffsets({ topic: 't', group: 'g', memberId, generation: gen, offsets: offsets.map(([partition, offset]) => ({ partition, offset })), now: at(now) });
      assert.deepEqual(await commit('a', generation, [[0, 2], [1, 1], [2, 4], [0, 1], [0, 2], [2, 3]]), ['ok', 'not_assigned', 'beyond_high_water', 'backwards', 'ok', 'ok']);
      const committed = () => raw.prepare("SELECT partition, committed FROM spindle_consumer_offsets WHERE topic = 't' AND group_name = 'g' ORDER BY partition").all();
      assert.deepEqual(committed(), [{ partition: 0, committed: 2 }, { partition: 1, committed: 0 }, { partition: 2, committed: 3 }, { partition: 3, committed: 0 }]);
      assert.deepEqual(await commit('a', generation + 1, [[0, 3]]), ['stale_generation'], 'a future generation is stale too');
      assert.deepEqual(await commit('a', generation - 1, [[0, 3]]), ['stale_generation']);
      assert.deepEqual(await backend.commitOffsets({ topic: 't', group: 'none', memberId: 'a', generation: 1, offsets: [{ partition: 0, offset: 1 }], now: at(1) }), ['not_assigned']);
      await assert.rejects(commit('a', generation, [[0, 3], [4, 0]]), (e: unknown) => e instanceof ValidationError && e.issues[0]!.path === 'offsets[1].partition');
      assert.deepEqual(committed()[0], { partition: 0, committed: 2 }, 'the refused call wrote nothing');
      // b expires; a's commit with the old generation notices it: the generation moves and the commit is stale.
      await beat(backend, 'g', 'a', SESSION - 1);
      assert.deepEqual(await commit('a', generation, [[0, 3]], SESSION), ['stale_generation']);
      assert.deepEqual(groupRows(raw, 'g'), { generation: generation + 1, members: ['a'], rows: ['a'] });
      assert.deepEqual(await commit('a', generation + 1, [[1, 3], [3, 3]], SESSION), ['ok', 'ok'], 'a owns every partition now');
      assert.deepEqual(await commit('b', generation + 1, [[1, 3]], SESSION), ['not_assigned'], 'an expired member owns nothing');
    });
  });

  test('a group made with latest starts at each highWater; partitions published later are read from there', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 2);
      await backend.publish({ topic: 't', messages: [msg(0, 1), msg(0, 2), msg(1, 3)], now: at(0) });
      await join(backend, 'late', 'm', 1, 'latest');
      await join(backend, 'late', 'n', 1, 'earliest'); // the group exists: `start` is ignored
      await backend.publish({ topic: 't', messages: [msg(1, 4)], now: at(2) });
      const g = await backend.getGroup({ topic: 't', group: 'late', now: at(3) });
      assert.deepEqual(g!.offsets, [
        { partition: 0, committed: 2, highWater: 2, lag: 0 },
        { partition: 1, committed: 1, highWater: 2, lag: 1 },
      ]);
    });
  });
});

describe('retention', () => {
  test('by age: a message exactly maxAgeMs old is kept, one ms older is deleted', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 1, { maxAgeMs: 1000, maxBytes: null });
      await backend.publish({ topic: 't', messages: [msg(0, 'a')], now: at(0) });
      await backend.publish({ topic: 't', messages: [msg(0, 'b')], now: at(1) });
      assert.equal(await backend.pruneTopics({ now: at(1000), limit: 10 }), 0);
      assert.equal(await backend.pruneTopics({ now: at(1001), limit: 10 }), 1);
      assert.deepEqual((await backend.getTopic('t'))!.offsets, [{ partition: 0, startOffset: 1, highWater: 2 }]);
      assert.equal(await backend.pruneTopics({ now: at(1002), limit: 10 }), 1);
      assert.deepEqual((await backend.getTopic('t'))!.offsets, [{ partition: 0, startOffset: 2, highWater: 2 }], 'empty: start = highWater');
      assert.deepEqual((await backend.fetchMessages({ topic: 't', partition: 0, offset: 2, limit: 10 })).messages, []);
      assert.deepEqual(await backend.publish({ topic: 't', messages: [msg(0, 'c')], now: at(1003) }), [{ partition: 0, offset: 2, duplicate: false }], 'offsets go on after an emptied partition');
    });
  });

  test('by age only a prefix goes: an old message behind a newer one waits (the clock went back)', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 1, { maxAgeMs: 1000, maxBytes: null });
      for (const t of [0, 5000, 10]) await backend.publish({ topic: 't', messages: [msg(0, t)], now: at(t) });
      assert.equal(await backend.pruneTopics({ now: at(3000), limit: 10 }), 1);
      assert.deepEqual((await backend.fetchMessages({ topic: 't', partition: 0, offset: 1, limit: 10 })).messages.map((m) => m.value), [5000, 10]);
      assert.equal(await backend.pruneTopics({ now: at(6001), limit: 10 }), 2);
    });
  });

  test('by size: exactly maxBytes is kept; bytes count key, value and headers in UTF-8; one message over the budget goes', async () => {
    await withBackend(async (backend, raw) => {
      // Each message: key 'kk' (2) + value '"éé"' (6) + headers '{"h":"x"}' (9) = 17 bytes.
      await createTopic(backend, 't', 2, { maxAgeMs: null, maxBytes: 34 });
      const m = (p: number) => msg(p, 'éé', { key: 'kk', headers: JSON.stringify({ h: 'x' }) });
      await backend.publish({ topic: 't', messages: [m(0), m(0), m(1)], now: at(0) });
      assert.equal(await backend.pruneTopics({ now: at(1), limit: 10 }), 0, '34 bytes in partition 0: at the limit');
      await backend.publish({ topic: 't', messages: [m(0)], now: at(2) });
      assert.equal(await backend.pruneTopics({ now: at(3), limit: 10 }), 1);
      const bytes = () => raw.prepare("SELECT partition, start_offset AS start, bytes FROM spindle_topic_partitions WHERE topic = 't' ORDER BY partition").all();
      assert.deepEqual(bytes(), [{ partition: 0, start: 1, bytes: 34 }, { partition: 1, start: 0, bytes: 17 }]);
      await backend.publish({ topic: 't', messages: [msg(1, 'x'.repeat(40))], now: at(4) });
      assert.equal(await backend.pruneTopics({ now: at(5), limit: 10 }), 2, 'a message bigger than the budget is not kept either');
      assert.deepEqual(bytes(), [{ partition: 0, start: 1, bytes: 34 }, { partition: 1, start: 2, bytes: 0 }]);
    });
  });

  test('at most `limit` messages per call, across partitions and topics; repeated calls finish the work', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 'a', 2, { maxAgeMs: 10, maxBytes: null });
      await createTopic(backend, 'b', 1, { maxAgeMs: 10, maxBytes: null });
      await createTopic(backend, 'keep', 1);
      for (const name of ['a', 'b', 'keep']) {
        const partitions = name === 'a' ? [0, 1] : [0];
        await backend.publish({ topic: name, messages: partitions.flatMap((p) => Array.from({ length: 5 }, (_, i) => msg(p, i))), now: at(0) });
      }
      const counts: number[] = [];
      for (;;) {
        const n = await backend.pruneTopics({ now: at(100), limit: 4 });
        counts.push(n);
        if (n < 4) break;
      }
      assert.deepEqual(counts, [4, 4, 4, 3]);
      const starts = async (name: string) => (await backend.getTopic(name))!.offsets.map((p) => p.startOffset);
      assert.deepEqual([await starts('a'), await starts('b'), await starts('keep')], [[5, 5], [5], [0]]);
    });
  });
});

describe('seek', () => {
  test('by time: the first offset published at or after it, per partition, from the start offset to the highWater', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 2, { maxAgeMs: 10_000, maxBytes: null });
      for (let i = 0; i < 50; i++) await backend.publish({ topic: 't', messages: [msg(0, i), ...(i % 2 === 0 ? [msg(1, i)] : [])], now: at(i * 100) });
      await join(backend, 'g', 'm', 5000);
      const seek = async (ms: number) => (await backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'time', at: at(ms) } })).map((o) => o.committed);
      assert.deepEqual(await seek(-1), [0, 0]);
      assert.deepEqual(await seek(0), [0, 0]);
      assert.deepEqual(await seek(1), [1, 1]);
      assert.deepEqual(await seek(1200), [12, 6], 'exactly a publish time: that message');
      assert.deepEqual(await seek(1201), [13, 7]);
      assert.deepEqual(await seek(4900), [49, 25]);
      assert.deepEqual(await seek(4901), [50, 25], 'after the last: the highWater');
      await backend.pruneTopics({ now: at(12_000), limit: 100 }); // keeps published at ≥ 2000
      assert.deepEqual(await seek(0), [20, 10], 'never before the start offset');
    });
  });

  test('by time when the clock went back: publishedAt is kept as given, and a seek still finds the first message at or after the time', async () => {
    await withBackend(async (backend) => {
      await createTopic(backend, 't', 1);
      for (const t of [100, 300, 200, 400]) await backend.publish({ topic: 't', messages: [msg(0, t)], now: at(t) });
      const read = await backend.fetchMessages({ topic: 't', partition: 0, offset: 0, limit: 10 });
      assert.deepEqual(read.messages.map((m) => m.publishedAt.getTime() - T0), [100, 300, 200, 400]);
      await join(backend, 'g', 'm', 500);
      const seek = async (ms: number) => (await backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'time', at: at(ms) } }))[0]!.committed;
      assert.equal(await seek(150), 1);
      assert.equal(await seek(250), 1, 'the first offset published at or after 250 is 1 (300)');
      assert.equal(await seek(350), 3);
    });
  });

  test('offsets: clamped to [start, highWater] per partition; a bad partition is a ValidationError; every seek is a new generation', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 2, { maxAgeMs: 10, maxBytes: null });
      await backend.publish({ topic: 't', messages: [msg(0, 1), msg(0, 2), msg(1, 3)], now: at(0) });
      await backend.publish({ topic: 't', messages: [msg(0, 4)], now: at(100) });
      await backend.pruneTopics({ now: at(100), limit: 10 }); // partition 0 = [2, 3), partition 1 = [1, 1)
      const { generation } = await join(backend, 'g', 'm', 100);
      const offsets = await backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'offsets', offsets: [{ partition: 0, offset: 0 }, { partition: 1, offset: 7 }] } });
      assert.deepEqual(offsets, [
        { partition: 0, committed: 2, highWater: 3, lag: 1 },
        { partition: 1, committed: 1, highWater: 1, lag: 0 },
      ]);
      assert.equal(groupRows(raw, 'g').generation, generation + 1);
      await assert.rejects(backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'offsets', offsets: [{ partition: 2, offset: 0 }] } }), ValidationError);
      assert.equal(groupRows(raw, 'g').generation, generation + 1, 'a refused seek changes nothing');
      await backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'earliest' } });
      assert.deepEqual(groupRows(raw, 'g'), { generation: generation + 2, members: ['m'], rows: ['m'] });
    });
  });
});

describe('growTopic', () => {
  test('adds empty partitions, an offset row at 0 per group, and a new generation per group; same count changes nothing', async () => {
    await withBackend(async (backend, raw) => {
      await createTopic(backend, 't', 1);
      await backend.publish({ topic: 't', messages: [msg(0, 1), msg(0, 2)], now: at(0) });
      await join(backend, 'early', 'a', 1, 'earliest');
      await join(backend, 'late', 'b', 1, 'latest');
      await join(backend, 'late', 'c', 1);
      const grown = await backend.growTopic({ name: 't', partitions: 3 });
      assert.deepEqual(grown.offsets, [
        { partition: 0, startOffset: 0, highWater: 2 },
        { partition: 1, startOffset: 0, highWater: 0 },
        { partition: 2, startOffset: 0, highWater: 0 },
      ]);
      assert.deepEqual([groupRows(raw, 'early').generation, groupRows(raw, 'late').generation], [2, 3]);
      const same = await backend.growTopic({ name: 't', partitions: 3 });
      assert.deepEqual(same, grown);
      assert.deepEqual([groupRows(raw, 'early').generation, groupRows(raw, 'late').generation], [2, 3], 'the same count: no new generation');
      await assert.rejects(backend.growTopic({ name: 't', partitions: 2 }), (e: unknown) => e instanceof ValidationError && e.issues[0]!.path === 'partitions');
      assert.deepEqual(
        raw.prepare("SELECT group_name AS g, partition AS p, committed AS c FROM spindle_consumer_offsets WHERE topic = 't' ORDER BY group_name, partition").all(),
        [
          { g: 'early', p: 0, c: 0 },
          { g: 'early', p: 1, c: 0 },
          { g: 'early', p: 2, c: 0 },
          { g: 'late', p: 0, c: 2 },
          { g: 'late', p: 1, c: 0 },
          { g: 'late', p: 2, c: 0 },
        ],
      );
      assert.deepEqual(await beat(backend, 'late', 'b', 2), { generation: 3, members: ['b', 'c'], partitions: [0, 2] });
      assert.deepEqual(await backend.publish({ topic: 't', messages: [msg(2, 'new')], now: at(3) }), [{ partition: 2, offset: 0, duplicate: false }]);
      const commit = await backend.commitOffsets({ topic: 't', group: 'late', memberId: 'b', generation: 3, offsets: [{ partition: 2, offset: 1 }], now: at(4) });
      assert.deepEqual(commit, ['ok']);
    });
  });
});

describe('topic query plans', () => {
  test('no statement of the topic paths scans the messages or consumer-group tables', async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    try {
      await backend.createTopic({ name: 't', partitions: 4, retention: { maxAgeMs: 1000, maxBytes: 2000 } });
      for (let i = 0; i < 20; i++) {
        await backend.publish({ topic: 't', messages: [0, 1, 2, 3].map((p) => msg(p, 'x'.repeat(50), { idempotencyKey: `k-${i}-${p}` })), now: at(i * 100) });
      }
      const actions: Array<() => Promise<unknown>> = [
        () => backend.publish({ topic: 't', messages: [msg(1, 'y', { idempotencyKey: 'k-0-0' }), msg(2, 'z', { idempotencyKey: 'new' })], now: at(2000) }),
        () => backend.fetchMessages({ topic: 't', partition: 1, offset: 3, limit: 10 }),
        () => join(backend, 'g', 'm1', 2000),
        () => beat(backend, 'g', 'm1', 2001),
        () => backend.commitOffsets({ topic: 't', group: 'g', memberId: 'm1', generation: 1, offsets: [{ partition: 0, offset: 2 }], now: at(2002) }),
        () => backend.getGroup({ topic: 't', group: 'g', now: at(2003) }),
        () => backend.listGroups('t'),
        () => backend.seekGroup({ topic: 't', group: 'g', to: { kind: 'time', at: at(1000) } }),
        () => leave(backend, 'g', 'm1', 2004),
        () => backend.growTopic({ name: 't', partitions: 5 }),
        () => backend.pruneTopics({ now: at(2500), limit: 30 }),
        () => backend.listTopics(),
      ];
      const scans: string[] = [];
      for (const action of actions) {
        const planned = await plansOf(backend, path, action);
        assert.ok(planned.length > 0);
        for (const p of planned) {
          for (const line of p.plan) {
            // Only the topic definitions (a handful of rows) may be scanned; anything else is a finding.
            if (/^\s*SCAN /.test(line) && !/^\s*SCAN spindle_topics\b/.test(line)) scans.push(`${line.trim()}  <- ${p.sql.replace(/\s+/g, ' ')}`);
          }
        }
      }
      assert.deepEqual(scans, []);
    } finally {
      await cleanup();
    }
  });
});
