// Topics: one `OrderPlaced` event, three consumer groups that each see it (payment, inventory,
// notification), per-customer order, a poison message parked in the group's DLQ topic, and a
// replay of the payment group from the start.
//
// Run: node --conditions=source --import tsx examples/orders-fanout.ts   (SPINDLE_DB to choose the file)
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, silentLogger } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';

interface OrderPlaced {
  type: 'OrderPlaced';
  orderId: string;
  customer: string;
  total: number;
}

const path = process.env.SPINDLE_DB ?? join(tmpdir(), `spindle-orders-${process.pid}.db`);
rmSync(path, { force: true });
const client = new Client({ backend: new SqliteBackend({ path }), logger: silentLogger });

await client.topics.create('orders', { partitions: 4, retention: { maxAgeMs: 7 * 86_400_000 } });

const seen: Record<string, string[]> = { payment: [], inventory: [], notification: [] };
const consumers = Object.keys(seen).map((group) =>
  client.topics.consumer<OrderPlaced>('orders', group, { start: 'earliest', pollMs: 20, maxRetries: 1, retryDelayMs: 10 }),
);
for (const consumer of consumers) {
  await consumer.run({
    eachMessage: async (m) => {
      // The payment service cannot charge a negative total: after its retry, the message goes to
      // the payment group's DLQ topic and the partition moves on. The other groups are unaffected.
      if (consumer.group === 'payment' && m.value.total < 0) throw new Error(`cannot charge ${m.value.total}`);
      seen[consumer.group]!.push(m.value.orderId);
    },
  });
}

const orders: OrderPlaced[] = [
  { type: 'OrderPlaced', orderId: 'o-1', customer: 'ada', total: 42 },
  { type: 'OrderPlaced', orderId: 'o-2', customer: 'grace', total: 18 },
  { type: 'OrderPlaced', orderId: 'o-3', customer: 'ada', total: -5 },
  { type: 'OrderPlaced', orderId: 'o-4', customer: 'ada', total: 7 },
];
// Keyed by customer: one customer's orders stay in one partition, in order. The idempotency key
// makes a retried publish (say, after a timeout) harmless.
const published = await client.topics.publishBatch('orders', orders.map((o) => ({ key: o.customer, value: o, idempotencyKey: o.orderId })));
console.log(`published ${published.length} orders: ${published.map((p, i) => `${orders[i]!.orderId}→p${p.partition}@${p.offset}`).join(', ')}`);
const again = await client.topics.publish('orders', { key: 'ada', value: orders[0]!, idempotencyKey: 'o-1' });
console.log(`publishing o-1 again: duplicate=${again.duplicate} (stored once, at p${again.partition}@${again.offset})`);

const until = Date.now() + 10_000;
while ((seen.payment!.length < 3 || seen.inventory!.length < 4 || seen.notification!.length < 4) && Date.now() < until) {
  await new Promise((r) => setTimeout(r, 20));
}
for (const [group, ids] of Object.entries(seen)) console.log(`${group.padEnd(12)} handled ${ids.join(', ')}`);
const dlq = await client.topics.fetch('orders.dlq.payment', 0, 0, 10);
for (const m of dlq.messages) console.log(`payment DLQ: ${(m.value as OrderPlaced).orderId} (${m.headers?.['spindle-error']})`);

for (const group of Object.keys(seen)) {
  const info = await client.topics.group('orders', group);
  console.log(`${group.padEnd(12)} lag ${info!.offsets.reduce((sum, o) => sum + o.lag, 0)}`);
}

// Replay: the payment group reads everything again from the start (say, after a bug fix).
const paymentConsumer = consumers[0]!;
await paymentConsumer.stop();
await client.topics.seek('orders', 'payment', 'earliest');
const replayed: string[] = [];
const replay = client.topics.consumer<OrderPlaced>('orders', 'payment', { pollMs: 20 });
await replay.run({ eachMessage: (m) => void replayed.push(m.value.orderId) });
while (replayed.length < 4 && Date.now() < until + 5000) await new Promise((r) => setTimeout(r, 20));
console.log(`payment replay handled ${replayed.sort().join(', ')}`);

await client.close();
rmSync(path, { force: true });
