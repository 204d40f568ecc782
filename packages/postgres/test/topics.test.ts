/**
 * Topics on PostgreSQL under real concurrency (the shared semantics are covered by the
 * conformance suite): two backend instances (two pools, as two processes would have) on one
 * schema publish to one partition, publish the same idempotency keys, join one group, and commit
 * while the group rebalances; prune runs while publishers write. Each test checks the invariants
 * of topics.ts / topic-groups.ts on what was stored.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { TopicNotFoundError, type MessageInsert, type StoredMessage } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend, TEST_PG_URL } from './helpers.js';

type Backend = PostgresBackend;

/** A migrated schema with two backend instances on it; `run` gets both and cleans up after. */
async function withTwo(run: (a: Backend, b: Backend, schema: string) => Promise<void>): Promise<void> {
  const { backend, schema, connectionString, cleanup } = await makeTestBackend();
  const other = new PostgresBackend({ connectionString, schema, poolMax: 4 });
  try {
    await run(backend, other, schema);
  } finally {
    await other.close();
    await cleanup();
  }
}

const message = (partition: number, value: unknown, idempotencyKey: string | null = null): MessageInsert => ({
  partition,
  key: null,
  value: JSON.stringify(value),
  headers: null,
  idempotencyKey,
});

/** Every retained message of a partition, in offset order. */
async function readAll(backend: Backend, topic: string, partition: number): Promise<StoredMessage[]> {
  const topicInfo = await backend.getTopic(topic);
  let offset = topicInfo!.offsets[partition]!.startOffset;
  const out: StoredMessage[] = [];
  for (;;) {
    const page = await backend.fetchMessages({ topic, partition, offset, limit: 500 });
    out.push(...page.messages);
    if (page.messages.length === 0) return out;
    offset = page.messages[page.messages.length - 1]!.offset + 1;
  }
}

/** Runs SQL on a connection of its own. */
async function adminQuery(text: string, values: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('topics on PostgreSQL: concurrent publishers', () => {
  it('two instances publishing to one partition get dense offsets 0..N-1 in each publisher\'s order', async () => {
    await withTwo(async (a, b) => {
      await a.createTopic({ name: 'log', partitions: 1, retention: { maxAgeMs: null, maxBytes: null } });
      const publishers = 8;
      const batches = 25;
      const answers = new Map<string, number[]>();
      await Promise.all(
        Array.from({ length: publishers }, async (_, p) => {
          const backend = p % 2 === 0 ? a : b;
          const offsets: number[] = [];
          for (let i = 0; i < batches; i++) {
            // Batches of 1 to 3 messages, so batches interleave with each other's halves too.
            const size = 1 + ((p + i) % 3);
            const out = await backend.publish({ topic: 'log', messages: Array.from({ length: size }, (_, j) => message(0, { p, i, j })) });
            offsets.push(...out.map((o) => o.offset));
          }
          answers.set(`p${p}`, offsets);
        }),
      );
      const total = [...answers.values()].reduce((n, o) => n + o.length, 0);
      const stored = await readAll(a, 'log', 0);
      assert.deepEqual(stored.map((m) => m.offset), Array.from({ length: total }, (_, i) => i), 'offsets are dense from 0');
      const topic = await b.getTopic('log');
      assert.deepEqual(topic!.offsets, [{ partition: 0, startOffset: 0, highWater: total }]);
      // Every answer names the stored message; each publisher's messages are in its order.
      const byOffset = new Map(stored.map((m) => [m.offset, m.value as { p: number; i: number; j: number }]));
      for (const [name, offsets] of answers) {
        const values = offsets.map((o) => byOffset.get(o)!);
        assert.ok(values.every((v) => `p${v.p}` === name), `${name}'s answers name its own messages`);
        const order = values.map((v) => v.i * 10 + v.j);
        assert.deepEqual(order, [...order].sort((x, y) => x - y), `${name}'s messages keep its order`);
        assert.ok(offsets.every((o, k) => k === 0 || o > offsets[k - 1]!), `${name}'s offsets increase`);
      }
      // published_at grows with the offset.
      assert.ok(stored.every((m, k) => k === 0 || m.publishedAt >= stored[k - 1]!.publishedAt));
    });
  });

  it('multi-partition batches in any partition order from two instances neither deadlock nor leave gaps', async () => {
    await withTwo(async (a, b) => {
      await a.createTopic({ name: 'wide', partitions: 4, retention: { maxAgeMs: null, maxBytes: null } });
      const orders = [[3, 1, 0, 2], [0, 1, 2, 3], [2, 3, 1, 0], [1, 0, 3, 2]];
      const sent = [0, 0, 0, 0];
      await Promise.all(
        Array.from({ length: 8 }, async (_, p) => {
          for (let i = 0; i < 20; i++) {
            const parts = orders[(p + i) % orders.length]!;
            const batch = parts.map((partition) => message(partition, { p, i }, i % 4 === 0 ? `k-${p}-${i}-${partition}` : null));
            await (p % 2 === 0 ? a : b).publish({ topic: 'wide', messages: batch });
            for (const partition of parts) sent[partition]! += 1;
          }
        }),
      );
      for (let partition = 0; partition < 4; partition++) {
        const stored = await readAll(b, 'wide', partition);
        assert.deepEqual(stored.map((m) => m.offset), Array.from({ length: sent[partition]! }, (_, i) => i), `partition ${partition} is dense`);
      }
    });
  });

  it('the same idempotency keys published at once from two instances are stored once, every answer naming them', async () => {
    await withTwo(async (a, b) => {
      await a.createTopic({ name: 'idem', partitions: 3, retention: { maxAgeMs: null, maxBytes: null } });
      for (let round = 0; round < 10; round++) {
        const keys = [`r${round}-a`, `r${round}-b`, `r${round}-c`];
        // Ten publishers; each sends the keys in its own order to a partition of its own (a
        // retried publish may land on another partition after a grow), so that the partition
        // locks do not serialise them, plus one message without a key.
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, p) => {
            const mine = p % 2 === 0 ? keys : [...keys].reverse();
            const batch = [...mine.map((k) => message(p % 3, { k, p }, k)), message(p % 3, { own: p })];
            return (p % 2 === 0 ? a : b).publish({ topic: 'idem', messages: batch });
          }),
        );
        for (const k of keys) {
          const named = answers.map((out, p) => out[(p % 2 === 0 ? keys : [...keys].reverse()).indexOf(k)]!);
          assert.equal(named.filter((o) => !o.duplicate).length, 1, `${k} is stored by exactly one publish`);
          const first = named.find((o) => !o.duplicate)!;
          assert.ok(named.every((o) => o.partition === first.partition && o.offset === first.offset), `every answer for ${k} names the stored message`);
        }
      }
      let stored: StoredMessage[] = [];
      for (let partition = 0; partition < 3; partition++) {
        const messages = await readAll(a, 'idem', partition);
        assert.deepEqual(messages.map((m) => m.offset), messages.map((_, i) => i), `partition ${partition} is dense`);
        stored = stored.concat(messages);
      }
      const keyed = stored.filter((m) => (m.value as { k?: string }).k !== undefined);
      assert.equal(keyed.length, 30, 'each of the 30 keys stored once');
      assert.equal(new Set(keyed.map((m) => (m.value as { k: string }).k)).size, 30);
      assert.equal(stored.length - keyed.length, 100, 'messages without keys are all stored');
    });
  });
});

