/**
 * Schedule routes on both backends: define (PUT 201/200), read one (with upcoming runs) and the
 * list, pause/resume, run now, delete; the leader firing a defined schedule; bad input → 400 with
 * nothing changed; access by the schedule's queue; the routes in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import type { App } from '../src/index.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const put = (app: App, name: string, body: unknown, headers?: Record<string, string>) => call(app, 'PUT', `/api/v1/schedules/${name}`, body, headers);

for (const maker of BACKENDS) {
  describe(`${maker.name}: schedule routes`, () => {
    test('define, read, list, pause, resume, run now and delete; the leader fires it', () =>
      withServer(maker, async ({ app, client }) => {
        const created = await put(app, 'digest', { cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', queue: 'mail', payload: { kind: 'digest' }, jobOptions: { priority: 'high' } });
        assert.equal(created.status, 201, created.raw);
        assert.deepEqual(
          [created.body.name, created.body.cron, created.body.everyMs, created.body.timezone, created.body.queue, created.body.jobName, created.body.payload, created.body.jobOptions, created.body.paused, created.body.version],
          ['digest', '0 9 * * 1-5', null, 'Europe/Berlin', 'mail', 'digest', { kind: 'digest' }, { priority: 'high' }, false, 1],
        );
        assert.match(created.body.nextRunAt, /T0[78]:00:00\.000Z$/);
        const again = await put(app, 'digest', { cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', queue: 'mail', payload: { kind: 'digest' }, jobOptions: { priority: 'high' } });
        assert.deepEqual([again.status, again.body.version, again.body.nextRunAt], [200, 1, created.body.nextRunAt]);

        const one = await call(app, 'GET', '/api/v1/schedules/digest');
        assert.equal(one.status, 200);
        assert.equal(one.body.upcoming.length, 5);
        assert.equal(one.body.upcoming[0], created.body.nextRunAt);
        assert.equal((await call(app, 'GET', '/api/v1/schedules/nope')).status, 404);

        await put(app, 'beat', { everyMs: 1000, queue: 'ticks', backfill: 2 });
        const list = await call(app, 'GET', '/api/v1/schedules');
        assert.deepEqual(list.body.schedules.map((s: { name: string }) => s.name), ['beat', 'digest']);
        assert.equal(list.body.nextCursor, null);
        const page = await call(app, 'GET', '/api/v1/schedules?limit=1');
        assert.deepEqual([page.body.schedules.map((s: { name: string }) => s.name), page.body.nextCursor], [['beat'], 'beat']);
        const next = await call(app, 'GET', '/api/v1/schedules?limit=1&after=beat');
        assert.deepEqual(next.body.schedules.map((s: { name: string }) => s.name), ['digest']);
        assert.deepEqual((await call(app, 'GET', '/api/v1/schedules?queue=ticks')).body.schedules.map((s: { name: string }) => s.name), ['beat']);

        const ticked = await waitFor(async () => {
          const jobs = (await call(app, 'GET', '/api/v1/jobs?queue=ticks')).body.jobs as Array<{ id: string }>;
          return jobs.length > 0 ? jobs : null;
        }, 'the leader fires the interval schedule', 10_000);
        assert.match(ticked[0]!.id, /^schedule:beat:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);

        const paused = await call(app, 'POST', '/api/v1/schedules/beat/pause');
        assert.deepEqual([paused.status, paused.body.paused, paused.body.nextRunAt], [200, true, null]);
        const run = await call(app, 'POST', '/api/v1/schedules/beat/run');
        assert.equal(run.status, 201);
        assert.deepEqual([run.body.status, run.body.duplicate], ['queued', false]);
        assert.doesNotMatch(run.body.id, /^schedule:/);
        assert.equal((await call(app, 'GET', '/api/v1/schedules/beat')).body.nextRunAt, null, 'run now is not a tick');
        const resumed = await call(app, 'POST', '/api/v1/schedules/beat/resume');
        assert.deepEqual([resumed.status, resumed.body.paused], [200, false]);
        assert.ok(Date.parse(resumed.body.nextRunAt) > Date.now() - 1000);

        const removed = await call(app, 'DELETE', '/api/v1/schedules/beat');
        assert.deepEqual([removed.status, removed.body], [200, { name: 'beat', removed: true }]);
        assert.equal((await call(app, 'DELETE', '/api/v1/schedules/beat')).status, 404);
        for (const action of ['pause', 'resume', 'run']) assert.equal((await call(app, 'POST', `/api/v1/schedules/beat/${action}`)).status, 404, action);
        assert.equal(await client.schedules.get('beat'), null);
      }));

    test('bad input is a 400 problem and changes nothing', () =>
      withServer(maker, async ({ app, client }) => {
        const good = { everyMs: 60_000, queue: 'q', payload: { v: 1 } };
        assert.equal((await put(app, 'kept', good)).status, 201);
        const before = await client.schedules.get('kept');
        const cases: Array<[string, unknown, RegExp]> = [
          ['kept', { queue: 'q' }, /cron or everyMs/],
          ['kept', { cron: '* * * * *', everyMs: 60_000, queue: 'q' }, /cron or everyMs/],
          ['kept', { cron: 'every morning', queue: 'q' }, /spec\.cron/],
          ['kept', { cron: '61 * * * *', queue: 'q' }, /spec\.cron/],
          ['kept', { cron: '* * * * *', timezone: 'Mars/Olympus', queue: 'q' }, /spec\.timezone/],
          ['kept', { everyMs: 60_000, timezone: 'UTC', queue: 'q' }, /spec\.timezone/],
          ['kept', { everyMs: 500, queue: 'q' }, /everyMs/],
          ['kept', { everyMs: 60_000, queue: 'q', bogus: 1 }, /bogus|unrecognized/i],
          ['kept', { everyMs: 60_000, queue: 'q', jobOptions: { id: 'fixed' } }, /jobOptions|unrecognized/i],
          ['kept', { everyMs: 60_000, queue: 'q', jobOptions: { priority: 'urgent' } }, /priority/],
          ['kept', { everyMs: 60_000, queue: 'q', backfill: 5000 }, /backfill/],
          ['kept', { everyMs: 60_000, queue: 'bad queue' }, /queue/],
          ['kept', { everyMs: 60_000 }, /queue/],
          ['bad%20name', good, /name/],
        ];
        for (const [name, body, detail] of cases) {
          const res = await put(app, name, body);
          assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.raw}`);
          assert.equal(res.body.code, 'validation_failed');
          assert.match(String(res.headers['content-type']), /application\/problem\+json/);
          assert.match(`${res.body.detail} ${JSON.stringify(res.body.issues ?? [])}`, detail, JSON.stringify(body));
        }
        assert.equal((await call(app, 'PUT', '/api/v1/schedules/kept', '{"everyMs": 60000,')).status, 400);
        assert.equal((await call(app, 'GET', '/api/v1/schedules?limit=0')).status, 400);
        assert.equal((await call(app, 'GET', '/api/v1/schedules?queue=a%20b')).status, 400);
        assert.equal((await call(app, 'POST', '/api/v1/schedules/bad%20name/pause')).status, 400);
        assert.deepEqual(await client.schedules.get('kept'), before, 'the schedule is unchanged');
        assert.deepEqual((await client.schedules.list()).map((s) => s.name), ['kept'], 'nothing was created');
      }));

    test('access follows the schedule queue: 404 for another queue, payload only with read-payload', () => {
      const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
      const mail = generateApiKey('mail', [{ queues: ['mail'], actions: ['read', 'admin', 'enqueue'] }]);
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
      return withServer(
        maker,
        async ({ app }) => {
          assert.equal((await put(app, 'orders-sync', { everyMs: 60_000, queue: 'orders', payload: { s: 1 } }, bearer(admin.key))).status, 201);
          assert.equal((await put(app, 'mail-digest', { everyMs: 60_000, queue: 'mail', payload: { s: 2 } }, bearer(mail.key))).status, 201);
          assert.equal((await call(app, 'GET', '/api/v1/schedules/orders-sync', undefined, bearer(mail.key))).status, 404);
          assert.equal((await call(app, 'POST', '/api/v1/schedules/orders-sync/pause', undefined, bearer(mail.key))).status, 404);
          assert.equal((await put(app, 'orders-sync', { everyMs: 60_000, queue: 'mail' }, bearer(mail.key))).status, 404, 'cannot take over another queue');
          assert.equal((await put(app, 'other', { everyMs: 60_000, queue: 'orders' }, bearer(mail.key))).status, 404);
          assert.equal((await call(app, 'GET', '/api/v1/schedules', undefined, bearer(mail.key))).status, 403, 'listing every queue needs a key for every queue');
          const mine = await call(app, 'GET', '/api/v1/schedules?queue=mail', undefined, bearer(mail.key));
          assert.deepEqual(mine.body.schedules.map((s: { name: string }) => s.name), ['mail-digest']);
          assert.equal('payload' in mine.body.schedules[0], false, 'no read-payload, no payload');
          const full = await call(app, 'GET', '/api/v1/schedules/orders-sync', undefined, bearer(admin.key));
          assert.deepEqual(full.body.payload, { s: 1 });
          assert.equal((await call(app, 'GET', '/api/v1/schedules/orders-sync', undefined, bearer(admin.key))).body.queue, 'orders');
        },
        { auth: { keys: [admin.record, mail.record] } },
      );
    });
  });
}

describe('schedule routes in the API description', () => {
  test('/openapi.json documents every schedule route', () =>
    withServer(BACKENDS[0]!, async ({ app }) => {
      const spec = await call(app, 'GET', '/openapi.json');
      const paths = spec.body.paths as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(paths['/api/v1/schedules']!), ['get']);
      assert.deepEqual(Object.keys(paths['/api/v1/schedules/{name}']!).sort(), ['delete', 'get', 'put']);
      for (const action of ['pause', 'resume', 'run']) assert.ok(paths[`/api/v1/schedules/{name}/${action}`]?.post, action);
      const body = (paths['/api/v1/schedules/{name}']!.put as { requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }).requestBody;
      assert.ok(body.content['application/json']!.schema.properties.cron);
    }));
});
