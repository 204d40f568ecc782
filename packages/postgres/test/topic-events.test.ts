/**
 * Topic events on PostgreSQL (ADR 0017, "Wake-ups"; topic-publish.ts, topic-notify.ts): every
 * publish that stored something gives this instance's subscribers exactly its event after the
 * commit (none for only duplicates or a failed publish); another instance hears of every publish
 * through NOTIFY — sent after the commit, several concurrent publishes of a topic merged into
 * fewer events, never one for a publish that stored nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TopicNotFoundError, type MessageInsert, type SpindleEvent, type TopicEvent } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (partition: number, idempotencyKey: string | null = null): MessageInsert => ({ partition, key: null, value: '{"n":1}', headers: null, idempotencyKey });
const retention = { maxAgeMs: null, maxBytes: null };
const topicEvents = (events: SpindleEvent[]) => events.filter((e): e is TopicEvent => e.type === 'published');

async function until(probe: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('topic events', () => {
  it('each stored publish: its event locally after commit; other instances hear of every publish, concurrent ones merged', { timeout: 30_000 }, async () => {
    const { backend: a, schema, connectionString, cleanup } = await makeTestBackend();
    const b = new PostgresBackend({ connectionString, schema, poolMax: 2 });
    try {
      await a.createTopic({ name: 'orders', partitions: 8, retention });
      await a.createTopic({ name: 'audit', partitions: 1, retention });
      const local: SpindleEvent[] = [];
      const remote: SpindleEvent[] = [];
      a.subscribe((batch) => local.push(...batch));
      b.subscribe((batch) => remote.push(...batch));
      await b.whenListening();

      const pending = a.publish({ topic: 'orders', messages: [message(5), message(5)] });
      await pending;
      assert.equal(local.length, 0, 'never delivered synchronously');
      await until(() => local.length === 1, 'the local event');
      assert.deepEqual({ ...local[0], at: 0 }, { type: 'published', topic: 'orders', partitions: [5], at: 0 });
      await until(() => remote.length === 1, 'the remote event');
      assert.deepEqual(remote, local, 'the same event in the other instance');

      // 40 concurrent publishes over 8 partitions of one topic, and one of another topic.
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => a.publish({ topic: 'orders', messages: [message(i % 8)] })),
        a.publish({ topic: 'audit', messages: [message(0, 'once')] }),
      ]);
      // Nothing stored (a duplicate), or an error: no event anywhere.
      await a.publish({ topic: 'audit', messages: [message(0, 'once')] });
      await assert.rejects(a.publish({ topic: 'missing', messages: [message(0)] }), TopicNotFoundError);

      await until(() => topicEvents(local).length === 42, 'every local event');
      assert.equal(topicEvents(local).filter((e) => e.topic === 'audit').length, 1);
      const heard = (topic: string) => topicEvents(remote).filter((e) => e.topic === topic && e !== remote[0]);
      await until(() => heard('audit').length === 1 && new Set(heard('orders').flatMap((e) => e.partitions)).size === 8, 'every partition written heard of remotely');
      await sleep(200);
      assert.equal(heard('audit').length, 1, 'one event for the stored publish, none for the duplicate');
      const orders = heard('orders');
      assert.ok(orders.length >= 1 && orders.length <= 40, `40 publishes heard as ${orders.length} events`);
      for (const e of orders) assert.deepEqual(e.partitions, [...e.partitions].sort((x, y) => x - y), 'partitions ascending');
      for (const e of topicEvents(remote)) assert.ok(Math.abs(e.at - Date.now()) < 60_000);
    } finally {
      await b.close();
      await cleanup();
    }
  });
});
