/**
 * Topic wake-ups across processes (ADR 0017, "Wake-ups"): a consumer in another client on the
 * same database — another backend instance, which on SQLite is another process for the outbox —
 * handles a publish within moments although its poll is a minute away; topic events never reach
 * job and queue listeners (`client.on('event')`, which the server's SSE, WebSocket and webhook
 * feeds follow); and a client follows topic events only while someone waits for a publish.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Client } from '@spindle/core';
import { makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the backend hears other processes' events (PostgreSQL: LISTEN is up). */
async function listening(backend: Backend): Promise<void> {
  const b = backend as Backend & { whenListening?: () => Promise<void> };
  if (typeof b.whenListening === 'function') await b.whenListening();
}

export function topicWakeupTests(factory: BackendFactory): void {
  describe(`${factory.name}: topic wake-ups`, () => {
    it('a consumer of another client on the same database is woken by a publish at once, not at its poll; job listeners see no topic event', { timeout: 30_000 }, async (t) => {
      const { backend, cleanup, openAnother } = await factory.makeBackend();
      if (!openAnother) {
        t.skip('factory cannot open a second instance');
        await cleanup();
        return;
      }
      const other = await openAnother();
      const producer = makeClient(backend);
      const observer = makeClient(other, { maintenance: false });
      const events: Record<string, string[]> = { producer: [], observer: [] };
      const watch = (name: string, client: Client) => client.on('event', (e) => events[name]!.push(`${e.type}:${e.queue}`));
      try {
        watch('producer', producer);
        watch('observer', observer);
        await producer.topics.create('wake', { partitions: 2 });
        await observer.start();
        await listening(other);
        const got: Array<{ n: number; ms: number }> = [];
        const sent = new Map<number, number>();
        const c = observer.topics.consumer<{ n: number }>('wake', 'far', { pollMs: 60_000, start: 'latest' });
        await c.run({ eachMessage: (m) => void got.push({ n: m.value.n, ms: Date.now() - sent.get(m.value.n)! }) });
        assert.equal(observer.topics.followingPublishes, true, 'a running consumer makes its client follow topic events');
        // Both partition loops fetch once (nothing yet), then wait for a wake-up or their minute.
        await waitFor(() => c.owned?.partitions.length === 2, 'the consumer owns both partitions');
        await sleep(300);
        for (let n = 0; n < 4; n++) {
          sent.set(n, Date.now());
          if (n % 2 === 0) await producer.topics.publish('wake', { value: { n } });
          else await producer.topics.publishBatch('wake', [{ value: { n } }, { value: { n: 100 + n } }]);
          await waitFor(() => got.some((g) => g.n === n), `message ${n} handled by the other client`, 2000);
          // Let both loops commit and go back to waiting: a wake-up arriving between a loop's empty
          // fetch and its wait is missed (consumer.ts), and the next poll is a minute away.
          await waitFor(async () => (await observer.topics.group('wake', 'far'))!.offsets.every((o) => o.lag === 0), 'everything committed', 2000);
          await sleep(100);
        }
        assert.ok(got.every((g) => g.n >= 100 || g.ms < 2000), `each within 2 s of its publish: ${JSON.stringify(got)}`);

        // A job's events still flow both ways; no listener of job and queue events saw a topic event.
        const { id } = await producer.queue('after-topics').add('x', {});
        await waitFor(() => events.observer!.includes('added:after-topics'), `the job's added event reached the other client (${id})`);
        for (const [name, seen] of Object.entries(events)) {
          assert.ok(seen.every((e) => !e.startsWith('published')), `${name} saw no topic event: ${seen.join(' ')}`);
        }
        await c.stop();
        assert.equal(observer.topics.followingPublishes, false, 'no consumer left: no longer following');
      } finally {
        await producer.close({ graceMs: 100 });
        await observer.close();
        await other.close();
        await cleanup();
      }
    });

    it("a client's own publish wakes its idle consumer once, not once more when its topic event comes back", () =>
      withClient(factory, async (client) => {
        await client.topics.create('once', { partitions: 1 });
        let wakes = 0;
        const count = () => void (wakes += 1);
        client.topics.local.on('published:once', count);
        await client.topics.publish('once', { value: 1 });
        await client.topics.publishBatch('once', [{ value: 2 }, { value: 3 }]);
        await client.topics.publish('once', { value: 4, idempotencyKey: 'k' });
        await client.topics.publish('once', { value: 4, idempotencyKey: 'k' }); // a duplicate: stores nothing
        await sleep(200);
        assert.equal(wakes, 4, 'one wake-up per publish call');
        client.topics.local.off('published:once', count);
        assert.equal(client.topics.followingPublishes, false);
      }));
  });
}
