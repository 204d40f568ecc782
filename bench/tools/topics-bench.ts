/**
 * Topics against the message logs on this machine (issue 7): Spindle's topics on SQLite and
 * PostgreSQL beside Redis Streams, NATS JetStream and RabbitMQ (a durable quorum-less classic
 * queue), one stream/partition each, the same JSON value (218 bytes).
 *
 * Measured per system: single publishes awaited one by one (msgs/s), batched publishes of 1,000
 * (msgs/s), draining a backlog with one consumer that acknowledges / commits as it goes (msgs/s),
 * and publish → handler latency (p50/p99) at 100 messages/s with an idle consumer in another
 * connection (Spindle: another Client with the default poll interval of 250 ms: a publish wakes
 * it through the backend's events — the SQLite outbox, PostgreSQL NOTIFY — not a poll).
 *
 * Durability as configured here (stated with the results): Spindle SQLite synchronous=FULL (each
 * publish call is fsynced), Spindle PostgreSQL synchronous_commit=on; Redis with no AOF/RDB (not
 * durable: acknowledged writes can be lost); NATS JetStream file storage (acknowledged when
 * stored, fsync in the background by default); RabbitMQ durable queue, persistent messages,
 * publisher confirms (fsync before confirm, batched by the broker).
 *
 * Usage: node --conditions=source --import tsx bench/tools/topics-bench.ts [n] [systems…]
 * Writes bench/results/<date>-<host>-topics.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { AckPolicy, connect as natsConnect, StorageType } from 'nats';
import { Client, silentLogger, type Backend } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SqliteBackend } from '@spindle/sqlite';

const n = Number(process.argv[2] ?? 20_000);
const systems = process.argv.slice(3).length ? process.argv.slice(3) : ['spindle-sqlite', 'spindle-postgres', 'redis-streams', 'nats-jetstream', 'rabbitmq'];
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SINGLE = Math.min(2000, n);
const BATCH = 1000;
const LATENCY_MSGS = 300;
const value = { type: 'OrderPlaced', id: 0, customer: 'customer-0042', total: 99.5, items: ['sku-1', 'sku-2'], note: 'x'.repeat(90) };

interface Adapter {
  publishOne(i: number): Promise<void>;
  publishBatch(from: number, count: number): Promise<void>;
  /** Consumes `count` messages (from the start), calling onMessage with each decoded value. */
  consume(count: number, onMessage: (v: { id: number; sentAt?: number }) => void): Promise<void>;
  close(): Promise<void>;
}

const encode = (id: number, sentAt?: number) => JSON.stringify({ ...value, id, sentAt });

async function spindle(kind: 'sqlite' | 'postgres', name: string): Promise<Adapter> {
  let dir = '';
  const schema = `topics_bench_${process.pid}_${Date.now()}`;
  const make = (): Backend => (kind === 'sqlite' ? new SqliteBackend({ path: join(dir, 'bench.db') }) : new PostgresBackend({ connectionString: PG_URL, schema }));
  if (kind === 'sqlite') dir = mkdtempSync(join(tmpdir(), 'spindle-topics-'));
  const producer = new Client({ backend: make(), logger: silentLogger, maintenance: false });
  await producer.start();
  await producer.topics.create(name, { partitions: 1 });
  const consumerClient = new Client({ backend: make(), logger: silentLogger, maintenance: false });
  return {
    publishOne: async (i) => void (await producer.topics.publish(name, { value: JSON.parse(encode(i, Date.now())) })),
    publishBatch: async (from, count) => void (await producer.topics.publishBatch(name, Array.from({ length: count }, (_, k) => ({ value: JSON.parse(encode(from + k, Date.now())) })))),
    consume: async (count, onMessage) => {
      let seen = 0;
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const c = consumerClient.topics.consumer<{ id: number; sentAt?: number }>(name, `g${Date.now()}`, { start: 'earliest', batchSize: 1000 });
      await c.run({ eachMessage: (m) => { onMessage(m.value); if (++seen === count) done(); } });
      await finished;
      await c.stop();
    },
    close: async () => {
      await consumerClient.close();
      await producer.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const admin = new PostgresBackend({ connectionString: PG_URL, schema });
        await (admin as unknown as { db: { query(op: string, q: { text: string }): Promise<unknown> } }).db.query('drop', { text: `DROP SCHEMA IF EXISTS "${schema}" CASCADE` });
        await admin.close();
      }
    },
  };
}

async function redisStreams(name: string): Promise<Adapter> {
  const pub = new Redis({ host: '127.0.0.1', port: 6379 });
  const sub = new Redis({ host: '127.0.0.1', port: 6379 });
  await pub.del(name);
  return {
    publishOne: async (i) => void (await pub.xadd(name, '*', 'v', encode(i, Date.now()))),
    publishBatch: async (from, count) => {
      const p = pub.pipeline();
      for (let k = 0; k < count; k++) p.xadd(name, '*', 'v', encode(from + k, Date.now()));
      await p.exec();
    },
    consume: async (count, onMessage) => {
      const group = `g${Date.now()}`;
      await sub.xgroup('CREATE', name, group, '0', 'MKSTREAM');
      let seen = 0;
      while (seen < count) {
        const res = (await sub.xreadgroup('GROUP', group, 'c1', 'COUNT', 1000, 'BLOCK', 1000, 'STREAMS', name, '>')) as Array<[string, Array<[string, string[]]>]> | null;
        if (!res) continue;
        const entries = res[0]![1];
        for (const [, fields] of entries) onMessage(JSON.parse(fields[1]!));
        await sub.xack(name, group, ...entries.map(([id]) => id));
        seen += entries.length;
      }
    },
    close: async () => {
      await pub.del(name);
      pub.disconnect();
      sub.disconnect();
    },
  };
}

