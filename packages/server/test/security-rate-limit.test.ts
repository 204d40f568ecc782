/**
 * The per-key rate limit (reliability S8): the token bucket by hand (an injected clock, no
 * sleeping), its options, and a flood on both backends — one key's excess gets 429
 * `rate_limited` with `Retry-After` and writes nothing, while another key sending at the same
 * time is served in full. No timing assertions: the bound on the flooding key's successes is
 * computed from the time the flood really took. Also the connection cap (`maxConnections`).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ACTIONS, generateApiKey } from '../src/auth/api-keys.js';
import { DEFAULT_RATE_LIMIT, KeyRateLimiter } from '../src/http/rate-limit.js';
import { resolveServerOptions } from '../src/options.js';
import { SpindleServer } from '../src/index.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const flooder = generateApiKey('flooder', [{ queues: ['*'], actions: [...ACTIONS] }]);
const neighbour = generateApiKey('neighbour', [{ queues: ['*'], actions: [...ACTIONS] }]);
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('token bucket', () => {
  test('a key gets its burst, then its rate; keys do not share buckets; Retry-After counts whole seconds', () => {
    let now = 0;
    const limiter = new KeyRateLimiter({ perSecond: 2, burst: 3 }, () => now);
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0], 'the burst');
    assert.equal(limiter.take('a'), 1, 'empty: retry after 1 s');
    assert.equal(limiter.take('b'), 0, 'another key has its own bucket');
    now += 499;
    assert.equal(limiter.take('a'), 1, 'not yet a whole token back');
    now += 1;
    assert.equal(limiter.take('a'), 0, 'half a second at 2/s gives one token');
    assert.equal(limiter.take('a'), 1);
    now += 60_000;
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0, 1], 'refills to the burst, no further');
    const slow = new KeyRateLimiter({ perSecond: 1, burst: 1 }, () => now);
    assert.equal(slow.take('c'), 0);
    assert.equal(slow.take('c'), 1);
    now -= 5000; // a clock that steps back takes nothing away and gives nothing
    assert.equal(slow.take('c'), 1);
  });

  test('options: on by default (1,000/s, bursts of 2,000), false turns it off, bad values are refused', () => {
    assert.deepEqual(resolveServerOptions({}).rateLimit, DEFAULT_RATE_LIMIT);
    assert.deepEqual(DEFAULT_RATE_LIMIT, { perSecond: 1000, burst: 2000 });
    assert.equal(resolveServerOptions({ rateLimit: false }).rateLimit, null);
    assert.deepEqual(resolveServerOptions({ rateLimit: { perSecond: 5 } }).rateLimit, { perSecond: 5, burst: 2000 });
    for (const rateLimit of [{ perSecond: 0 }, { burst: -1 }, { perSecond: 1.5 }, { every: 1 }, 'fast'] as never[]) {
      assert.throws(() => resolveServerOptions({ rateLimit }), /options\.rateLimit/, JSON.stringify(rateLimit));
    }
  });
});

for (const maker of BACKENDS) {
  describe(`${maker.name}: a flood from one key`, () => {
    test('gets 429 on the excess (nothing written for those) while another key is served in full', () =>
      withServer(
        maker,
        async ({ app, client }) => {
          const limit = { perSecond: 5, burst: 40 };
          const flood = 300;
          const started = performance.now();
          const results = await Promise.all([
            ...Array.from({ length: flood }, (_, i) => call(app, 'POST', '/api/v1/queues/flood/jobs', { name: 'x', payload: { i } }, bearer(flooder.key)).then((r) => ({ who: 'flooder', r }))),
            ...Array.from({ length: 30 }, (_, i) => call(app, 'POST', '/api/v1/queues/calm/jobs', { name: 'x', payload: { i } }, bearer(neighbour.key)).then((r) => ({ who: 'neighbour', r }))),
          ]);
          const seconds = (performance.now() - started) / 1000;
          const mine = results.filter((x) => x.who === 'flooder').map((x) => x.r);
          const theirs = results.filter((x) => x.who === 'neighbour').map((x) => x.r);

          assert.ok(theirs.every((r) => r.status === 201), `the other key is served: ${theirs.map((r) => r.status).join(',')}`);
          const ok = mine.filter((r) => r.status === 201);
          const limited = mine.filter((r) => r.status === 429);
          assert.equal(ok.length + limited.length, flood, 'every answer is 201 or 429');
          assert.ok(limited.length > 0, 'the excess is refused');
          assert.ok(ok.length <= limit.burst + Math.ceil(limit.perSecond * seconds) + 1, `${ok.length} accepted in ${seconds.toFixed(2)} s`);
          for (const r of limited) {
            assert.equal(r.body.code, 'rate_limited');
            assert.match(String(r.headers['content-type']), /application\/problem\+json/);
            assert.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After in whole seconds');
          }
          assert.equal((await client.counts({ queue: 'flood' })).flood?.queued, ok.length, 'refused requests wrote nothing');
          assert.equal((await client.counts({ queue: 'calm' })).calm?.queued, 30);

          // The other key, anonymous callers and public routes are not limited by the flood.
          assert.equal((await call(app, 'GET', '/api/v1/info', undefined, bearer(neighbour.key))).status, 200);
          assert.equal((await call(app, 'GET', '/api/v1/info')).status, 401, 'no key: 401, not 429');
          assert.equal((await call(app, 'GET', '/healthz')).status, 200);
        },
        { auth: { keys: [flooder.record, neighbour.record] }, rateLimit: { perSecond: 5, burst: 40 } },
      ));
  });
}

describe('without auth', () => {
  test('an open (loopback) server has no keys and limits nothing', () =>
    withServer(
      BACKENDS[0]!,
      async ({ app }) => {
        const answers = await Promise.all(Array.from({ length: 20 }, () => call(app, 'GET', '/api/v1/info')));
        assert.ok(answers.every((r) => r.status === 200));
      },
      { rateLimit: { perSecond: 1, burst: 1 } },
    ));
});

describe('connection cap', () => {
  test('connections past maxConnections are closed at once; a freed slot serves again', () =>
    withServer(BACKENDS[0]!, async ({ client }) => {
      assert.equal(resolveServerOptions({}).maxConnections, 10_000);
      assert.throws(() => resolveServerOptions({ maxConnections: 0 }), /options\.maxConnections/);
      const server = new SpindleServer(client, { port: 0, maxConnections: 2 });
      const sockets: Socket[] = [];
      try {
        await server.start();
        const open = () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect(server.port, '127.0.0.1', () => resolve(s));
            s.on('error', reject);
            sockets.push(s);
          });
        await open();
        await open();
        const third = await open();
        third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        const answer = await new Promise<string>((resolve) => {
          let data = '';
          third.on('data', (d) => (data += String(d)));
          third.on('close', () => resolve(data));
          third.on('error', () => resolve(data));
        });
        assert.equal(answer, '', 'the third connection is closed without an answer');
        sockets[0]!.destroy();
        await waitFor(async () => (await fetch(`http://127.0.0.1:${server.port}/healthz`).then((r) => r.status).catch(() => 0)) === 200, 'a freed slot to serve');
      } finally {
        for (const s of sockets) s.destroy();
        await server.stop();
      }
    }));
});
