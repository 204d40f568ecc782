/**
 * WebSocket push end to end over a real port, on both backends: nothing before a subscribe,
 * filtered live events after it, replay from lastEventId, bad messages answered with an error
 * (the socket stays usable), and resubscribe replacing the filter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { BACKENDS, waitFor, withServer } from './harness.js';

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);

async function open(url: string): Promise<{ socket: WebSocket; messages: any[] }> {
  const socket = new WebSocket(url);
  const messages: any[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages };
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: WebSocket`, () => {
    test('subscribe by queue, receive live events, replay from lastEventId, reject bad messages', () =>
      withServer(maker, async ({ server }) => {
        const base = await server.start();
        const wsUrl = `${base.replace('http', 'ws')}/api/v1/ws`;
        const { socket, messages } = await open(wsUrl);
        await post(base, '/api/v1/queues/ws-a/jobs', { name: 'before-subscribe' });
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(messages.length, 0, 'nothing before a subscribe');

        socket.send(JSON.stringify({ op: 'subscribe', queues: ['ws-a'] }));
        await waitFor(() => messages.some((m) => m.op === 'subscribed'), 'subscribed');
        const { id } = await post(base, '/api/v1/queues/ws-a/jobs', { name: 'live' });
        await post(base, '/api/v1/queues/ws-b/jobs', { name: 'other-queue' });
        await waitFor(() => messages.some((m) => m.op === 'event' && m.event.jobId === id), 'the live event');
        await new Promise((r) => setTimeout(r, 100));
        const events = messages.filter((m) => m.op === 'event').map((m) => m.event);
        assert.ok(events.every((e) => e.queue === 'ws-a'), 'filtered by queue');
        assert.equal(events[0].type, 'job.added');
        const lastId = events.at(-1).id;

        socket.send('not json');
        socket.send(JSON.stringify({ op: 'subscribe', queues: ['../bad'] }));
        await waitFor(() => messages.filter((m) => m.op === 'error').length === 2, 'two error replies');
        socket.send(JSON.stringify({ op: 'ping' }));
        await waitFor(() => messages.some((m) => m.op === 'pong'), 'pong: still usable');
        socket.close();

        const missed = (await post(base, '/api/v1/queues/ws-a/jobs', { name: 'missed' })).id;
        const second = await open(wsUrl);
        second.socket.send(JSON.stringify({ op: 'subscribe', queues: ['ws-a'], lastEventId: lastId }));
        await waitFor(() => second.messages.some((m) => m.op === 'event' && m.event.jobId === missed), 'the replayed event');
        assert.ok(!second.messages.some((m) => m.op === 'reset'));
        second.socket.send(JSON.stringify({ op: 'subscribe', jobs: ['no-such-job'] }));
        await waitFor(() => second.messages.filter((m) => m.op === 'subscribed').length === 2, 'resubscribed');
        const count = second.messages.length;
        await post(base, '/api/v1/queues/ws-a/jobs', { name: 'not-for-this-filter' });
        await new Promise((r) => setTimeout(r, 150));
        assert.equal(second.messages.length, count, 'the new filter replaced the old one');
        second.socket.close();
      }));
  });
}