describe('topics on PostgreSQL: consumer groups under concurrency', () => {
  it('members joining at once from two instances make one generation per join, each answer consistent', async () => {
    await withTwo(async (a, b) => {
      await a.createTopic({ name: 'jt', partitions: 6, retention: { maxAgeMs: null, maxBytes: null } });
      const n = 12;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          (i % 2 === 0 ? a : b).joinGroup({ topic: 'jt', group: 'g', memberId: `m${String(i).padStart(2, '0')}`, sessionMs: 60_000, start: 'earliest' }),
        ),
      );
      // The group was created once; the joins were serialised: generations 1..n, the k-th with k members.
      assert.deepEqual(answers.map((x) => x.generation).sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i + 1));
      for (const x of answers) {
        assert.equal(x.members.length, x.generation, 'generation k has k members');
        assert.deepEqual(x.members, [...x.members].sort(), 'members sorted');
      }
      // Each generation's member list extends the previous one.
      const byGeneration = [...answers].sort((x, y) => x.generation - y.generation);
      byGeneration.forEach((x, k) => k > 0 && assert.ok(byGeneration[k - 1]!.members.every((m) => x.members.includes(m))));
      const group = await b.getGroup({ topic: 'jt', group: 'g' });
      assert.equal(group!.generation, n);
      const owned = group!.members.flatMap((m) => m.partitions).sort((x, y) => x - y);
      assert.deepEqual(owned, [0, 1, 2, 3, 4, 5], 'the partitions are shared out once each');
      assert.equal(group!.offsets.length, 6, 'the group got a committed offset per partition once');
    });
  });

  it('a commit racing a rebalance is accepted in the old generation before it or refused after it', async () => {
    await withTwo(async (a, b, schema) => {
      await a.createTopic({ name: 'rt', partitions: 2, retention: { maxAgeMs: null, maxBytes: null } });
      const join = (backend: Backend, memberId: string) => backend.joinGroup({ topic: 'rt', group: 'g', memberId, sessionMs: 60_000, start: 'earliest' });
      const seen = { accepted: 0, refused: 0 };
      for (let round = 0; round < 30; round++) {
        await a.publish({ topic: 'rt', messages: [message(0, round), message(1, round)] });
        const alone = await join(a, 'a');
        assert.deepEqual(alone.partitions, [0, 1], 'a alone owns both partitions');
        const target = round + 1;
        // a commits partition 1 (b's once b joins) while b joins.
        const [outcomes, joined] = await Promise.all([
          a.commitOffsets({ topic: 'rt', group: 'g', memberId: 'a', generation: alone.generation, offsets: [{ partition: 1, offset: target }] }),
          join(b, 'b'),
        ]);
        assert.equal(joined.generation, alone.generation + 1);
        const committed = (await b.getGroup({ topic: 'rt', group: 'g' }))!.offsets[1]!.committed;
        if (outcomes[0] === 'ok') {
          seen.accepted += 1;
          assert.equal(committed, target, 'an accepted commit is stored');
        } else {
          seen.refused += 1;
          assert.equal(outcomes[0], 'stale_generation');
          assert.equal(committed, target - 1, 'a refused commit changes nothing');
        }
        // The commit of the old generation is refused now; b, the owner in the new one, commits.
        const late = await a.commitOffsets({ topic: 'rt', group: 'g', memberId: 'a', generation: alone.generation, offsets: [{ partition: 1, offset: target }] });
        assert.deepEqual(late, ['stale_generation']);
        assert.deepEqual(await b.commitOffsets({ topic: 'rt', group: 'g', memberId: 'b', generation: joined.generation, offsets: [{ partition: 1, offset: target }] }), ['ok']);
        await b.leaveGroup({ topic: 'rt', group: 'g', memberId: 'b' });
      }
      assert.equal(seen.accepted + seen.refused, 30);
      // Deterministic orders too: hold the group row so that both queue behind it, commit first or join first.
      for (const first of ['commit', 'join'] as const) {
        const alone = await join(a, 'a');
        const high = (await a.getTopic('rt'))!.offsets[0]!.highWater;
        const holder = new pg.Client({ connectionString: TEST_PG_URL });
        await holder.connect();
        try {
          await holder.query('BEGIN');
          await holder.query(`SELECT 1 FROM "${schema}".consumer_groups WHERE topic = 'rt' AND name = 'g' FOR UPDATE`);
          const commit = () => a.commitOffsets({ topic: 'rt', group: 'g', memberId: 'a', generation: alone.generation, offsets: [{ partition: 0, offset: high }] });
          const p1 = first === 'commit' ? commit() : join(b, 'b');
          await waitForWaiters(schema, 1);
          const p2 = first === 'commit' ? join(b, 'b') : commit();
          await waitForWaiters(schema, 2);
          await holder.query('COMMIT');
          const [r1, r2] = await Promise.all([p1, p2]);
          const outcome = first === 'commit' ? (r1 as string[])[0] : (r2 as string[])[0];
          assert.equal(outcome, first === 'commit' ? 'ok' : 'stale_generation', `${first} first`);
        } finally {
          await holder.end();
        }
        await b.leaveGroup({ topic: 'rt', group: 'g', memberId: 'b' });
      }
    });
  });

  it('prune running while publishers write keeps partitions dense and their byte counts exact', async () => {
    await withTwo(async (a, b, schema) => {
      await a.createTopic({ name: 'pr', partitions: 2, retention: { maxAgeMs: null, maxBytes: 2_000 } });
      let publishing = true;
      const pruned: number[] = [];
      const pruner = (async () => {
        while (publishing) pruned.push(await b.pruneTopics({ limit: 50 }));
      })();
      await Promise.all(
        Array.from({ length: 4 }, async (_, p) => {
          for (let i = 0; i < 40; i++) await (p % 2 === 0 ? a : b).publish({ topic: 'pr', messages: [message(i % 2, { p, i, pad: 'x'.repeat(40) })] });
        }),
      );
      publishing = false;
      await pruner;
      while ((await b.pruneTopics({ limit: 50 })) > 0);
      for (let partition = 0; partition < 2; partition++) {
        const info = (await a.getTopic('pr'))!.offsets[partition]!;
        const stored = await readAll(a, 'pr', partition);
        assert.equal(info.highWater, 80, 'every publish got an offset');
        assert.deepEqual(stored.map((m) => m.offset), Array.from({ length: info.highWater - info.startOffset }, (_, i) => info.startOffset + i));
      }
      const rows = await adminQuery(
        `SELECT p.partition, p.bytes::int AS bytes, (SELECT coalesce(sum(m.bytes), 0)::int FROM "${schema}".topic_messages m
           WHERE m.topic = p.topic AND m.partition = p.partition) AS sum FROM "${schema}".topic_partitions p WHERE p.topic = 'pr'`,
      );
      for (const r of rows) {
        assert.equal(r.bytes, r.sum, `partition ${r.partition}: bytes is the sum of the retained messages`);
        assert.ok(r.bytes <= 2_000, 'within retention');
      }
      assert.ok(pruned.reduce((x, y) => x + y, 0) > 0);
    });
  });
});

