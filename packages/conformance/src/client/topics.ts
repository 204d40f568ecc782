/**
 * Topics through the client (issue 7): keyed publishes keep per-key order through a consumer
 * group of several members, every group sees every message, a member that leaves hands its
 * partitions over, a message that keeps failing goes to the group's DLQ topic and its partition
 * moves on, and bad input is refused with nothing written. Manual commits (`autoCommit: false`):
 * only what the handler committed is kept, a restarted member gets the rest again, and a commit
 * of a generation the member no longer owns the partition in is refused with a ConflictError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, fnv1a32, TopicNotFoundError, ValidationError, type ConsumedBatch, type ConsumedMessage } from '@spindle/core';
import { deferred, waitFor, withClient, type BackendFactory } from './harness.js';

interface Order {
  key: string;
  n: number;
}

export function topicClientTests(factory: BackendFactory): void {
  describe(`${factory.name}: topics through consumers`, () => {
    it('a group of two members handles every keyed message once, in order per key; lag ends at 0', () =>
      withClient(factory, async (client) => {
        await client.topics.create('orders', { partitions: 4 });
        const seen: Array<{ by: string; m: ConsumedMessage<Order> }> = [];
        const members = ['m1', 'm2'].map((id) => client.topics.consumer<Order>('orders', 'billing', { memberId: id, start: 'earliest', pollMs: 20, sessionMs: 3000 }));
        for (const c of members) await c.run({ eachMessage: (m) => void seen.push({ by: c.memberId, m }) });
        // Until m1's next heartbeat it still works in the generation before m2 joined (a rebalance
        // may hand a batch to two members); once both know the same generation, each message goes once.
        await waitFor(() => members.every((c) => c.owned?.partitions.length === 2), 'both members follow the same assignment', 5000);
        const perKey = new Map<string, number>();
        const batch = Array.from({ length: 200 }, (_, i) => {
          const key = `customer-${i % 10}`;
          const n = perKey.get(key) ?? 0;
          perKey.set(key, n + 1);
          return { key, value: { key, n } };
        });
        for (let i = 0; i < batch.length; i += 50) await client.topics.publishBatch('orders', batch.slice(i, i + 50));
        await waitFor(() => seen.length >= 200, '200 messages handled');
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(seen.length, 200, 'each message once');
        for (const key of perKey.keys()) {
          const ns = seen.filter((s) => s.m.key === key).map((s) => s.m.value.n);
          assert.deepEqual(ns, [...ns].sort((a, b) => a - b), `order of ${key}`);
          assert.equal(new Set(seen.filter((s) => s.m.key === key).map((s) => s.m.partition)).size, 1, `${key} stays in one partition`);
        }
        assert.equal(seen[0]!.m.partition, fnv1a32(seen[0]!.m.key!) % 4, 'the partition is the key hash mod the partition count');
        assert.equal(new Set(seen.map((s) => s.by)).size, 2, 'both members took part');
        await waitFor(async () => (await client.topics.group('orders', 'billing'))!.offsets.every((o) => o.lag === 0), 'every offset committed');
      }));

    it('every group sees every message; a member that stops hands its partitions over', () =>
      withClient(factory, async (client) => {
        await client.topics.create('events', { partitions: 2 });
        const got: Record<string, number[]> = { payment: [], inventory: [] };
        const pay = client.topics.consumer<{ n: number }>('events', 'payment', { memberId: 'p1', start: 'earliest', pollMs: 20 });
        const inv1 = client.topics.consumer<{ n: number }>('events', 'inventory', { memberId: 'i1', start: 'earliest', pollMs: 20, sessionMs: 3000 });
        const inv2 = client.topics.consumer<{ n: number }>('events', 'inventory', { memberId: 'i2', start: 'earliest', pollMs: 20, sessionMs: 3000 });
        await pay.run({ eachMessage: (m) => void got.payment!.push(m.value.n) });
        await inv1.run({ eachMessage: (m) => void got.inventory!.push(m.value.n) });
        await inv2.run({ eachMessage: (m) => void got.inventory!.push(m.value.n) });
        await waitFor(() => inv1.owned?.partitions.length === 1 && inv2.owned?.partitions.length === 1, 'the inventory members share the partitions', 5000);
        await client.topics.publishBatch('events', Array.from({ length: 20 }, (_, n) => ({ value: { n } })));
        await waitFor(() => got.payment!.length === 20 && got.inventory!.length === 20, 'both groups got all 20');
        await inv2.stop();
        await waitFor(() => (inv1.owned?.partitions.length ?? 0) === 2, 'the remaining member owns both partitions (at its next heartbeat)', 8000);
        await client.topics.publishBatch('events', Array.from({ length: 10 }, (_, n) => ({ value: { n: 20 + n } })));
        await waitFor(() => got.inventory!.length === 30, 'the remaining member got the rest');
        assert.deepEqual([...got.inventory!].sort((a, b) => a - b), Array.from({ length: 30 }, (_, n) => n));
      }));

    it('a message that keeps failing goes to the group DLQ topic with its error, and its partition moves on', () =>
      withClient(factory, async (client) => {
        await client.topics.create('payments', { partitions: 1 });
        const handled: number[] = [];
        const attempts = new Map<number, number>();
        const c = client.topics.consumer<{ n: number }>('payments', 'settle', { start: 'earliest', pollMs: 20, maxRetries: 2, retryDelayMs: 5 });
        await c.run({
          eachMessage: (m) => {
            attempts.set(m.value.n, m.attempt);
            if (m.value.n === 1) throw new Error('card declined');
            handled.push(m.value.n);
          },
        });
        await client.topics.publishBatch('payments', [0, 1, 2].map((n) => ({ key: 'acct-7', value: { n } })));
        await waitFor(() => handled.length === 2, 'the messages around the poison one were handled');
        assert.deepEqual(handled, [0, 2]);
        assert.equal(attempts.get(1), 3, 'tried once and retried twice');
        const dlq = await client.topics.fetch('payments.dlq.settle', 0, 0, 10);
        assert.equal(dlq.messages.length, 1);
        const dead = dlq.messages[0]!;
        assert.deepEqual(dead.value, { n: 1 });
        assert.equal(dead.key, 'acct-7');
        assert.equal(dead.headers?.['spindle-offset'], '1');
        assert.match(dead.headers?.['spindle-error'] ?? '', /card declined/);
      }));

    it('eachBatch gets fetched runs of a partition, committed on return; a failing batch is split so only the poison message is dead-lettered', () =>
      withClient(factory, async (client) => {
        await client.topics.create('ledger', { partitions: 1 });
        await client.topics.publishBatch('ledger', Array.from({ length: 10 }, (_, n) => ({ value: { n } })));
        const sizes: number[] = [];
        const done = new Set<number>();
        const c = client.topics.consumer<{ n: number }>('ledger', 'books', { start: 'earliest', pollMs: 20, batchSize: 5, maxRetries: 1, retryDelayMs: 5 });
        await c.run({
          eachBatch: (batch) => {
            sizes.push(batch.messages.length);
            assert.deepEqual(batch.messages.map((m) => m.offset), [...batch.messages.map((m) => m.offset)].sort((a, b) => a - b));
            if (batch.messages.some((m) => m.value.n === 7)) throw new Error('bad entry 7');
            for (const m of batch.messages) done.add(m.value.n);
          },
        });
        await waitFor(async () => (await client.topics.group('ledger', 'books'))!.offsets[0]!.lag === 0, 'every offset committed');
        assert.deepEqual([...done].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 8, 9]);
        assert.equal(sizes[0], 5, 'the first run is a whole fetch');
        assert.ok(sizes.includes(1), 'the failing batch was split into batches of one');
        const dlq = await client.topics.fetch('ledger.dlq.books', 0, 0, 10);
        assert.deepEqual(dlq.messages.map((m) => m.value), [{ n: 7 }]);
        await assert.rejects(c.run({ eachBatch: () => undefined }), /already running/);
        const both = client.topics.consumer('ledger', 'other');
        await assert.rejects(both.run({ eachMessage: () => undefined, eachBatch: () => undefined } as never), ValidationError);
      }));

    it('manual commits: the group keeps only what the handler committed; a restarted member gets the rest again', () =>
      withClient(factory, async (client) => {
        await client.topics.create('manual', { partitions: 1 });
        await client.topics.publishBatch('manual', Array.from({ length: 6 }, (_, n) => ({ value: { n } })));
        const committed = async (group: string) => (await client.topics.group('manual', group))!.offsets[0]!.committed;
        const first: number[] = [];
        const c1 = client.topics.consumer<{ n: number }>('manual', 'g', { memberId: 'c1', start: 'earliest', pollMs: 20, autoCommit: false });
        await c1.run({
          eachMessage: async (m) => {
            first.push(m.value.n);
            if (m.value.n <= 2) await m.commit();
          },
        });
        await waitFor(() => first.length === 6, 'all six handled');
        await waitFor(async () => (await committed('g')) === 3, 'the committed offset is after the last committed message');
        await new Promise((r) => setTimeout(r, 150));
        assert.deepEqual(first, [0, 1, 2, 3, 4, 5], 'the running member reads on past uncommitted messages, each once');
        assert.equal(await committed('g'), 3, 'nothing else was committed');
        await c1.stop();

        const again: number[] = [];
        const c2 = client.topics.consumer<{ n: number }>('manual', 'g', { memberId: 'c2', pollMs: 20, autoCommit: false });
        await c2.run({
          eachMessage: async (m) => {
            again.push(m.value.n);
            await m.commit();
          },
        });
        await waitFor(async () => (await committed('g')) === 6, 'the restarted member committed the rest');
        assert.deepEqual(again, [3, 4, 5], 'the uncommitted messages came back, and only they');
        await c2.stop();

        // eachBatch: commit through a message of the batch; a bad offset is a ValidationError.
        const batches: Array<ConsumedBatch<{ n: number }>> = [];
        const b1 = client.topics.consumer<{ n: number }>('manual', 'b', { start: 'earliest', pollMs: 20, batchSize: 10, autoCommit: false });
        await b1.run({ eachBatch: (batch) => void batches.push(batch) });
        await waitFor(() => batches.length === 1, 'one batch');
        const [batch] = batches;
        assert.equal(batch!.messages.length, 6);
        await assert.rejects(batch!.commit(99), ValidationError);
        await batch!.commit(batch!.messages[3]!.offset);
        assert.equal(await committed('b'), 4, 'commit(offset) commits through that message');
        await batch!.messages[1]!.commit();
        assert.equal(await committed('b'), 4, 'an earlier commit leaves the offset where it is');
        await b1.stop();
        const rest: number[] = [];
        const b2 = client.topics.consumer<{ n: number }>('manual', 'b', { pollMs: 20, autoCommit: false });
        await b2.run({
          eachBatch: async (bt) => {
            rest.push(...bt.messages.map((m) => m.value.n));
            await bt.commit();
          },
        });
        await waitFor(async () => (await committed('b')) === 6, 'batch.commit() commits the whole batch');
        assert.deepEqual(rest, [4, 5]);
        await b2.stop();
      }));

    it('manual commits are fenced: after a rebalance to another generation commitOffsets and commit() are refused', () =>
      withClient(factory, async (client) => {
        await client.topics.create('fenced', { partitions: 1 });
        await client.topics.publishBatch('fenced', [{ value: { n: 0 } }, { value: { n: 1 } }]);
        const held: Array<ConsumedMessage<{ n: number }>> = [];
        // A long session: 'm-b' hears of the rebalance only when a commit is refused.
        const old = client.topics.consumer<{ n: number }>('fenced', 'g', { memberId: 'm-b', start: 'earliest', pollMs: 20, sessionMs: 60_000, autoCommit: false });
        await old.run({ eachMessage: (m) => void held.push(m) });
        await waitFor(() => held.length === 2, 'both handled');
        await old.commitOffsets([{ partition: 0, offset: 1 }]);
        assert.equal((await client.topics.group('fenced', 'g'))!.offsets[0]!.committed, 1);
        await assert.rejects(old.commitOffsets([{ partition: 0, offset: -1 }]), ValidationError);
        await assert.rejects(old.commitOffsets([{ partition: 0, offset: 1 }, { partition: 0, offset: 2 }]), ValidationError);

        const redelivered: number[] = [];
        // 'm-a' sorts first: it owns partition 0 in the new generation.
        const next = client.topics.consumer<{ n: number }>('fenced', 'g', { memberId: 'm-a', pollMs: 20, sessionMs: 60_000 });
        await next.run({ eachMessage: (m) => void redelivered.push(m.offset) });
        await waitFor(() => next.owned?.partitions.includes(0), 'the new member owns partition 0');
        const refused = await old.commitOffsets([{ partition: 0, offset: 2 }]).then(
          () => assert.fail('a commit of a generation that lost the partition must be refused'),
          (err: unknown) => err,
        );
        assert.ok(refused instanceof ConflictError, `a ConflictError (got ${String(refused)})`);
        assert.equal(refused.code, 'conflict');
        assert.match(refused.message, /stale_generation|not_assigned/);
        await assert.rejects(held[1]!.commit(), (err: unknown) => err instanceof ConflictError && /stale_generation/.test(err.message), 'commit() is fenced by the generation it was delivered in');
        await waitFor(() => redelivered.includes(1), 'the new owner gets the uncommitted message again');
        assert.deepEqual(redelivered, [1]);
        await waitFor(async () => (await client.topics.group('fenced', 'g'))!.offsets[0]!.committed === 2, 'the new owner committed it');
        assert.throws(() => client.topics.consumer('fenced', 'g', { autoCommit: 'no' as never }), ValidationError);
      }));

    it('a handler that fails because its commit was refused is neither retried nor dead-lettered', () =>
      withClient(factory, async (client) => {
        await client.topics.create('moved', { partitions: 1 });
        await client.topics.publish('moved', { value: { n: 0 } });
        const gate = deferred();
        let started = false;
        let tries = 0;
        const old = client.topics.consumer<{ n: number }>('moved', 'g', { memberId: 'm-b', start: 'earliest', pollMs: 20, sessionMs: 60_000, maxRetries: 0, autoCommit: false });
        await old.run({
          eachMessage: async (m) => {
            tries++;
            started = true;
            await gate.promise;
            await m.commit();
          },
        });
        await waitFor(() => started, 'the handler started');
        const owner: number[] = [];
        const next = client.topics.consumer<{ n: number }>('moved', 'g', { memberId: 'm-a', pollMs: 20, sessionMs: 60_000 });
        await next.run({ eachMessage: (m) => void owner.push(m.offset) });
        await waitFor(() => next.owned?.partitions.includes(0), 'the new member owns partition 0');
        gate.resolve();
        await waitFor(() => owner.length === 1, 'the new owner handles the message again');
        await waitFor(async () => (await client.topics.group('moved', 'g'))!.offsets[0]!.committed === 1, 'and commits it');
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(tries, 1, 'the old member did not retry it');
        assert.equal(await client.topics.get('moved.dlq.g'), null, 'nor dead-letter it');
      }));

    it('manual commits: a dead-lettered message is committed by the consumer once everything before it is', () =>
      withClient(factory, async (client) => {
        await client.topics.create('poison', { partitions: 1 });
        await client.topics.publishBatch('poison', [0, 1, 2].map((n) => ({ value: { n } })));
        const c = client.topics.consumer<{ n: number }>('poison', 'g', { start: 'earliest', pollMs: 20, maxRetries: 0, autoCommit: false });
        await c.run({
          eachMessage: async (m) => {
            if (m.value.n === 2) throw new Error('poison');
            await m.commit();
          },
        });
        await waitFor(async () => (await client.topics.group('poison', 'g'))!.offsets[0]!.lag === 0, 'the poison message is committed past');
        assert.deepEqual((await client.topics.fetch('poison.dlq.g', 0, 0, 10)).messages.map((m) => m.value), [{ n: 2 }]);
      }));

    it('bad input is refused with a typed error and nothing written', () =>
      withClient(factory, async (client) => {
        await client.topics.create('strict', { partitions: 2 });
        await assert.rejects(client.topics.publish('ghost', { value: 1 }), TopicNotFoundError);
        await assert.rejects(client.topics.publishBatch('strict', [{ value: 1 }, { key: '', value: 2 }]), ValidationError);
        await assert.rejects(client.topics.publishBatch('strict', [{ value: 1 }, { value: () => 2 } as never]), ValidationError);
        await assert.rejects(client.topics.publish('strict', { value: 1, headers: { h: 5 as unknown as string } }), ValidationError);
        await assert.rejects(client.topics.create('bad name!', { partitions: 2 }), ValidationError);
        await assert.rejects(client.topics.create('too-many', { partitions: 5000 }), ValidationError);
        await assert.rejects(client.topics.fetch('strict', 0, -1, 10), ValidationError);
        await assert.rejects(client.topics.seek('strict', 'g', { time: 'yesterday' }), ValidationError);
        assert.throws(() => client.topics.consumer('strict', 'g', { sessionMs: 5 }), ValidationError);
        assert.equal(await client.topics.get('too-many'), null);
        assert.deepEqual((await client.topics.get('strict'))!.offsets.map((p) => p.highWater), [0, 0]);
      }));
  });
}
