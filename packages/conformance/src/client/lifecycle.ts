/**
 * Client-level lifecycle tests: a job's path through a real Worker on a real backend —
 * completion with result and progress, retries with backoff, the DLQ (exhausted retries and
 * PermanentError), snooze, replay, timeouts and classifyError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PermanentError, RetryAfterError, snooze, TimeoutError, type JobEvent } from '@spindle/core';
import { deferred, waitFor, withClient, type BackendFactory } from './harness.js';

export function lifecycleTests(factory: BackendFactory): void {
  describe(`${factory.name}: job lifecycle through a worker`, () => {
    it('runs a job, stores its result and progress, and reports status at every step', () =>
      withClient(factory, async (client) => {
        const q = client.queue<{ n: number }>('lifecycle');
        const release = deferred();
        const events: string[] = [];
        client.on('event', (e) => {
          if ('jobId' in e) events.push(e.type);
        });
        const { id, state, inserted } = await q.add('square', { n: 7 });
        assert.equal(state, 'queued');
        assert.equal(inserted, true);
        q.process(async (job) => {
          await job.progress(50);
          await release.promise;
          return { square: job.payload.n ** 2 };
        });
        const running = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'running' && j.progress === 50 ? j : null;
        }, 'running with progress 50');
        assert.equal(running.attempt, 1);
        assert.ok(running.startedAt instanceof Date);
        release.resolve();
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed');
        assert.deepEqual(done.result, { square: 49 });
        assert.equal(done.attempt, 1);
        assert.deepEqual(done.errors, []);
        assert.ok(done.finishedAt && done.startedAt && done.finishedAt >= done.startedAt);
        await waitFor(() => events.includes('completed'), 'completed event');
        assert.deepEqual(events.filter((t) => t !== 'progress'), ['added', 'started', 'completed']);
      }));

    it('gives a handler a job it can destructure: payload, signal and progress keep working', () =>
      withClient(factory, async (client) => {
        const q = client.queue<{ n: number }>('destructure');
        const { id } = await q.add('double', { n: 21 });
        q.process(async ({ payload, signal, progress, attempt }) => {
          assert.equal(signal.aborted, false);
          await progress({ stage: 'half' });
          return { double: payload.n * 2, attempt };
        });
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed');
        assert.deepEqual(done.result, { double: 42, attempt: 1 });
        assert.deepEqual(done.progress, { stage: 'half' });
      }));

    it('retries a failing job with backoff and completes it, keeping each error', () =>
      withClient(factory, async (client) => {
        const q = client.queue('flaky', { defaultJobOptions: { backoff: { type: 'fixed', delayMs: 30 } } });
        const { id } = await q.add('email', { to: 'x' }, { maxRetries: 3 });
        const retrying: JobEvent[] = [];
        client.on('retrying', (e) => retrying.push(e));
        q.process(async (job) => {
          if (job.attempt < 3) throw new Error(`SMTP timeout #${job.attempt}`);
          return 'sent';
        });
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed after retries');
        assert.equal(done.attempt, 3);
        assert.deepEqual(done.errors.map((e) => [e.attempt, e.message, e.kind]), [
          [1, 'SMTP timeout #1', 'error'],
          [2, 'SMTP timeout #2', 'error'],
        ]);
        assert.equal(done.result, 'sent');
        await waitFor(() => retrying.length === 2, 'two retrying events');
      }));

    it('moves a job to the DLQ after maxRetries + 1 attempts, with its failure story, and replays it', () =>
      withClient(factory, async (client) => {
        const q = client.queue('doomed', { defaultJobOptions: { backoff: { type: 'fixed', delayMs: 10 } } });
        const { id } = await q.add('charge', { amount: 5 }, { maxRetries: 2 });
        let fixed = false;
        const dead: JobEvent[] = [];
        client.on('dead', (e) => dead.push(e));
        const worker = q.process(async () => {
          if (!fixed) throw new Error('card declined');
          return 'charged';
        });
        const record = await waitFor(() => client.dlq.get(id), 'dead job');
        assert.equal(record.attempt, 3);
        assert.equal(record.failureReason, 'Error: card declined');
        assert.equal(record.errors.length, 3);
        assert.ok(record.firstFailedAt && record.lastFailedAt && record.firstFailedAt <= record.lastFailedAt);
        assert.equal(record.errors[0]!.workerId, worker.id);
        assert.ok(record.errors[0]!.stack?.includes('card declined'));
        assert.deepEqual(record.payload, { amount: 5 });
        assert.deepEqual(await client.dlq.depth(), [{ queue: 'doomed', depth: 1 }]);
        await waitFor(() => dead.length === 1, 'dead event');
        fixed = true;
        const summary = await client.dlq.replay({ ids: [id] });
        assert.equal(summary.replayed, 1);
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'replayed job completes');
        assert.equal(done.round, 1);
        assert.equal(done.attempt, 1);
        assert.equal(done.errors.length, 3, 'history kept across the replay');
        assert.deepEqual(await client.dlq.depth(), []);
      }));

    it('sends a PermanentError straight to the DLQ without retrying', () =>
      withClient(factory, async (client) => {
        const q = client.queue('uploads');
        const { id } = await q.add('transcode', { file: 'corrupt.mp4' }, { maxRetries: 5 });
        q.process(async () => {
          throw new PermanentError('corrupt file header');
        });
        const record = await waitFor(() => client.dlq.get(id), 'dead job');
        assert.equal(record.attempt, 1);
        assert.equal(record.errors[0]!.kind, 'permanent');
        assert.equal(record.failureReason, 'PermanentError: corrupt file header');
      }));

    it('snoozes without spending an attempt and honours RetryAfterError', () =>
      withClient(factory, async (client) => {
        const q = client.queue('snoozy');
        const { id } = await q.add('poll', {}, { maxRetries: 1 });
        let calls = 0;
        q.process(async (job) => {
          calls += 1;
          if (calls <= 3) return snooze(10);
          if (calls === 4) throw new RetryAfterError(20, 'rate limited');
          return { calls, attempt: job.attempt };
        });
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed');
        assert.deepEqual(done.result, { calls: 5, attempt: 2 });
        assert.deepEqual(done.errors.map((e) => e.kind), ['retry_after']);
      }));

    it('times out an attempt: the signal fires, and a handler that ignores it is failed after the grace', () =>
      withClient(factory, async (client) => {
        const q = client.queue('slow');
        const polite = await q.add('polite', {}, { timeoutMs: 50, maxRetries: 0 });
        const stubborn = await q.add('stubborn', {}, { timeoutMs: 50, maxRetries: 0 });
        const reasons: unknown[] = [];
        q.process(
          async (job) => {
            if (job.name === 'polite') {
              await new Promise((_, reject) => job.signal.addEventListener('abort', () => {
                reasons.push(job.signal.reason);
                reject(job.signal.reason);
              }));
            }
            await new Promise((r) => setTimeout(r, 1500)); // ignores the signal
          },
          { concurrency: 2, abortGraceMs: 100 },
        );
        for (const { id } of [polite, stubborn]) {
          const record = await waitFor(() => client.dlq.get(id), `${id} dead after timeout`);
          assert.equal(record.errors[0]!.kind, 'timeout');
          assert.match(record.errors[0]!.message, /timed out after 50 ms/);
        }
        assert.ok(reasons[0] instanceof TimeoutError);
      }));

    it('applies the queue classifyError hook to foreign errors', () =>
      withClient(factory, async (client) => {
        class HttpError extends Error {
          constructor(readonly status: number) {
            super(`HTTP ${status}`);
          }
        }
        const q = client.queue('webhooks', {
          classifyError: (err) => (err instanceof HttpError && err.status < 500 ? 'permanent' : undefined),
        });
        const { id } = await q.add('deliver', {}, { maxRetries: 5 });
        q.process(async () => {
          throw new HttpError(404);
        });
        const record = await waitFor(() => client.dlq.get(id), 'dead via classifier');
        assert.equal(record.attempt, 1);
        assert.equal(record.errors[0]!.kind, 'permanent');
      }));
  });
}