describe('topics on PostgreSQL: times and reads', () => {
  it('seek by time binary-searches the partition; a time that goes back keeps its publishedAt but seeks after what came before', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const t0 = await backend.now();
      const at = (ms: number) => new Date(t0.getTime() + ms);
      await backend.createTopic({ name: 'ts', partitions: 2, retention: { maxAgeMs: null, maxBytes: null } });
      // Partition 0: 300 messages, 10 ms apart, in batches of 3 sharing a time.
      for (let i = 0; i < 100; i++) await backend.publish({ topic: 'ts', messages: [0, 1, 2].map((j) => message(0, i * 3 + j)), now: at(i * 10) });
      // Partition 1: times 0, 100, 50 (the clock went back), 200.
      for (const ms of [0, 100, 50, 200]) await backend.publish({ topic: 'ts', messages: [message(1, ms)], now: at(ms) });
      const stored = await readAll(backend, 'ts', 1);
      assert.deepEqual(stored.map((m) => m.publishedAt.getTime() - t0.getTime()), [0, 100, 50, 200], 'publishedAt is the time given');
      await backend.joinGroup({ topic: 'ts', group: 'g', memberId: 'm', sessionMs: 60_000, start: 'earliest', now: at(0) });
      const seek = async (ms: number) => (await backend.seekGroup({ topic: 'ts', group: 'g', to: { kind: 'time', at: at(ms) } })).map((o) => o.committed);
      for (const ms of [-5, 0, 1, 9, 10, 11, 500, 990, 991, 5000]) {
        const first = ms <= 0 ? 0 : Math.ceil(ms / 10) * 3;
        const expected1 = ms <= 0 ? 0 : ms <= 100 ? 1 : ms <= 200 ? 3 : 4;
        assert.deepEqual(await seek(ms), [Math.min(first, 300), expected1], `seek to ${ms} ms`);
      }
      // After retention moved the start, a time before it seeks to the start.
      await backend.createTopic({ name: 'ts2', partitions: 1, retention: { maxAgeMs: 1_000, maxBytes: null } });
      for (let i = 0; i < 10; i++) await backend.publish({ topic: 'ts2', messages: [message(0, i)], now: at(i * 500) });
      assert.equal(await backend.pruneTopics({ now: at(4_600), limit: 100 }), 8);
      await backend.joinGroup({ topic: 'ts2', group: 'g', memberId: 'm', sessionMs: 60_000, start: 'earliest', now: at(4_600) });
      assert.deepEqual((await backend.seekGroup({ topic: 'ts2', group: 'g', to: { kind: 'time', at: at(0) } })).map((o) => o.committed), [8]);
    } finally {
      await cleanup();
    }
  });

  it('a write that finds expired members makes a generation for the expiry and one for its own change', async () => {
    const { backend, cleanup } = await makeTestBackend();
    try {
      const t0 = await backend.now();
      const at = (ms: number) => new Date(t0.getTime() + ms);
      await backend.createTopic({ name: 'ex', partitions: 2, retention: { maxAgeMs: null, maxBytes: null } });
      const join = (memberId: string, ms: number) => backend.joinGroup({ topic: 'ex', group: 'g', memberId, sessionMs: 1_000, start: 'earliest', now: at(ms) });
      assert.equal((await join('a', 0)).generation, 1);
      assert.equal((await join('b', 10)).generation, 2);
      // At 1,005 a expired (0 + 1,000) and b is live: the join of c is the expiry (3) and c (4).
      assert.deepEqual(await join('c', 1_005), { generation: 4, members: ['b', 'c'], partitions: [1] });
      // A read reports the stored generation and only the members live at its time.
      const read = await backend.getGroup({ topic: 'ex', group: 'g', now: at(1_500) });
      assert.equal(read!.generation, 4);
      assert.deepEqual(read!.members.map((m) => [m.memberId, m.partitions]), [['c', [1]]]);
      await assert.rejects(backend.getGroup({ topic: 'ghost', group: 'g' }), TopicNotFoundError);
      await assert.rejects(backend.listGroups('ghost'), TopicNotFoundError);
      assert.deepEqual(await backend.listGroups('ex').then((gs) => gs.map((g) => g.group)), ['g']);
    } finally {
      await cleanup();
    }
  });
});

/** Waits until `n` sessions wait for a lock in a statement naming `schema`. */
async function waitForWaiters(schema: string, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await adminQuery(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
      [`"${schema}".`],
    );
    if (rows[0]!.n >= n) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} lock waiters`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
