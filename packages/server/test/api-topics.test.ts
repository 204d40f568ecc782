/**
 * Topic routes on both backends: create (201/200), list, read with per-partition offsets, grow;
 * publish (keys, idempotency) and read a partition; a long-poll answered by a publish; 416 with
 * the range; consumer groups over HTTP (join, heartbeat, commit with a stale generation refused,
 * leave, list, read, seek); the SSE stream; bad input → 400 with nothing written; unknown topic
 * → 404; topic access by name; the routes in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, withServer } from './harness.js';

const T = '/api/v1/topics';

for (const maker of BACKENDS) {
  describe(`${maker.name}: topic routes`, () => {
    test('create, list, get, grow; publish and read a partition; 404 and 416', () =>
      withServer(maker, async ({ app, client }) => {
        const created = await call(app, 'POST', T, { name: 'orders', partitions: 2, retention: { maxAgeMs: 86_400_000 } });
        assert.equal(created.status, 201, created.raw);
        assert.deepEqual([created.body.name, created.body.partitions, created.body.retention], ['orders', 2, { maxAgeMs: 86_400_000, maxBytes: null }]);
        assert.deepEqual(created.body.offsets, [
          { partition: 0, startOffset: 0, highWater: 0 },
          { partition: 1, startOffset: 0, highWater: 0 },
        ]);
        const again = await call(app, 'POST', T, { name: 'orders', partitions: 5 });
        assert.deepEqual([again.status, again.body.partitions], [200, 2], 'an existing topic is left as it is');
        assert.equal((await call(app, 'POST', T, { name: 'audit' })).body.partitions, 1);
        const list = await call(app, 'GET', T);
        assert.deepEqual(list.body.topics.map((t: { name: string }) => t.name), ['audit', 'orders']);

        const published = await call(app, 'POST', `${T}/orders/messages`, {
          messages: [
            { key: 'k1', value: { n: 1 }, headers: { source: 'test' } },
            { key: 'k1', value: { n: 2 }, idempotencyKey: 'once' },
            { value: 'plain' },
          ],
        });
        assert.equal(published.status, 201, published.raw);
        const [a, b] = published.body.messages;
        assert.equal(a.partition, b.partition, 'one key, one partition');
        assert.deepEqual([a.offset, b.offset, a.duplicate, b.duplicate], [0, 1, false, false]);
        const dup = await call(app, 'POST', `${T}/orders/messages`, { messages: [{ key: 'k1', value: { n: 2 }, idempotencyKey: 'once' }] });
        assert.deepEqual(dup.body.messages, [{ partition: a.partition, offset: 1, duplicate: true }]);

        const read = await call(app, 'GET', `${T}/orders/partitions/${a.partition}/messages?offset=0&limit=1`);
        assert.equal(read.status, 200, read.raw);
        assert.deepEqual(read.body.messages.map((m: { value: unknown }) => m.value), [{ n: 1 }]);
        assert.deepEqual([read.body.messages[0].key, read.body.messages[0].headers, read.body.messages[0].offset], ['k1', { source: 'test' }, 0]);
        assert.match(read.body.messages[0].publishedAt, /Z$/);
        assert.equal(read.body.startOffset, 0);
        const all = await call(app, 'GET', `${T}/orders/partitions/${a.partition}/messages`);
        assert.equal(all.body.messages.length, all.body.highWater, 'default: from startOffset');

        const one = await call(app, 'GET', `${T}/orders`);
        assert.equal(one.status, 200);
        assert.equal(one.body.offsets.reduce((s: number, o: { highWater: number }) => s + o.highWater, 0), 3);

        const out = await call(app, 'GET', `${T}/orders/partitions/${a.partition}/messages?offset=99`);
        assert.equal(out.status, 416, out.raw);
        assert.equal(out.body.code, 'offset_out_of_range');
        assert.deepEqual([out.body.startOffset, out.body.highWater], [0, all.body.highWater]);
        assert.match(String(out.headers['content-type']), /application\/problem\+json/);

        const grown = await call(app, 'POST', `${T}/orders/grow`, { partitions: 4 });
        assert.deepEqual([grown.status, grown.body.partitions, grown.body.offsets.length], [200, 4, 4]);
        assert.equal((await call(app, 'POST', `${T}/orders/grow`, { partitions: 3 })).status, 400, 'never fewer');

        for (const [method, url, body] of [
          ['GET', `${T}/nope`],
          ['POST', `${T}/nope/grow`, { partitions: 2 }],
          ['POST', `${T}/nope/messages`, { messages: [{ value: 1 }] }],
          ['GET', `${T}/nope/partitions/0/messages?offset=0`],
          ['GET', `${T}/nope/groups`],
          ['GET', `${T}/nope/groups/g`],
          ['POST', `${T}/nope/groups/g/members`, { memberId: 'm' }],
          ['POST', `${T}/nope/groups/g/seek`, { to: 'earliest' }],
          ['GET', `${T}/nope/stream`],
        ] as Array<[string, string, unknown?]>) {
          const res = await call(app, method, url, body);
          assert.equal(res.status, 404, `${method} ${url}: ${res.raw}`);
          assert.equal(res.body.code, 'not_found');
        }
        assert.equal(await client.topics.get('nope'), null);
      }));

    test('bad input is a 400 problem and writes nothing', () =>
      withServer(maker, async ({ app, client }) => {
        assert.equal((await call(app, 'POST', T, { name: 't', partitions: 2 })).status, 201);
        const cases: Array<[string, string, unknown]> = [
          ['POST', T, { name: 'bad name' }],
          ['POST', T, { name: 'x', partitions: 0 }],
          ['POST', T, { name: 'x', partitions: 5000 }],
          ['POST', T, { name: 'x', retention: { maxAgeMs: -1 } }],
          ['POST', T, { name: 'x', bogus: 1 }],
          ['POST', `${T}/t/grow`, { partitions: 'many' }],
          ['POST', `${T}/t/messages`, { messages: [] }],
          ['POST', `${T}/t/messages`, { messages: [{ value: 1 }, { key: '', value: 2 }] }],
          ['POST', `${T}/t/messages`, { messages: [{ value: 1 }, { key: 'k' }] }],
          ['POST', `${T}/t/messages`, { messages: [{ value: 1, headers: { a: 1 } }] }],
          ['POST', `${T}/t/messages`, { messages: [{ value: 1, extra: true }] }],
          ['GET', `${T}/t/partitions/0/messages?offset=-1`, undefined],
          ['GET', `${T}/t/partitions/0/messages?waitMs=60000`, undefined],
          ['GET', `${T}/t/partitions/7/messages?offset=0`, undefined],
          ['GET', `${T}/t/partitions/7/messages`, undefined],
          ['GET', `${T}/bad%20name`, undefined],
          ['POST', `${T}/t/groups/g/members`, { memberId: '' }],
          ['POST', `${T}/t/groups/g/members`, { memberId: 'm', sessionMs: 10 }],
          ['POST', `${T}/t/groups/g/commits`, { memberId: 'm', generation: 1, offsets: [{ partition: 0, offset: -1 }] }],
          ['POST', `${T}/t/groups/g/commits`, { memberId: 'm', generation: 1, offsets: [{ partition: 9, offset: 0 }] }],
          ['POST', `${T}/t/groups/g/seek`, { to: 'middle' }],
          ['POST', `${T}/t/groups/g/seek`, { to: { time: 'yesterday' } }],
          ['GET', `${T}/t/stream?partition=9`, undefined],
        ];
        for (const [method, url, body] of cases) {
          const res = await call(app, method, url, body);
          assert.equal(res.status, 400, `${method} ${url} ${JSON.stringify(body)}: ${res.raw}`);
          assert.equal(res.body.code, 'validation_failed');
        }
        assert.equal((await call(app, 'POST', `${T}/t/messages`, '{"messages": [')).status, 400);
        assert.deepEqual((await client.topics.list()).map((t) => [t.name, t.partitions, t.offsets.map((o) => o.highWater)]), [['t', 2, [0, 0]]], 'nothing was written');
        assert.deepEqual(await client.topics.groups('t'), [], 'no group was made');
      }));

    test('a long-poll is answered by a publish; an empty one times out', () =>
      withServer(maker, async ({ app, client }) => {
        await client.topics.create('live');
        const started = Date.now();
        const empty = await call(app, 'GET', `${T}/live/partitions/0/messages?offset=0&waitMs=300`);
        assert.deepEqual([empty.status, empty.body.messages, empty.body.highWater], [200, [], 0]);
        assert.ok(Date.now() - started >= 280, 'waited');

        const polling = call(app, 'GET', `${T}/live/partitions/0/messages?offset=0&waitMs=10000`);
        await new Promise((r) => setTimeout(r, 150));
        const t0 = Date.now();
        assert.equal((await call(app, 'POST', `${T}/live/messages`, { messages: [{ value: { hello: 1 } }] })).status, 201);
        const answered = await polling;
        assert.ok(Date.now() - t0 < 2000, 'answered by the publish, not the timeout');
        assert.deepEqual(answered.body.messages.map((m: { value: unknown }) => m.value), [{ hello: 1 }]);

        // A publish by another client (another process) is seen by the poll.
        const polling2 = call(app, 'GET', `${T}/live/partitions/0/messages?offset=1&waitMs=10000`);
        await new Promise((r) => setTimeout(r, 150));
        await client.run((b) => b.publish({ topic: 'live', messages: [{ partition: 0, key: null, value: '2', headers: null, idempotencyKey: null }] }));
        assert.deepEqual((await polling2).body.messages.map((m: { value: unknown }) => m.value), [2]);
      }));

    test('consumer groups over HTTP: join, heartbeat, commit (stale generation refused), lag, seek, leave', () =>
      withServer(maker, async ({ app }) => {
        await call(app, 'POST', T, { name: 'ev', partitions: 2 });
        const msgs = Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: i }));
        await call(app, 'POST', `${T}/ev/messages`, { messages: msgs });
        const G = `${T}/ev/groups/billing`;

        const j1 = await call(app, 'POST', `${G}/members`, { memberId: 'a', sessionMs: 30_000 });
        assert.equal(j1.status, 200, j1.raw);
        assert.deepEqual(j1.body, { generation: 1, members: ['a'], partitions: [0, 1] });
        const hw = (await call(app, 'GET', `${T}/ev`)).body.offsets.map((o: { highWater: number }) => o.highWater) as number[];

        const ok = await call(app, 'POST', `${G}/commits`, { memberId: 'a', generation: 1, offsets: [{ partition: 0, offset: hw[0] }] });
        assert.equal(ok.status, 200, ok.raw);
        assert.deepEqual(ok.body, { committed: true, outcomes: [{ partition: 0, offset: hw[0], outcome: 'ok' }] });

        const j2 = await call(app, 'POST', `${G}/members`, { memberId: 'b' });
        assert.deepEqual(j2.body, { generation: 2, members: ['a', 'b'], partitions: [1] });
        const stale = await call(app, 'POST', `${G}/commits`, { memberId: 'a', generation: 1, offsets: [{ partition: 1, offset: 1 }] });
        assert.deepEqual([stale.status, stale.body.committed, stale.body.outcomes[0].outcome], [200, false, 'stale_generation']);
        const notMine = await call(app, 'POST', `${G}/commits`, { memberId: 'a', generation: 2, offsets: [{ partition: 1, offset: 1 }] });
        assert.equal(notMine.body.outcomes[0].outcome, 'not_assigned');
        const back = await call(app, 'POST', `${G}/commits`, { memberId: 'a', generation: 2, offsets: [{ partition: 0, offset: 0 }] });
        assert.equal(back.body.outcomes[0].outcome, hw[0]! > 0 ? 'backwards' : 'ok');

        const beat = await call(app, 'POST', `${G}/members/a/heartbeat`, {});
        assert.deepEqual(beat.body, { generation: 2, members: ['a', 'b'], partitions: [0] });

        const group = await call(app, 'GET', G);
        assert.equal(group.status, 200);
        assert.deepEqual(group.body.members.map((m: { memberId: string; partitions: number[] }) => [m.memberId, m.partitions]), [['a', [0]], ['b', [1]]]);
        assert.deepEqual(group.body.offsets.map((o: { committed: number; lag: number }) => [o.committed, o.lag]), [[hw[0], 0], [0, hw[1]]]);
        assert.equal(group.body.lag, hw[1]);
        const groups = await call(app, 'GET', `${T}/ev/groups`);
        assert.deepEqual(groups.body.groups.map((g: { group: string }) => g.group), ['billing']);
        assert.equal((await call(app, 'GET', `${T}/ev/groups/other`)).status, 404);

        const latest = await call(app, 'POST', `${G}/seek`, { to: 'latest' });
        assert.equal(latest.status, 200, latest.raw);
        assert.equal(latest.body.lag, 0);
        assert.ok(latest.body.generation > 2, 'a seek makes a new generation');
        const old = await call(app, 'POST', `${G}/commits`, { memberId: 'b', generation: 2, offsets: [{ partition: 1, offset: hw[1] }] });
        assert.equal(old.body.outcomes[0].outcome, 'stale_generation', 'commits of the old positions are refused');
        const seeked = await call(app, 'POST', `${G}/seek`, { to: { offsets: { '0': 1 } } });
        assert.equal(seeked.body.offsets[0].committed, Math.min(1, hw[0]!));
        const earliest = await call(app, 'POST', `${G}/seek`, { to: { time: '2000-01-01T00:00:00Z' } });
        assert.deepEqual(earliest.body.offsets.map((o: { committed: number }) => o.committed), [0, 0]);
        assert.equal((await call(app, 'POST', `${T}/ev/groups/other/seek`, { to: 'earliest' })).status, 404, 'a group is made by a join');

        const left = await call(app, 'DELETE', `${G}/members/a`);
        assert.deepEqual([left.status, left.body], [200, { memberId: 'a', left: true }]);
        const after = await call(app, 'GET', G);
        assert.deepEqual(after.body.members.map((m: { memberId: string; partitions: number[] }) => [m.memberId, m.partitions]), [['b', [0, 1]]]);
      }));

    test('SSE stream: new messages of every partition, or a partition from an offset', () =>
      withServer(maker, async ({ app, client, server }) => {
        await client.topics.create('s', { partitions: 2 });
        await client.topics.publishBatch('s', [{ key: 'a', value: 'old' }]);
        await app.listen({ port: 0, host: '127.0.0.1' });
        const { port } = app.server.address() as AddressInfo;
        const seen: Array<{ id: string; data: { value: unknown; partition: number } }> = [];
        const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) =>
          httpRequest({ host: '127.0.0.1', port, path: `${T}/s/stream` }, resolve).on('error', reject).end(),
        );
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /text\/event-stream/);
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: (.*)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (/^event: message$/m.test(frame) && id && data) seen.push({ id, data: JSON.parse(data) });
          }
        });
        await new Promise((r) => setTimeout(r, 100));
        await call(app, 'POST', `${T}/s/messages`, { messages: [{ key: 'a', value: 'new1' }, { key: 'b', value: 'new2' }] });
        const deadline = Date.now() + 5000;
        while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen.map((e) => e.data.value).sort(), ['new1', 'new2'], 'from the highWater: the old message is not sent');
        assert.match(seen[0]!.id, /^p0:\d+,p1:\d+$/, 'the id is the position of every streamed partition (api-topic-stream.test.ts)');
        res.destroy();

        const p = (await client.topics.get('s'))!.offsets.find((o) => o.highWater === 2)!.partition;
        const replay = await new Promise<string>((resolve, reject) => {
          httpRequest({ host: '127.0.0.1', port, path: `${T}/s/stream?partition=${p}&offset=0` }, (r) => {
            let text = '';
            r.setEncoding('utf8');
            r.on('data', (c: string) => {
              text += c;
              if ((text.match(/event: message/g) ?? []).length >= 2) {
                r.destroy();
                resolve(text);
              }
            });
          })
            .on('error', reject)
            .end();
        });
        assert.match(replay, new RegExp(`id: p${p}:1\\nevent: message\\ndata: .*"old"`));
        await server.stop();
      }));

    test('access follows the topic name', () => {
      const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
      const orders = generateApiKey('orders', [{ queues: ['orders*'], actions: ['enqueue', 'read', 'work'] }]);
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
      return withServer(
        maker,
        async ({ app }) => {
          assert.equal((await call(app, 'POST', T, { name: 'orders' }, bearer(admin.key))).status, 201);
          assert.equal((await call(app, 'POST', T, { name: 'audit' }, bearer(admin.key))).status, 201);
          assert.equal((await call(app, 'POST', T, { name: 'orders.x' }, bearer(orders.key))).status, 403, 'creating needs admin');
          assert.equal((await call(app, 'POST', `${T}/orders/messages`, { messages: [{ value: 1 }] }, bearer(orders.key))).status, 201);
          assert.equal((await call(app, 'POST', `${T}/audit/messages`, { messages: [{ value: 1 }] }, bearer(orders.key))).status, 404);
          assert.equal((await call(app, 'GET', `${T}/audit`, undefined, bearer(orders.key))).status, 404);
          assert.equal((await call(app, 'GET', `${T}/orders`, undefined, bearer(orders.key))).status, 200);
          assert.equal((await call(app, 'GET', `${T}/orders/partitions/0/messages`, undefined, bearer(orders.key))).status, 403, 'messages need read-payload');
          assert.equal((await call(app, 'POST', `${T}/orders/groups/g/members`, { memberId: 'm' }, bearer(orders.key))).status, 200);
          assert.equal((await call(app, 'GET', T, undefined, bearer(orders.key))).status, 403, 'listing every topic needs a key for every name');
        },
        { auth: { keys: [admin.record, orders.record] } },
      );
    });
  });
}

describe('topic routes in the API description', () => {
  test('/openapi.json documents every topic route', () =>
    withServer(BACKENDS[0]!, async ({ app }) => {
      const paths = (await call(app, 'GET', '/openapi.json')).body.paths as Record<string, Record<string, unknown>>;
      const expected: Array<[string, string[]]> = [
        ['/api/v1/topics', ['get', 'post']],
        ['/api/v1/topics/{topic}', ['get']],
        ['/api/v1/topics/{topic}/grow', ['post']],
        ['/api/v1/topics/{topic}/messages', ['post']],
        ['/api/v1/topics/{topic}/partitions/{partition}/messages', ['get']],
        ['/api/v1/topics/{topic}/stream', ['get']],
        ['/api/v1/topics/{topic}/groups', ['get']],
        ['/api/v1/topics/{topic}/groups/{group}', ['get']],
        ['/api/v1/topics/{topic}/groups/{group}/members', ['post']],
        ['/api/v1/topics/{topic}/groups/{group}/members/{memberId}', ['delete']],
        ['/api/v1/topics/{topic}/groups/{group}/members/{memberId}/heartbeat', ['post']],
        ['/api/v1/topics/{topic}/groups/{group}/commits', ['post']],
        ['/api/v1/topics/{topic}/groups/{group}/seek', ['post']],
      ];
      for (const [path, methods] of expected) assert.deepEqual(Object.keys(paths[path] ?? {}).sort(), methods, path);
      const fetch = paths['/api/v1/topics/{topic}/partitions/{partition}/messages']!.get as { responses: Record<string, unknown> };
      assert.ok(fetch.responses['416'], '416 is documented');
    }));
});
