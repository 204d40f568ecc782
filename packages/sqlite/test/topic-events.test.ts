/**
 * Topic events on SQLite (ADR 0017, "Wake-ups"; events.ts, topics.ts): a publish transaction
 * writes one outbox row carrying one `published` event — whatever its number of messages and
 * partitions, none when it stored nothing or rolled back — delivered after the commit to local
 * subscribers and through the outbox to another backend instance on the file (another process,
 * for the outbox) long before its poll timer; the outbox body keeps topic events under their own
 * key, so a reader that predates them sees no event at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { TopicNotFoundError, type JobInsert, type MessageInsert, type SpindleEvent, type TopicEvent } from '@spindle/core';
import { decodeOutbox, encodeOutbox } from '../src/events.js';
import { SqliteBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (partition: number, idempotencyKey: string | null = null): MessageInsert => ({ partition, key: null, value: '{"n":1}', headers: null, idempotencyKey });
const retention = { maxAgeMs: null, maxBytes: null };
const barrierJob: JobInsert = {
  id: 'barrier',
  queue: 'q',
  name: 'task',
  payload: '{}',
  priority: 500,
  maxRetries: 0,
  delayMs: null,
  runAt: null,
  uniqueKey: null,
  timeoutMs: null,
  backoff: null,
  retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
};
const topicEvents = (events: SpindleEvent[]) => events.filter((e): e is TopicEvent => e.type === 'published');

test('a publish transaction: one outbox row with one topic event, delivered locally after commit and to another instance through the outbox', async () => {
  const { backend: a, path, cleanup } = await makeTestBackend();
  const b = new SqliteBackend({ path, eventPollMs: 60_000 });
  const raw = new Database(path, { readonly: true });
  try {
    await a.createTopic({ name: 'orders', partitions: 4, retention });
    const local: SpindleEvent[][] = [];
    const remote: SpindleEvent[] = [];
    a.subscribe((batch) => local.push(batch));
    b.subscribe((batch) => remote.push(...batch));
    const rowsBefore = (raw.prepare('SELECT count(*) AS n FROM spindle_events').get() as { n: number }).n;

    const started = Date.now();
    const pending = a.publish({ topic: 'orders', messages: [message(3), message(1), message(3, 'k'), message(1), message(2)] });
    assert.equal(local.length, 0, 'never delivered synchronously');
    await pending;
    await sleep(0);
    assert.equal(local.length, 1, 'one listener call for the transaction');
    const [event] = local[0]!;
    assert.deepEqual({ ...event, at: 0 }, { type: 'published', topic: 'orders', partitions: [1, 2, 3], at: 0 });
    const rows = raw.prepare('SELECT body FROM spindle_events ORDER BY seq').all() as Array<{ body: string }>;
    assert.equal(rows.length, rowsBefore + 1, 'one outbox row for five messages');
    assert.deepEqual(decodeOutbox(rows.at(-1)!.body), [event]);

    while (remote.length === 0 && Date.now() - started < 2000) await sleep(2);
    assert.deepEqual(remote, [event], 'the other instance got it through the outbox');
    assert.ok(Date.now() - started < 1000, `within a second, not the 60 s poll (${Date.now() - started} ms)`);

    // Stored nothing (a duplicate), or rolled back (a missing topic): no row, no event.
    await a.publish({ topic: 'orders', messages: [message(0, 'k')] });
    await assert.rejects(a.publish({ topic: 'missing', messages: [message(0)] }), TopicNotFoundError);
    await a.insertJobs({ jobs: [barrierJob] });
    const barrier = Date.now();
    while (!remote.some((e) => e.type === 'added') && Date.now() - barrier < 2000) await sleep(2);
    assert.deepEqual(topicEvents(local.flat()), [event], 'no local event for a duplicate or a failed publish');
    assert.deepEqual(topicEvents(remote), [event], 'nor a remote one');
    assert.equal((raw.prepare('SELECT count(*) AS n FROM spindle_events').get() as { n: number }).n, rowsBefore + 2, 'only the barrier job added a row');
  } finally {
    raw.close();
    await b.close();
    await cleanup();
  }
});

test('the outbox body: topic events of a transaction merge per topic under their own key; an older reader sees none of them', () => {
  const at = 1_900_000_000_000;
  const job = { type: 'added', jobId: 'j1', queue: 'q', name: 'task', state: 'queued', attempt: 0, at } as const;
  const events: SpindleEvent[] = [
    { type: 'published', topic: 'a', partitions: [2], at },
    job,
    { type: 'published', topic: 'b', partitions: [0], at },
    { type: 'published', topic: 'a', partitions: [0, 2], at: at + 5 },
  ];
  const body = encodeOutbox(events);
  const parsed = JSON.parse(body) as { e: unknown[]; t: unknown[] };
  assert.deepEqual(parsed.t, [['a', [0, 2], at + 5], ['b', [0], at]]);
  assert.deepEqual(decodeOutbox(JSON.stringify({ v: 2, e: parsed.e })), [job], 'what an older reader reads (only `e`): the job event alone');
  assert.deepEqual(decodeOutbox(body), [
    job,
    { type: 'published', topic: 'a', partitions: [0, 2], at: at + 5 },
    { type: 'published', topic: 'b', partitions: [0], at },
  ]);
  assert.equal(encodeOutbox([job]), JSON.stringify({ v: 2, e: [['added', 'q', 'task', 'queued', 0, at, 'j1']] }), 'no `t` key without topic events');
  const publishOnly = encodeOutbox([{ type: 'published', topic: 'orders', partitions: [0], at }]);
  assert.ok(publishOnly.length < 80, `a publish's body is small (${publishOnly.length} bytes): ${publishOnly}`);
});
