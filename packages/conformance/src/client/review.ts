/**
 * Client-level regression tests from a correctness review of the core: outcomes that must always
 * be written (odd thrown values, odd classifier answers, huge snoozes), cancel requests that must
 * survive a shutdown, a worker that must not give up when the client's first start fails,
 * heartbeats that must keep trying at their own pace, close() that every caller can await, and
 * validation of arguments at public entry points.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, PermanentError, snooze, ValidationError, type Backend } from '@spindle/core';
import { deferred, makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

/** `backend` with some methods replaced (the others bound to the original). */
function override(backend: Backend, methods: Partial<Record<keyof Backend, (...args: any[]) => unknown>>): Backend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (Object.hasOwn(methods, prop)) return methods[prop as keyof Backend];
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export function reviewTests(factory: BackendFactory): void {
  describe(`${factory.name}: review regressions`, () => {
    it('treats a classifyError answer of null or an invalid delay as "no opinion" and retries the job', () =>
      withClient(factory, async (client) => {
        const answers: unknown[] = [null, { retryAfterMs: Number.NaN }, {}, { snoozeMs: Number.NaN }];
        const q = client.queue('classify-odd', {
          classifyError: (_err, job) => answers[job.attempt - 1] as never,
          defaultJobOptions: { backoff: { type: 'fixed', delayMs: 10 } },
        });
        const { id } = await q.add('x', {}, { maxRetries: answers.length });
        q.process(async (job) => {
          if (job.attempt <= answers.length) throw new Error(`odd answer #${job.attempt}`);
          return 'done';
        });
        const done = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed after four odd classifier answers');
        assert.equal(done.attempt, answers.length + 1);
        assert.deepEqual(done.errors.map((e) => e.kind), ['error', 'error', 'error', 'error']);
      }));

    it('records a failure whatever the handler throws (an Error with a non-string message or name)', () =>
      withClient(factory, async (client) => {
        const q = client.queue('odd-throws');
        const { id } = await q.add('x', {}, { maxRetries: 0 });
        q.process(async () => {
          const err = new Error('placeholder');
          Object.assign(err, { message: { detail: 'upstream said no' }, name: 42 });
          throw err;
        });
        const record = await waitFor(() => client.dlq.get(id), 'dead job with an error record');
        assert.equal(record.errors.length, 1);
        assert.match(record.errors[0]!.message, /upstream said no/);
      }));

    it('fails the attempt when the handler\'s result cannot even be read (a throwing getter)', () =>
      withClient(factory, async (client) => {
        const q = client.queue('odd-results');
        const { id } = await q.add('x', {}, { maxRetries: 0 });
        q.process(async () => ({
          get total(): number {
            throw new Error('getter exploded');
          },
        }));
        const record = await waitFor(() => client.dlq.get(id), 'dead job');
        assert.equal(record.failureReason, 'Error: getter exploded');
      }));

    it('caps a huge snooze at the longest delay instead of failing the outcome write', () =>
      withClient(factory, async (client) => {
        const q = client.queue('sleepy');
        const { id } = await q.add('x', {});
        q.process(async () => snooze(Number.MAX_VALUE));
        const job = await waitFor(async () => {
          const j = await client.getJob(id);
          return j?.state === 'scheduled' ? j : null;
        }, 'snoozed job scheduled');
        assert.equal(job.attempt, 0);
        assert.ok(Number.isFinite(job.runAt.getTime()) && job.runAt.getTime() <= Date.now() + TEN_YEARS_MS + 60_000);
      }));

    it('keeps a cancel request that arrives while a closing worker waits for the aborted handler', () =>
      withClient(factory, async (client) => {
        const q = client.queue('cancel-while-closing');
        const { id } = await q.add('x', {}, { maxRetries: 3 });
        const started = deferred();
        const aborted = deferred();
        const letGo = deferred();
        const worker = q.process(async (job) => {
          started.resolve();
          await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
          aborted.resolve();
          await letGo.promise;
          throw job.signal.reason;
        }, { abortGraceMs: 10_000 });
        // Wait for the handler itself, not the row's state: a claim whose answer has not reached
        // the worker yet shows 'running' too, and close() would release that job unstarted.
        await started.promise;
        const closed = worker.close({ graceMs: 0 });
        await aborted.promise; // aborted with a ClosedError: the job would be released
        const heard = new Promise((resolve) => client.once('cancel_requested', resolve));
        assert.equal(await client.cancel(id), 'cancel_requested');
        await heard; // internal listeners (the worker) hear an event before user listeners
        letGo.resolve();
        await closed;
        const job = await client.getJob(id);
        assert.equal(job?.state, 'cancelled');
        assert.equal(job?.errors.at(-1)?.kind, 'cancelled');
      }));

    it('a cancelled handler that answers with a snooze (returned or thrown) ends cancelled, not rescheduled', () =>
      withClient(factory, async (client) => {
        const q = client.queue('cancel-snooze');
        const returned = await q.add('returns', {});
        const thrown = await q.add('throws', {});
        q.process(async (job) => {
          await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
          if (job.name === 'returns') return snooze(60_000);
          throw snooze(60_000);
        }, { concurrency: 2 });
        for (const { id } of [returned, thrown]) {
          await waitFor(async () => (await client.getJob(id))?.state === 'running', `${id} running`);
          assert.equal(await client.cancel(id), 'cancel_requested');
        }
        for (const { id } of [returned, thrown]) {
          const job = await waitFor(async () => {
            const j = await client.getJob(id);
            return j && j.state !== 'running' ? j : null;
          }, `${id} settled`);
          assert.equal(job.state, 'cancelled');
        }
      }));

    it('a DLQ replay by filter replays each job once, even one that is dead again before the next pass', async () => {
      const { backend, cleanup } = await factory.makeBackend();
      let passes = 0;
      // After each replay pass, wait until the replayed jobs have failed again (as a fast worker
      // can between two passes), so the next pass sees them dead. Capped so a regression ends.
      const racing = override(backend, {
        dlqReplay: async (params: Parameters<Backend['dlqReplay']>[0]) => {
          passes += 1;
          if (passes > 3) return { replayed: [], skipped: [] };
          const result = await backend.dlqReplay(params);
          for (const id of result.replayed) await waitFor(async () => (await backend.getJob(id))?.state === 'dead', `${id} dead again`);
          return result;
        },
      });
      const client = makeClient(racing);
      try {
        await client.start();
        const q = client.queue('always-failing');
        q.process(async () => {
          throw new PermanentError('still broken');
        }, { concurrency: 3 });
        const added = await q.addBulk([0, 1, 2].map((i) => ({ name: 'x', payload: { i } })));
        for (const { id } of added) await waitFor(async () => (await client.getJob(id))?.state === 'dead', `${id} dead`);
        const summary = await client.dlq.replay({ filter: { queue: 'always-failing' } });
        assert.equal(summary.replayed, 3);
        for (const { id } of added) assert.equal((await client.getJob(id))?.round, 1, `${id} replayed exactly once`);
      } finally {
        await client.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('a worker created before the client could start keeps trying and runs jobs once it can', async () => {
      const { backend, cleanup } = await factory.makeBackend();
      let failNext = true;
      const flaky = override(backend, {
        migrate: async () => {
          if (failNext) {
            failNext = false;
            throw new Error('database unreachable');
          }
          return backend.migrate();
        },
      });
      const client = makeClient(flaky);
      try {
        const q = client.queue('late-start');
        q.process(async () => 'ok', { pollIntervalMs: 20 });
        await waitFor(() => !failNext, 'the first start failed');
        const { id } = await backend.insertJobs({ jobs: [{ id: 'late-1', queue: 'late-start', name: 'x', payload: '{}', priority: 500, maxRetries: 3, delayMs: null, runAt: null, uniqueKey: null, timeoutMs: null, backoff: null, retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null } }] }).then((r) => r[0]!);
        await waitFor(async () => (await backend.getJob(id))?.state === 'completed', 'job completed by the late worker');
      } finally {
        await client.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('retries a failed heartbeat at the heartbeat pace, so a brief database blip does not cost the lease', async () => {
      const { backend, cleanup } = await factory.makeBackend();
      let failuresLeft = 3;
      let goodBeats = 0;
      const flaky = override(backend, {
        extendLeases: async (params: Parameters<Backend['extendLeases']>[0]) => {
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('connection reset');
          }
          const answer = await backend.extendLeases(params);
          goodBeats += 1;
          return answer;
        },
      });
      const client = makeClient(flaky);
      try {
        const q = client.queue('blip');
        const { id } = await q.add('x', {}, { maxRetries: 3 });
        q.process(async (job) => {
          await waitFor(() => goodBeats >= 3 || job.signal.aborted, 'three good heartbeats');
          return job.attempt;
        }, { leaseMs: 1000, heartbeatMs: 100 });
        const done = await waitFor(async () => {
          const j = await backend.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'completed');
        assert.deepEqual(done.errors.map((e) => e.kind), []);
        assert.equal(done.attempt, 1);
      } finally {
        await client.close({ graceMs: 200 });
        await cleanup();
      }
    });

    it('close() called twice: the second call also waits until the client is closed', async () => {
      const { backend, cleanup } = await factory.makeBackend();
      const client = makeClient(backend);
      try {
        const q = client.queue('double-close');
        const { id } = await q.add('x', {});
        const started = deferred();
        let handlerDone = false;
        q.process(async () => {
          started.resolve();
          await new Promise((r) => setTimeout(r, 200));
          handlerDone = true;
          return 'done';
        });
        await started.promise;
        const first = client.close({ graceMs: 5000 });
        await client.close();
        assert.equal(handlerDone, true, 'the second close() resolved while a handler was still running');
        assert.equal((await backend.getJob(id))?.state, 'completed');
        await first;
      } finally {
        await client.close();
        await cleanup();
      }
    });

    it('a filtered DLQ replay lists each skipped job once, however many batches it takes', () =>
      withClient(factory, async (client, backend) => {
        const queue = 'replay-skips';
        const retention = { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
        const jobs = Array.from({ length: 505 }, (_, i) => ({
          id: `dead-${i}`, queue, name: 'x', payload: '{}', priority: 500, maxRetries: 0, delayMs: null, runAt: null,
          uniqueKey: i < 10 ? `key-${i}` : null, timeoutMs: null, backoff: null, retention,
        }));
        await backend.insertJobs({ jobs });
        const claimed = await backend.claimJobs({ queue, workerId: 'w', limit: 505, leaseMs: 60_000 });
        assert.equal(claimed.length, 505);
        const error = { attempt: 1, round: 0, kind: 'permanent' as const, name: 'Error', message: 'boom', at: Date.now() };
        const outcomes = await backend.finalizeJobs({
          items: claimed.map((c) => ({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken, kind: 'dead' as const, error, reason: 'Error: boom' })),
          retention: client.retention,
        });
        assert.ok(outcomes.every((o) => o === 'ok'));
        // Live jobs now hold the unique keys of the first ten dead jobs: those are skipped.
        const q = client.queue(queue);
        for (let i = 0; i < 10; i++) assert.equal((await q.add('x', {}, { uniqueKey: `key-${i}` })).inserted, true);
        const summary = await client.dlq.replay({ filter: { queue } });
        assert.equal(summary.replayed, 495);
        assert.equal(summary.skipped.length, 10, `skipped ${summary.skipped.length} entries for 10 jobs`);
        assert.deepEqual([...summary.skipped].sort(), Array.from({ length: 10 }, (_, i) => `dead-${i}`).sort());
      }));

    it('rejects malformed arguments at public entry points with a ValidationError', () =>
      withClient(factory, async (client) => {
        const q = client.queue('args');
        const worker = q.process(async () => 'ok', { autostart: false });
        const isValidation = (err: unknown) => err instanceof ValidationError;
        assert.throws(() => client.worker(123 as never, async () => 'ok'), isValidation);
        assert.throws(() => client.worker({ name: 'args' } as never, async () => 'ok'), isValidation);
        // Decision 0004 (and the option's doc): at most 500 jobs per claim.
        assert.throws(() => client.worker('args', async () => 'ok', { batchSize: 501, autostart: false }), isValidation);
        await assert.rejects(async () => client.counts(null as never), isValidation);
        await assert.rejects(async () => client.counts({ queue: 'args', queues: ['x'] } as never), isValidation);
        await assert.rejects(async () => client.dlq.depth(null as never), isValidation);
        await assert.rejects(async () => client.dlq.groups(null as never), isValidation);
        // Event names are checked like every other name: a typo would never fire.
        assert.throws(() => client.on('complete' as never, () => undefined), isValidation);
        assert.throws(() => client.once('completed', 'not a function' as never), isValidation);
        // Sparse arrays: holes are not job ids.
        await assert.rejects(async () => client.cancelMany([, 'a'] as never), isValidation);
        await assert.rejects(async () => client.dlq.purge({ ids: [, 'a'] as never }), isValidation);
        await assert.rejects(async () => client.listJobs({ filter: { states: [, 'queued'] as never } }), isValidation);
        // A misplaced option on a bulk item is a typo, not something to ignore.
        await assert.rejects(async () => q.addBulk([{ name: 'x', payload: {}, delay: 60_000 } as never]), isValidation);
        await assert.rejects(async () => worker.close({ graceMs: 'soon' as never }), isValidation);
        await assert.rejects(async () => worker.close(null as never), isValidation);
        await assert.rejects(async () => client.close({ graceMs: Number.NaN }), isValidation);
        assert.deepEqual(await client.counts(), {});
        await worker.close({ graceMs: 0 });
      }));

    it('rejects malformed client options (a zero interval would make a maintenance loop spin)', () =>
      withClient(factory, async (_client, backend) => {
        const bad: Array<[Record<string, unknown>, RegExp]> = [
          [{ maintenance: { promoteIntervalMs: 0 } }, /maintenance\.promoteIntervalMs/],
          [{ maintenance: { rescueIntervalMs: Number.NaN } }, /maintenance\.rescueIntervalMs/],
          [{ maintenance: { rescueSpreadMs: -1 } }, /maintenance\.rescueSpreadMs/],
          [{ maintenance: { rescueSpreadMs: 2.5 } }, /maintenance\.rescueSpreadMs/],
          [{ maintenance: { rescueSpreadMs: 600_001 } }, /maintenance\.rescueSpreadMs/],
          [{ maintenance: { pruneInterval: 1000 } }, /maintenance\.pruneInterval/],
          [{ maintenance: 'on' }, /maintenance/],
          [{ retention: { completed: 1000 } }, /retention\.completed/],
          [{ autoMigrate: 'no' }, /autoMigrate/],
          [{ logger: {} }, /logger/],
        ];
        for (const [options, message] of bad) {
          assert.throws(() => new Client({ backend, ...options } as never), (err: unknown) => err instanceof ValidationError && message.test(err.message));
        }
      }));
  });
}
