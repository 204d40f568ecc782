/**
 * The Python worker of examples/python-worker (standard library only) end to end over a real
 * port, on both backends: it completes jobs with results and progress, sends a permanent error
 * to the DLQ, and a completion sent after its lease expired (and the job was rescued) is refused
 * with 409 and changes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../examples/python-worker/spindle_worker.py', import.meta.url));

async function python(args: string[]): Promise<any> {
  const { stdout } = await run('python3', [SCRIPT, ...args], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: Python HTTP worker`, () => {
    test('completes jobs with results and progress, and a permanent failure lands in the DLQ', () =>
      withServer(maker, async ({ server, app, client }) => {
        const base = await server.start();
        const { body } = await call(app, 'POST', '/api/v1/queues/py/jobs/batch', {
          jobs: [
            { name: 'echo', payload: { hello: 'world' } },
            { name: 'sleep', payload: { ms: 200, steps: 2 } },
            { name: 'fail', payload: { permanent: true, message: 'card declined' } },
            { name: 'unknown-kind', payload: {} },
          ],
        });
        const stats = await python(['--url', base, '--queue', 'py', '--concurrency', '2', '--once']);
        assert.deepEqual(stats, { completed: 2, failed: 2, lease_lost: 0 });
        const [echo, sleep, failed, unknown] = await Promise.all(body.jobs.map((j: { id: string }) => client.getJob(j.id)));
        assert.equal(echo?.state, 'completed');
        assert.deepEqual(echo?.result, { echo: { hello: 'world' } });
        assert.equal(sleep?.state, 'completed');
        assert.equal(sleep?.progress, 100);
        assert.equal(failed?.state, 'dead');
        assert.equal(failed?.failureReason, 'PermanentError: card declined');
        assert.equal(unknown?.state, 'dead', 'no handler: permanent');
        assert.match(echo!.workerId!, /^http:/);
      }));

    test('a completion after the lease expired and the job was rescued is refused with 409', () =>
      withServer(maker, async ({ server, app, client }) => {
        const base = await server.start();
        const { body } = await call(app, 'POST', '/api/v1/queues/stale/jobs', { name: 'echo', payload: {} });
        const outcome = await python(['stale-demo', '--url', base, '--queue', 'stale']);
        assert.deepEqual(outcome, { claimed: true, id: body.id, late_completion: 'refused', status: 409 });
        const job = await waitFor(() => client.getJob(body.id), 'the job');
        assert.notEqual(job.state, 'completed', 'the late completion changed nothing');
        assert.equal(job.errors[0]?.kind, 'lease_expired');
        assert.equal(job.result, null);
      }));
  });
}
