/**
 * `POST /api/v1/flows` through `inject`, on SQLite and PostgreSQL: the tree of ids (201), the
 * parent's view with its children, a duplicate root (200), an invalid tree (400 naming the
 * node, nothing written), a key limited to some queues (404 for a flow naming another one),
 * and the route in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const admin = generateApiKey('admin', [{ queues: ['*'], actions: ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] }]);
const videoOnly = generateApiKey('video', [{ queues: ['video'], actions: ['enqueue', 'read'] }]);
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const flow = {
  queue: 'notify',
  name: 'notify',
  payload: { videoId: 'v1' },
  opts: { id: 'notify-v1' },
  children: [
    { queue: 'video', name: 'transcode_720p', payload: { height: 720 } },
    { queue: 'video', name: 'thumbnail', payload: {} },
    { queue: 'moderation', name: 'moderation', payload: {}, opts: { priority: 'high' } },
  ],
};

for (const maker of BACKENDS) {
  describe(`${maker.name}: flow routes`, () => {
    test('POST /flows: 201 with the tree; the parent waits and lists its children; a worker run releases it', () =>
      withServer(maker, async ({ app, client }) => {
        const res = await call(app, 'POST', '/api/v1/flows', flow);
        assert.equal(res.status, 201, res.raw);
        assert.equal(res.body.id, 'notify-v1');
        assert.equal(res.body.status, 'waiting');
        assert.equal(res.body.duplicate, false);
        assert.deepEqual(res.body.children.map((c: { name: string; status: string }) => [c.name, c.status]), [
          ['transcode_720p', 'queued'],
          ['thumbnail', 'queued'],
          ['moderation', 'queued'],
        ]);
        const parent = await call(app, 'GET', '/api/v1/jobs/notify-v1');
        assert.equal(parent.body.status, 'waiting');
        assert.equal(parent.body.pendingChildren, 3);
        assert.equal(parent.body.onChildFailure, 'fail');
        assert.deepEqual(parent.body.children.map((c: { id: string }) => c.id), res.body.children.map((c: { id: string }) => c.id));
        const child = await call(app, 'GET', `/api/v1/jobs/${res.body.children[2].id}`);
        assert.equal(child.body.parentId, 'notify-v1');
        assert.equal(child.body.children, undefined);
        const listed = await call(app, 'GET', '/api/v1/jobs?parentId=notify-v1&order=oldest');
        assert.equal(listed.body.jobs.length, 3);

        client.queue('video').process(async () => 'done');
        client.queue('moderation').process(async () => 'ok');
        await waitFor(async () => (await client.getJob('notify-v1'))?.state === 'queued', 'the parent queued');

        const again = await call(app, 'POST', '/api/v1/flows', flow);
        assert.equal(again.status, 200);
        assert.equal(again.body.duplicate, true);
        assert.deepEqual(again.body.children, []);
      }));

    test('an invalid tree is a 400 naming the node, and writes nothing', () =>
      withServer(maker, async ({ app, client }) => {
        const shape = await call(app, 'POST', '/api/v1/flows', { ...flow, children: [{ queue: 'video', name: 'x', colour: 'red' }] });
        assert.equal(shape.status, 400);
        const deep = await call(app, 'POST', '/api/v1/flows', {
          ...flow,
          children: [{ queue: 'video', name: 'x' }, { queue: 'video', name: 'y', opts: { id: 'child-id' } }],
        });
        assert.equal(deep.status, 400, deep.raw);
        assert.equal(deep.body.code, 'validation_failed');
        assert.deepEqual(deep.body.issues.map((i: { path: string }) => i.path), ['body.children[1].opts.id']);
        assert.deepEqual((await client.listJobs({})).jobs, []);
      }));

    test('a key must be allowed to enqueue into every queue of the flow', () =>
      withServer(
        maker,
        async ({ app, client }) => {
          const denied = await call(app, 'POST', '/api/v1/flows', flow, bearer(videoOnly.key));
          assert.equal(denied.status, 404);
          assert.deepEqual((await client.listJobs({})).jobs, []);
          const allowed = await call(app, 'POST', '/api/v1/flows', { queue: 'video', name: 'p', children: [{ queue: 'video', name: 'c' }] }, bearer(videoOnly.key));
          assert.equal(allowed.status, 201);
          const doc = await call(app, 'GET', '/openapi.json');
          assert.ok(doc.body.paths['/api/v1/flows']?.post, 'documented in OpenAPI');
        },
        { auth: { keys: [admin.record, videoOnly.record] } },
      ));
  });
}
