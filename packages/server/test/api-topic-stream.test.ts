/**
 * The topic SSE stream resumes, on both backends: every event's id is the stream's position
 * (`p<partition>:<next offset>,…`), a data-less first event gives the position at open, and a
 * reconnect with `Last-Event-ID` (or `?lastEventId=`) gets exactly the messages after it — none
 * repeated, none skipped; a malformed id is a 400 problem.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';
import { SseStream } from './sse-client.js';

const T = '/api/v1/topics';

/** The stream's first block (`retry:` and the position at open), then the connection is closed. */
async function firstBlock(url: string): Promise<string> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  assert.equal(res.status, 200);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes('\n\n')) break;
  }
  abort.abort();
  return text.slice(0, text.indexOf('\n\n'));
}

const positions = (id: string) => new Map(id.split(',').map((pair) => pair.slice(1).split(':').map(Number) as [number, number]));

for (const maker of BACKENDS) {
  describe(`${maker.name}: topic stream resume`, () => {
    test('ids carry every partition position; Last-Event-ID or lastEventId resumes after the last message seen', () =>
      withServer(maker, async ({ app, client }) => {
        await client.topics.create('r', { partitions: 2 });
        await client.topics.publishBatch('r', [0, 1, 2, 3, 4, 5].map((n) => ({ value: { n } })));
        await app.listen({ port: 0, host: '127.0.0.1' });
        const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}${T}/r/stream`;

        const first = new SseStream(`${base}?offset=0`);
        await first.until((s) => s.events.length === 6, 'the six messages');
        await first.close();
        for (const e of first.events) {
          assert.match(e.id!, /^p0:\d+,p1:\d+$/);
          assert.equal(positions(e.id!).get(e.data.partition), e.data.offset + 1, 'the id names the offset after the message for its partition');
        }
        const last = first.events.at(-1)!.id!;
        assert.deepEqual([...positions(last)], [[0, 3], [1, 3]]);

        // A client that saw only the first three events reconnects (to the same URL, with offset=0):
        // the id wins over `offset`, and the other three come, none twice.
        const seen = first.events.slice(0, 3);
        const resumed = new SseStream(`${base}?offset=0`, { 'last-event-id': seen.at(-1)!.id! });
        await resumed.until((s) => s.events.length === 3, 'the three not seen');
        await new Promise((r) => setTimeout(r, 200));
        await resumed.close();
        const key = (e: { data: { partition: number; offset: number } }) => `${e.data.partition}:${e.data.offset}`;
        assert.deepEqual(
          [...seen, ...resumed.events].map(key).sort(),
          first.events.map(key).sort(),
          'resumed: every message once',
        );

        // The query parameter (EventSource polyfills): only what was published since.
        await client.topics.publishBatch('r', [{ value: { n: 6 } }, { value: { n: 7 } }]);
        const polyfill = new SseStream(`${base}?lastEventId=${encodeURIComponent(last)}`);
        await polyfill.until((s) => s.events.length === 2, 'the two new messages');
        await polyfill.close();
        assert.deepEqual(polyfill.events.map((e) => e.data.value.n).sort(), [6, 7]);

        // A stream that sent nothing yet still has a position: its first, data-less event.
        const open = await firstBlock(base);
        assert.match(open, /^retry: 2000\nid: p0:4,p1:4$/);
        await client.topics.publish('r', { value: { n: 8 } });
        const gapless = new SseStream(base, { 'last-event-id': open.split('id: ')[1]! });
        await gapless.until((s) => s.events.length === 1, 'the message published while disconnected');
        await gapless.close();
        assert.equal(gapless.events[0]!.data.value.n, 8);

        // One partition: its id names only it.
        const one = new SseStream(`${base}?partition=1&lastEventId=p1:3`);
        await one.until((s) => s.events.length === 1, 'partition 1 from offset 3');
        await one.close();
        assert.equal(one.events[0]!.id, `p1:${one.events[0]!.data.offset + 1}`);
      }));

    test('a malformed Last-Event-ID or lastEventId is a 400 problem', () =>
      withServer(maker, async ({ app, client }) => {
        await client.topics.create('r', { partitions: 2 });
        const cases: Array<[string, Record<string, string>, RegExp]> = [
          [`${T}/r/stream`, { 'last-event-id': 'garbage' }, /Last-Event-ID: must be an event id of this stream/],
          [`${T}/r/stream`, { 'last-event-id': '0:5' }, /Last-Event-ID: must be an event id/],
          [`${T}/r/stream`, { 'last-event-id': 'p0:1,p0:2' }, /names partition 0 twice/],
          [`${T}/r/stream`, { 'last-event-id': 'p0:1,p7:2' }, /names partition 7, which this stream does not send/],
          [`${T}/r/stream?partition=0`, { 'last-event-id': 'p1:3' }, /names partition 1/],
          [`${T}/r/stream`, { 'last-event-id': 'p0:-1' }, /must be an event id/],
          [`${T}/r/stream?lastEventId=p0:1;p1:2`, {}, /lastEventId: must be an event id/],
          [`${T}/r/stream?lastEventId=${'p0:1,'.repeat(6000)}p1:1`, {}, /lastEventId: must be at most/],
        ];
        for (const [url, headers, message] of cases) {
          const res = await call(app, 'GET', url, undefined, headers);
          assert.equal(res.status, 400, `${url} ${JSON.stringify(headers)}: ${res.raw}`);
          assert.equal(res.body.code, 'validation_failed');
          assert.match(res.body.detail, message);
        }
      }));
  });
}
