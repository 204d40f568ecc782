/**
 * Server-Sent Events end to end over a real port, on both backends: live job events with ids,
 * resume with Last-Event-ID after a disconnect (missed events replayed in order), a `reset` for
 * an id the buffer no longer holds, heartbeats, and the one-job stream with its snapshot.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKENDS, withServer } from './harness.js';
import { SseStream } from './sse-client.js';

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);

for (const maker of BACKENDS) {
  describe(`${maker.name}: SSE`, () => {
    test('events of a queue arrive live with ids; a reconnect with Last-Event-ID gets exactly the missed ones, in order', () =>
      withServer(
        maker,
        async ({ server, client }) => {
          const base = await server.start();
          const live = new SseStream(`${base}/api/v1/events?queue=sse`);
          await live.until((s) => s.status === 200, 'the stream to open');
          assert.equal(live.headers?.get('content-type'), 'text/event-stream; charset=utf-8');
          const first = await post(base, '/api/v1/queues/sse/jobs', { name: 'one' });
          await post(base, '/api/v1/queues/other/jobs', { name: 'elsewhere' });
          await live.until((s) => s.events.some((e) => e.event === 'job.added'), 'job.added');
          const added = live.events.find((e) => e.event === 'job.added')!;
          assert.equal(added.data.jobId, first.id);
          assert.equal(added.data.queue, 'sse');
          assert.equal(added.id, added.data.id);
          assert.ok(live.events.every((e) => e.data.queue === 'sse'), 'the queue filter holds');

          const worker = client.queue('sse').process(async () => 'done', { concurrency: 1 });
          await live.until((s) => s.events.some((e) => e.event === 'job.completed'), 'job.completed');
          assert.ok(live.events.some((e) => e.event === 'job.started'));
          await worker.close();
          const lastSeen = live.events.at(-1)!.id!;
          await live.close();

          const missed = [];
          for (const name of ['m1', 'm2', 'm3']) missed.push((await post(base, '/api/v1/queues/sse/jobs', { name })).id);
          const resumed = new SseStream(`${base}/api/v1/events?queue=sse`, { 'last-event-id': lastSeen });
          await resumed.until((s) => s.events.filter((e) => e.event === 'job.added').length >= 3, 'the replay');
          assert.deepEqual(resumed.events.filter((e) => e.event === 'job.added').map((e) => e.data.jobId), missed);
          assert.ok(!resumed.events.some((e) => e.event === 'reset'));
          await resumed.close();

          const stale = new SseStream(`${base}/api/v1/events?lastEventId=deadbeef.1`);
          await stale.until((s) => s.events.some((e) => e.event === 'reset'), 'a reset for an id of another run');
          await stale.until((s) => s.comments >= 1, 'a heartbeat');
          await stale.close();
        },
        { heartbeatMs: 200 },
      ));

    test('dlq.alert.fired when a queue DLQ becomes non-empty, dlq.alert.cleared when it is emptied', () =>
      withServer(
        maker,
        async ({ server }) => {
          const base = await server.start();
          const stream = new SseStream(`${base}/api/v1/events?queue=alerting`);
          await stream.until((s) => s.status === 200, 'the stream');
          await post(base, '/api/v1/queues/alerting/jobs/batch', { jobs: [{ name: 'a' }, { name: 'b' }] });
          const claimed = (await post(base, '/api/v1/queues/alerting/claim', { workerId: 'w', batch: 2 })).jobs;
          for (const j of claimed) await post(base, `/api/v1/jobs/${j.id}/fail`, { attempt: 1, leaseToken: j.leaseToken, error: { message: 'x' }, permanent: true });
          await stream.until((s) => s.events.some((e) => e.event === 'dlq.alert.fired'), 'the alert');
          const fired = stream.events.filter((e) => e.event === 'dlq.alert.fired');
          assert.equal(fired.length, 1, 'one alert for the empty → non-empty change');
          assert.equal(fired[0]!.data.queue, 'alerting');
          assert.ok(fired[0]!.data.data.depth >= 1);
          await post(base, '/api/v1/dlq/alerting/purge', { ids: claimed.map((j: { id: string }) => j.id) });
          await stream.until((s) => s.events.some((e) => e.event === 'dlq.alert.cleared'), 'the clearing');
          await stream.close();
        },
        { dlqAlertIntervalMs: 100 },
      ));

    test('GET /jobs/:id/events starts with a snapshot and follows that job only; an unknown job is 404', () =>
      withServer(maker, async ({ server, client }) => {
        const base = await server.start();
        const { id } = await post(base, '/api/v1/queues/one/jobs', { name: 'tracked' });
        await post(base, '/api/v1/queues/one/jobs', { name: 'noise' });
        const stream = new SseStream(`${base}/api/v1/jobs/${id}/events`);
        await stream.until((s) => s.events.length >= 1, 'the snapshot');
        assert.equal(stream.events[0]!.event, 'job.snapshot');
        assert.equal(stream.events[0]!.data.id, id);
        assert.equal(stream.events[0]!.data.status, 'queued');

        const worker = client.queue('one').process(async (job) => {
          await job.progress(50);
          return { ok: true };
        });
        await stream.until((s) => s.events.some((e) => e.event === 'job.completed'), 'completion');
        assert.ok(stream.events.some((e) => e.event === 'job.progress'));
        assert.ok(stream.events.slice(1).every((e) => e.data.jobId === id), 'only that job');
        await worker.close();
        await stream.close();

        const missing = await fetch(`${base}/api/v1/jobs/unknown-job/events`);
        assert.equal(missing.status, 404);
        assert.equal(((await missing.json()) as { code: string }).code, 'not_found');
      }));
  });
}
