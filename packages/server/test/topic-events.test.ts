/**
 * Topic events stay out of the server's job and queue feeds, on both backends: while a topic
 * consumer runs in the server's client (so the client follows topic events), publishes over HTTP
 * and through the client reach the consumer, and the SSE event stream and a webhook hooked on
 * every queue and event type carry only the job events of a job run afterwards.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { describe, test } from 'node:test';
import { WEBHOOK_EVENT_TYPES } from '../src/webhooks/options.js';
import { WEBHOOK_QUEUE } from '../src/webhooks/webhooks.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';
import { SseStream } from './sse-client.js';

async function receiver(): Promise<{ url: string; bodies: any[]; server: Server }> {
  const bodies: any[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies, server };
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: topic events and the job feeds`, () => {
    test('SSE and webhooks carry no topic event; the consumer still gets every message', async () => {
      const r = await receiver();
      try {
        await withServer(
          maker,
          async ({ server, client, app }) => {
            const base = await server.start();
            const stream = new SseStream(`${base}/api/v1/events`);
            await stream.until((s) => s.status === 200, 'the stream to open');
            await client.topics.create('feed', { partitions: 2 });
            const got: number[] = [];
            const consumer = client.topics.consumer<{ n: number }>('feed', 'g', { start: 'earliest', pollMs: 50 });
            await consumer.run({ eachMessage: (m) => void got.push(m.value.n) });
            assert.equal(client.topics.followingPublishes, true);

            const res = await call(app, 'POST', '/api/v1/topics/feed/messages', { messages: [{ value: { n: 1 } }, { value: { n: 2 } }] });
            assert.equal(res.status, 201);
            await client.topics.publish('feed', { value: { n: 3 } });
            await waitFor(() => got.length === 3, 'the consumer got all three');

            const worker = client.queue('after').process(async () => 'ok');
            const { id } = await client.queue('after').add('x', {});
            await stream.until((s) => s.events.some((e) => e.event === 'job.completed' && e.data.jobId === id), 'job.completed on the stream');
            await waitFor(() => r.bodies.some((b) => b.type === 'job.completed' && b.event?.jobId === id), 'job.completed at the webhook');
            await worker.close();
            await stream.close();

            const feed = stream.events.filter((e) => e.event !== 'reset');
            assert.ok(feed.every((e) => /^(job|queue|dlq)\./.test(e.event) && typeof e.data.queue === 'string'), `only job and queue events: ${feed.map((e) => e.event).join(' ')}`);
            assert.ok(!feed.some((e) => e.event.includes('published')));
            const hooked = r.bodies.filter((b) => b.event?.queue !== WEBHOOK_QUEUE);
            assert.ok(hooked.every((b) => /^(job|queue|dlq)\./.test(b.type)), `webhook types: ${hooked.map((b) => b.type).join(' ')}`);
            assert.ok(!hooked.some((b) => JSON.stringify(b).includes('published')));
          },
          { webhooks: { secret: 'test-webhook-secret-0123456789', sweepMs: 60_000, retryDelayMs: 20, hooks: [{ url: `${r.url}/all`, queues: ['*'], events: WEBHOOK_EVENT_TYPES }] } },
        );
      } finally {
        r.server.close();
      }
    });
  });
}