async function natsJetStream(name: string): Promise<Adapter> {
  const nc = await natsConnect({ servers: '127.0.0.1:4222' });
  const jsm = await nc.jetstreamManager();
  const subject = `${name}.events`;
  await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({ name, subjects: [subject], storage: StorageType.File });
  const js = nc.jetstream();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return {
    publishOne: async (i) => void (await js.publish(subject, enc.encode(encode(i, Date.now())))),
    publishBatch: async (from, count) => void (await Promise.all(Array.from({ length: count }, (_, k) => js.publish(subject, enc.encode(encode(from + k, Date.now())))))),
    consume: async (count, onMessage) => {
      const durable = `g${Date.now()}`;
      await jsm.consumers.add(name, { durable_name: durable, ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get(name, durable);
      const messages = await consumer.consume({ max_messages: 1000 });
      let seen = 0;
      for await (const m of messages) {
        onMessage(JSON.parse(dec.decode(m.data)));
        m.ack();
        if (++seen === count) break;
      }
    },
    close: async () => {
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    },
  };
}

async function rabbitmq(name: string): Promise<Adapter> {
  const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createConfirmChannel();
  await ch.deleteQueue(name).catch(() => undefined);
  await ch.assertQueue(name, { durable: true });
  const send = (i: number) => ch.sendToQueue(name, Buffer.from(encode(i, Date.now())), { persistent: true });
  return {
    publishOne: async (i) => {
      send(i);
      await ch.waitForConfirms();
    },
    publishBatch: async (from, count) => {
      for (let k = 0; k < count; k++) send(from + k);
      await ch.waitForConfirms();
    },
    consume: async (count, onMessage) => {
      const cch = await conn.createChannel();
      await cch.prefetch(1000);
      let seen = 0;
      await new Promise<void>((resolve) => {
        void cch.consume(name, (msg) => {
          if (!msg) return;
          onMessage(JSON.parse(msg.content.toString()));
          cch.ack(msg);
          if (++seen === count) resolve();
        });
      });
      await cch.close();
    },
    close: async () => {
      await ch.deleteQueue(name).catch(() => undefined);
      await conn.close();
    },
  };
}

async function open(system: string, name: string): Promise<Adapter> {
  if (system === 'spindle-sqlite') return spindle('sqlite', name);
  if (system === 'spindle-postgres') return spindle('postgres', name);
  if (system === 'redis-streams') return redisStreams(name);
  if (system === 'nats-jetstream') return natsJetStream(name);
  if (system === 'rabbitmq') return rabbitmq(name);
  throw new Error(`unknown system ${system}`);
}

const rate = (count: number, ms: number) => Math.round(count / (ms / 1000));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function measure(system: string) {
  // 1. Single publishes, then batched ones, then drain them all with one consumer.
  const a = await open(system, `bench-${Date.now()}`);
  let t0 = performance.now();
  for (let i = 0; i < SINGLE; i++) await a.publishOne(i);
  const single = rate(SINGLE, performance.now() - t0);
  t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) await a.publishBatch(SINGLE + i, Math.min(BATCH, n - i));
  const batched = rate(n, performance.now() - t0);
  t0 = performance.now();
  await a.consume(SINGLE + n, () => undefined);
  const consumed = rate(SINGLE + n, performance.now() - t0);
  await a.close();
  // 2. Latency: an idle consumer, messages published 10 ms apart.
  const b = await open(system, `lat-${Date.now()}`);
  const latencies: number[] = [];
  const consuming = b.consume(LATENCY_MSGS, (v) => v.sentAt !== undefined && latencies.push(Date.now() - v.sentAt));
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < LATENCY_MSGS; i++) {
    await b.publishOne(i);
    await new Promise((r) => setTimeout(r, 10));
  }
  await consuming;
  await b.close();
  return { publishSingle: single, publishBatched: batched, consume: consumed, latencyP50Ms: pct(latencies, 50), latencyP99Ms: pct(latencies, 99) };
}

const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
for (const system of systems) {
  results[system] = await measure(system);
  const r = results[system]!;
  console.log(`${system.padEnd(17)} publish ${String(r.publishSingle).padStart(6)}/s single, ${String(r.publishBatched).padStart(7)}/s batched; consume ${String(r.consume).padStart(7)}/s; latency p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms`);
}
const date = new Date().toISOString().slice(0, 10);
const file = new URL(`../results/${date}-${hostname().split('.')[0]}-topics.json`, import.meta.url);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), n, single: SINGLE, batch: BATCH, latencyMessages: LATENCY_MSGS, valueBytes: encode(0, Date.now()).length, results }, null, 2) + '\n');
console.log(`written ${file.pathname}`);
process.exit(0);
