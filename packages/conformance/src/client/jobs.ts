/**
 * Client-level operator actions (`client.jobs`): retry a dead job that then runs again, promote
 * a delayed job that a worker then runs at once, delete (never a running job), edit a payload
 * (validated by the queue's schema, whose output is stored), edit and retry of a finished job,
 * exact filtered counts, the client events of each, and
 * input validation that throws ValidationError and writes nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { PermanentError, ValidationError, type JobEvent } from '@spindle/core';
import { deferred, waitFor, withClient, type BackendFactory } from './harness.js';

export function jobActionTests(factory: BackendFactory): void {
  describe(`${factory.name}: client.jobs`, () => {
    it('retries a dead job: it runs again in a new round and keeps its history', () =>
      withClient(factory, async (client) => {
        const q = client.queue('flaky');
        let calls = 0;
        q.process(async () => {
          calls += 1;
          if (calls === 1) throw new PermanentError('first run fails');
          return 'second run works';
        });
        const { id } = await q.add('x', { n: 1 });
        await waitFor(async () => (await client.getJob(id))?.state === 'dead', 'dead');
        const retried: JobEvent[] = [];
        client.on('retried', (e) => retried.push(e));
        assert.deepEqual(await client.jobs.retry([id, 'no-such-job']), ['ok', 'not_found']);
        const done = await waitFor(async () => {
          const job = await client.getJob(id);
          return job?.state === 'completed' ? job : null;
        }, 'completed after the retry');
        assert.equal(done.round, 1);
        assert.equal(done.attempt, 1);
        assert.equal(done.result, 'second run works');
        assert.deepEqual(done.errors.map((e) => [e.round, e.message]), [[0, 'first run fails']]);
        await waitFor(() => retried.some((e) => e.jobId === id), 'retried event');
        assert.deepEqual(await client.jobs.retry([id]), ['ok'], 'a completed job can be retried too');
      }));

    it('promotes a delayed job so that a worker runs it at once', () =>
      withClient(factory, async (client) => {
        const q = client.queue('later');
        const ran: string[] = [];
        q.process(async (job) => {
          ran.push(job.id);
        });
        const { id, state } = await q.add('x', {}, { delay: 3_600_000 });
        assert.equal(state, 'scheduled');
        assert.deepEqual(await client.jobs.promote([id]), ['ok']);
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed after promote');
        assert.deepEqual(ran, [id]);
        assert.deepEqual(await client.jobs.promote([id]), ['wrong_state']);
      }));

    it('deletes a cancelled job but never a running one', () =>
      withClient(factory, async (client) => {
        const q = client.queue('deletable');
        const release = deferred();
        q.process(async (job) => {
          await Promise.race([release.promise, new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(job.signal.reason)))]);
        });
        const removed: JobEvent[] = [];
        client.on('removed', (e) => removed.push(e));
        const { id } = await q.add('x', {});
        await waitFor(async () => (await client.getJob(id))?.state === 'running', 'running');
        assert.deepEqual(await client.jobs.delete([id]), ['wrong_state']);
        assert.equal((await client.getJob(id))?.state, 'running');
        assert.equal(await client.cancel(id), 'cancel_requested');
        await waitFor(async () => (await client.getJob(id))?.state === 'cancelled', 'cancelled');
        assert.deepEqual(await client.jobs.delete([id, id]), ['ok', 'not_found']);
        assert.equal(await client.getJob(id), null);
        await waitFor(() => removed.find((e) => e.jobId === id), 'removed event');
        assert.equal(removed.find((e) => e.jobId === id)?.state, 'cancelled');
        release.resolve();
      }));

    it('edits a waiting payload through the queue schema and stores the schema output', () =>
      withClient(factory, async (client) => {
        const q = client.queue('mail', { schema: z.object({ to: z.string().trim().email() }) });
        const { id } = await q.add('send', { to: 'ada@example.com' }, { delay: 3_600_000 });
        const updated: JobEvent[] = [];
        client.on('updated', (e) => updated.push(e));
        await assert.rejects(client.jobs.updatePayload(id, { to: 'not an address' }), (err: unknown) => err instanceof ValidationError && /payload\.to/.test(err.message));
        assert.deepEqual((await client.getJob(id))?.payload, { to: 'ada@example.com' });
        assert.equal(await client.jobs.updatePayload(id, { to: '  grace@example.com ' }), 'ok');
        assert.deepEqual((await client.getJob(id))?.payload, { to: 'grace@example.com' });
        await waitFor(() => updated.find((e) => e.jobId === id), 'updated event');
        assert.equal(await client.jobs.updatePayload('no-such-job', { to: 'x' }), 'not_found');
      }));

    it('edits and retries a completed job: the new payload, through the schema, runs in the next round', () =>
      withClient(factory, async (client) => {
        const q = client.queue('resend', { schema: z.object({ to: z.string().trim().email() }) });
        const seen: unknown[] = [];
        q.process(async (job) => {
          seen.push(job.payload);
        });
        const { id } = await q.add('send', { to: 'ada@example.com' });
        await waitFor(async () => (await client.getJob(id))?.state === 'completed', 'completed');
        await assert.rejects(client.jobs.retry([id], { payload: { to: 'nope' } }), (err: unknown) => err instanceof ValidationError && /payload\.to/.test(err.message));
        assert.equal((await client.getJob(id))?.state, 'completed', 'a refused edit left the job alone');
        assert.deepEqual(await client.jobs.retry([id], { payload: { to: ' grace@example.com ' } }), ['ok']);
        const again = await waitFor(async () => {
          const job = await client.getJob(id);
          return job?.state === 'completed' && job.round === 1 ? job : null;
        }, 'completed again');
        assert.deepEqual(again.payload, { to: 'grace@example.com' });
        assert.deepEqual(seen, [{ to: 'ada@example.com' }, { to: 'grace@example.com' }]);
        assert.deepEqual(await client.jobs.retry(['no-such-job'], { payload: {} }), ['not_found']);
      }));

    it('counts the jobs a filter selects, exactly, and validates the filter', () =>
      withClient(factory, async (client) => {
        const q = client.queue('countable');
        await q.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'x', payload: { n: i, flag: i % 3 === 0 ? 'yes' : 'no' }, opts: { delay: 3_600_000 } })));
        assert.equal(await client.countMatching({ queue: 'countable' }), 30);
        assert.equal(await client.countMatching({ queue: 'countable', states: ['scheduled'], payloadContains: '"flag":"yes"' }), 10);
        assert.equal(await client.countMatching({ queue: 'countable', states: ['queued'] }), 0);
        await assert.rejects(client.countMatching({ queue: 'bad queue' } as never), ValidationError);
        await assert.rejects(client.countMatching({ colour: 'red' } as never), (err: unknown) => err instanceof ValidationError && /colour/.test(err.message));
        await assert.rejects(client.countMatching({ reason: 'x'.repeat(201) }), (err: unknown) => err instanceof ValidationError && /reason/.test(err.message));
      }));

    it('rejects malformed ids and payloads and writes nothing', () =>
      withClient(factory, async (client) => {
        const q = client.queue('guarded');
        const { id } = await q.add('x', { v: 1 }, { delay: 3_600_000 });
        const before = await client.getJob(id);
        const bad: Array<[() => Promise<unknown>, RegExp]> = [
          [() => client.jobs.retry([]), /ids: must be an array of 1\.\.10000 job ids/],
          [() => client.jobs.promote('x' as never), /ids: must be an array/],
          [() => client.jobs.delete([id, 'bad id']), /ids\[1\]/],
          [() => client.jobs.delete(new Array(10_001).fill(id)), /ids: must be an array of 1\.\.10000/],
          [() => client.jobs.retry([id, undefined as never]), /ids\[1\]/],
          [() => client.jobs.updatePayload('bad id', {}), /^id: /],
          [() => client.jobs.updatePayload(id, undefined), /payload: is required/],
          [() => client.jobs.updatePayload(id, { when: new Date() }), /payload\.when/],
          [() => client.jobs.updatePayload(id, { big: 'x'.repeat(2_000) }), /over the 1024-byte limit/],
          [() => client.jobs.retry([id, id], { payload: {} }), /ids: must hold exactly one id when options\.payload is given/],
          [() => client.jobs.retry([id], { payload: {}, queue: 'x' } as never), /options\.queue/],
          [() => client.jobs.retry([id], { payload: { big: 'x'.repeat(2_000) } }), /over the 1024-byte limit/],
        ];
        for (const [call, message] of bad) {
          await assert.rejects(call, (err: unknown) => err instanceof ValidationError && message.test(err.message), String(message));
        }
        assert.deepEqual(await client.getJob(id), before);
        assert.deepEqual(await client.jobs.delete([id]), ['ok']);
      }, { maxPayloadBytes: 1024 }));
  });
}
