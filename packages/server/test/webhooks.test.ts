/**
 * Webhooks end to end against a real HTTP receiver, on both backends: a job's `callbackUrl` gets
 * one signed POST when it finishes; per-queue hooks get matching events; a failing receiver is
 * retried until it answers 2xx; 410 sends the delivery to the `spindle.webhooks` DLQ; and a
 * callback whose job finished while no server was watching is delivered by the next server's
 * sweep.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { SpindleServer } from '../src/index.js';
import { verifySignature } from '../src/webhooks/signature.js';
import { WEBHOOK_QUEUE } from '../src/webhooks/webhooks.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const SECRET = 'test-webhook-secret-0123456789';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function receiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      received.push({ path, headers: req.headers, body });
      if (path === '/gone') res.writeHead(410).end();
      else if (path === '/flaky' && hits.get(path)! <= 2) res.writeHead(503).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: webhooks`, () => {
    test('callbackUrl: one signed POST when the job finishes; hooks get matching events; failures are retried; 410 goes to the DLQ', async () => {
      const r = await receiver();
      try {
        await withServer(
          maker,
          async ({ app, client }) => {
            const done = await call(app, 'POST', '/api/v1/queues/cb/jobs', { name: 'ok', payload: { n: 1 }, callbackUrl: `${r.url}/done` });
            const flaky = await call(app, 'POST', '/api/v1/queues/cb/jobs', { name: 'ok', callbackUrl: `${r.url}/flaky` });
            const gone = await call(app, 'POST', '/api/v1/queues/cb/jobs', { name: 'ok', callbackUrl: `${r.url}/gone` });
            await call(app, 'POST', '/api/v1/queues/hooked/jobs', { name: 'h' });
            assert.equal(done.status, 201);
            const workers = [client.queue('cb').process(async (job) => ({ handled: job.id })), client.queue('hooked').process(async () => 'ok')];

            const callback = await waitFor(() => r.received.find((x) => x.path === '/done'), 'the callback').catch(async (err: Error) => {
              const delivery = await client.getJob(`cb:${done.body.id}`);
              const target = await client.getJob(done.body.id);
              throw new Error(`${err.message}; target: ${target?.state}; delivery: ${JSON.stringify(delivery && { state: delivery.state, attempt: delivery.attempt, runAt: delivery.runAt, errors: delivery.errors })}`);
            });
            assert.ok(verifySignature(SECRET, callback.body, String(callback.headers['spindle-signature'])), 'signed with the secret');
            assert.ok(!verifySignature('another-secret-0123456789', callback.body, String(callback.headers['spindle-signature'])));
            const body = JSON.parse(callback.body);
            assert.equal(body.type, 'job.completed');
            assert.equal(body.job.id, done.body.id);
            assert.deepEqual(body.job.result, { handled: done.body.id });
            assert.equal(callback.headers['spindle-delivery'], `cb:${done.body.id}`);

            const hook = await waitFor(() => r.received.find((x) => x.path === '/hook'), 'the queue hook');
            assert.equal(JSON.parse(hook.body).type, 'job.completed');
            assert.equal(JSON.parse(hook.body).event.queue, 'hooked');

            await waitFor(() => r.received.filter((x) => x.path === '/flaky').length >= 3, 'the flaky receiver retried until 2xx');
            await waitFor(async () => (await client.getJob(`cb:${flaky.body.id}`))?.state === 'completed', 'the flaky delivery completed');
            const dead = await waitFor(async () => {
              const j = await client.getJob(`cb:${gone.body.id}`);
              return j?.state === 'dead' ? j : null;
            }, 'the 410 delivery in the DLQ');
            assert.equal(dead.queue, WEBHOOK_QUEUE);
            assert.match(dead.failureReason!, /410/);
            await new Promise((res) => setTimeout(res, 200));
            assert.equal(r.received.filter((x) => x.path === '/done').length, 1, 'delivered once');
            assert.equal(r.received.filter((x) => x.path === '/hook').length, 1, 'only the matching queue and event');
            await Promise.all(workers.map((w) => w.close()));
          },
          { webhooks: { secret: SECRET, sweepMs: 100, retryDelayMs: 20, hooks: [{ url: `${r.url}/hook`, queues: ['hooked'], events: ['job.completed'] }] } },
        );
      } finally {
        r.server.close();
      }
    });

    test('alert.firing reaches a hook subscribed to it: one delivery per rule even when two rules fire on a queue in one tick', async () => {
      const r = await receiver();
      try {
        await withServer(
          maker,
          async ({ client }) => {
            await client.queue('pile').addBulk([1, 2, 3].map((n) => ({ name: 'p', payload: { n } })));
            await waitFor(() => (r.received.filter((x) => x.path === '/alerts').length >= 2 ? true : null), 'two alert deliveries');
            await new Promise((res) => setTimeout(res, 200));
            const bodies = r.received.filter((x) => x.path === '/alerts').map((x) => JSON.parse(x.body));
            assert.deepEqual(bodies.map((b) => `${b.type} ${b.event.queue} ${b.event.data.rule}`).sort(), ['alert.firing pile pile-any', 'alert.firing pile pile-big']);
            assert.equal(bodies[0].event.data.kind, 'backlog');
            assert.equal(bodies[0].event.data.value, 3);
          },
          {
            alerts: { builtin: false, intervalMs: 50, rules: [{ name: 'pile-big', kind: 'backlog', queue: 'pile', threshold: 1 }, { name: 'pile-any', kind: 'backlog', queue: 'pile', threshold: 0 }] },
            webhooks: { secret: SECRET, sweepMs: 100, retryDelayMs: 20, hooks: [{ url: `${r.url}/alerts`, events: ['alert.firing', 'alert.resolved'] }] },
          },
        );
      } finally {
        r.server.close();
      }
    });

    test('a sweep between parking a callback and inserting its job does not drop the callback', async () => {
      const r = await receiver();
      try {
        await withServer(
          maker,
          async ({ server, client }) => {
            const webhooks = (server as unknown as { context: { webhooks: { park(c: Array<{ jobId: string; url: string }>): Promise<void>; sweep(): Promise<void> } } }).context.webhooks;
            await webhooks.park([{ jobId: 'raced-job', url: `${r.url}/raced` }]);
            await webhooks.sweep(); // the job does not exist yet: not an orphan within the grace period
            assert.equal((await client.getJob('cb:raced-job'))?.state, 'scheduled', 'still parked');
            await client.queue('race').add('x', {}, { id: 'raced-job' });
            const worker = client.queue('race').process(async () => 'ok');
            const hit = await waitFor(() => r.received.find((x) => x.path === '/raced'), 'the callback');
            assert.equal(JSON.parse(hit.body).job.id, 'raced-job');
            await worker.close();
          },
          { webhooks: { secret: SECRET, sweepMs: 60_000 } },
        );
      } finally {
        r.server.close();
      }
    });

    test('a callback whose job finished while no server watched is delivered by the next server; bad callbacks are 400', async () => {
      const r = await receiver();
      try {
        await withServer(
          maker,
          async ({ app, client, server }) => {
            const { body } = await call(app, 'POST', '/api/v1/queues/late/jobs', { name: 'x', callbackUrl: `${r.url}/late` });
            await server.stop();
            const worker = client.queue('late').process(async () => 'finished unobserved');
            await waitFor(async () => (await client.getJob(body.id))?.state === 'completed', 'the job done');
            await worker.close();
            assert.equal(r.received.length, 0);
            const logs: string[] = [];
            const stream = new Writable({ write: (chunk, _e, done) => (logs.push(String(chunk)), done()) });
            const next = new SpindleServer(client, { port: 0, logger: { level: 'warn', stream }, webhooks: { secret: SECRET, sweepMs: 100, retryDelayMs: 20 } });
            await next.app();
            try {
              const late = await waitFor(() => r.received.find((x) => x.path === '/late'), 'the swept callback', 20_000).catch(async (err: Error) => {
                const delivery = await client.getJob(`cb:${body.id}`);
                throw new Error(`${err.message}; delivery: ${JSON.stringify(delivery && { state: delivery.state, attempt: delivery.attempt, errors: delivery.errors })}; logs: ${logs.join('')}`);
              });
              assert.equal(JSON.parse(late.body).job.result, 'finished unobserved');
              const app2 = await next.app();
              const ftp = await call(app2, 'POST', '/api/v1/queues/late/jobs', { name: 'x', callbackUrl: 'ftp://example.com/x' });
              assert.equal(ftp.status, 400);
            } finally {
              await next.stop();
            }
          },
          { webhooks: { secret: SECRET, sweepMs: 100 } },
        );
        await withServer(maker, async ({ app, client }) => {
          const res = await call(app, 'POST', '/api/v1/queues/nohooks/jobs', { name: 'x', callbackUrl: `${r.url}/x` });
          assert.equal(res.status, 400);
          assert.equal(res.body.code, 'webhooks_not_configured');
          assert.deepEqual(await client.counts({ queue: 'nohooks' }), {});
        });
      } finally {
        r.server.close();
      }
    });
  });
}
