/**
 * Payloads never appear in logs (reliability S9): with request logging on, a canary secret sent
 * in payloads, results, bad bodies, query filters and worker errors shows up nowhere in the log
 * output, while the requests themselves are logged.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { BACKENDS, call, withServer } from './harness.js';

const CANARY = 'canary-5ecret-7f3a';

describe('logging', () => {
  test('a canary secret in payloads and errors never reaches the logs', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    await withServer(
      BACKENDS[0]!,
      async ({ app }) => {
        const { body } = await call(app, 'POST', '/api/v1/queues/log/jobs', { name: 'x', payload: { token: CANARY } });
        await call(app, 'GET', `/api/v1/jobs/${body.id}`);
        await call(app, 'POST', '/api/v1/queues/log/jobs', `{"name":"x","payload":"${CANARY}",`);
        await call(app, 'POST', '/api/v1/queues/log/jobs', { name: 'x', opts: { uniqueKey: 5, secret: CANARY } });
        const c = (await call(app, 'POST', '/api/v1/queues/log/claim', { workerId: 'w' })).body.jobs[0];
        await call(app, 'POST', `/api/v1/jobs/${c.id}/fail`, { attempt: 1, leaseToken: c.leaseToken, error: { message: `failed with ${CANARY}` } });
        await call(app, 'POST', `/api/v1/jobs/${c.id}/complete`, { attempt: 1, leaseToken: c.leaseToken, result: { echo: CANARY } });
      },
      { logger: { level: 'trace', stream } },
    );
    const text = lines.join('');
    assert.ok(text.includes('/api/v1/queues/log/jobs'), 'requests are logged');
    assert.ok(!text.includes(CANARY), 'the canary never appears');
  });
});
