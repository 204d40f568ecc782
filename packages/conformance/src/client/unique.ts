/**
 * Unique jobs through the client (`opts.unique`, docs/decisions/0016-unique-jobs.md): a debounce
 * (`onConflict: 'replace'`) runs once with the last payload and answers `replaced`; a `queued` key
 * lets a new job in while the first runs; two clients adding one key at once leave one job; a
 * flow root takes `unique`; bad options are refused with a ValidationError and nothing written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError, type JobEvent } from '@spindle/core';
import { deferred, makeClient, waitFor, withClient, type BackendFactory } from './harness.js';

export function uniqueClientTests(factory: BackendFactory): void {
  describe(`${factory.name}: unique jobs`, () => {
    it("debounces with onConflict 'replace': one run, with the last payload; the answer says replaced", () =>
      withClient(factory, async (client) => {
        const q = client.queue('reindex');
        const updated: JobEvent[] = [];
        client.on('updated', (e) => updated.push(e));
        const unique = { key: 'doc-7', onConflict: 'replace' } as const;
        // 2 s of delay: the four adds must all meet the job still scheduled, even on a loaded machine.
        const first = await q.add('reindex', { rev: 1 }, { delay: 2000, unique });
        assert.deepEqual(first, { id: first.id, inserted: true, state: 'scheduled' });
        const second = await q.add('reindex', { rev: 2 }, { delay: 2000, unique });
        assert.deepEqual(second, { id: first.id, inserted: false, state: 'scheduled', replaced: true });
        const [third] = await q.addBulk([{ name: 'reindex', payload: { rev: 3 }, opts: { delay: 2000, unique } }]);
        assert.equal(third!.replaced, true);
        const kept = await q.add('reindex', { rev: 4 }, { delay: 2000, unique: { key: 'doc-7' } });
        assert.deepEqual(kept, { id: first.id, inserted: false, state: 'scheduled' }, 'keep leaves it as it is');
        const runs: unknown[] = [];
        q.process(async (job) => {
          runs.push(job.payload);
        }, { pollIntervalMs: 50 });
        await waitFor(async () => (await client.getJob(first.id))?.state === 'completed', 'the debounced job ran');
        assert.deepEqual(runs, [{ rev: 3 }]);
        await waitFor(() => updated.filter((e) => e.jobId === first.id).length === 2, 'two updated events');
        const job = (await client.getJob(first.id))!;
        assert.deepEqual([job.uniqueKey, job.unique], ['doc-7', { key: 'doc-7', while: 'active' }]);
      }));

    it("with while 'queued' a new job may be added while the first runs; with 'active' it may not", () =>
      withClient(factory, async (client) => {
        const q = client.queue('sync');
        const release = deferred();
        const started: string[] = [];
        q.process(async (job) => {
          started.push(job.id);
          await release.promise;
        }, { concurrency: 1 });
        const first = await q.add('sync', {}, { unique: { key: 'acct-1', while: 'queued' } });
        const active = await q.add('sync', {}, { unique: { key: 'acct-2' } });
        await waitFor(async () => (await client.getJob(first.id))?.state === 'running', 'the first job runs');
        const second = await q.add('sync', {}, { unique: { key: 'acct-1', while: 'queued' } });
        assert.equal(second.inserted, true, 'the running job no longer holds the key');
        const third = await q.add('sync', {}, { unique: { key: 'acct-1', while: 'queued' } });
        assert.deepEqual([third.inserted, third.id], [false, second.id], 'the waiting one does');
        const dup = await q.add('sync', {}, { uniqueKey: 'acct-2' });
        assert.deepEqual([dup.inserted, dup.id], [false, active.id]);
        assert.deepEqual((await client.getJob(first.id))!.unique, { key: 'acct-1', while: 'queued' });
        release.resolve();
        await waitFor(async () => (await q.counts()).completed === 3, 'all three ran');
      }));

    it('two clients adding one key at once leave exactly one job, for each mode', async (t) => {
      const { backend, cleanup, openAnother } = await factory.makeBackend();
      if (!openAnother) {
        t.skip('factory cannot open a second instance');
        await cleanup();
        return;
      }
      const other = await openAnother();
      const a = makeClient(backend, { maintenance: false });
      const b = makeClient(other, { maintenance: false });
      try {
        const modes = [{ while: 'queued' }, { while: 'active' }, { while: { forMs: 60_000 } }, { onConflict: 'replace' }] as const;
        for (const [m, mode] of modes.entries()) {
          const key = `race-${m}`;
          const adds = Array.from({ length: 10 }, (_, n) => (n % 2 === 0 ? a : b).queue('race').add('x', { n }, { unique: { key, ...mode } }));
          const results = await Promise.all(adds);
          const winners = results.filter((r) => r.inserted);
          assert.equal(winners.length, 1, `${JSON.stringify(mode)}: one job went in`);
          assert.ok(results.every((r) => r.id === winners[0]!.id), `${JSON.stringify(mode)}: every add names it`);
        }
        assert.equal((await a.counts())['race']?.queued, modes.length);
      } finally {
        await a.close();
        await b.close();
        await other.close();
        await cleanup();
      }
    });

    it('a flow root takes unique (never replace); its children may not', () =>
      withClient(factory, async (client) => {
        const spec = (key: string) => ({ queue: 'build', name: 'release', payload: {}, opts: { unique: { key, while: { forMs: 60_000 } } }, children: [{ queue: 'build', name: 'step', payload: {} }] });
        const first = await client.flow(spec('v1'));
        assert.equal(first.inserted, true);
        const again = await client.flow(spec('v1'));
        assert.deepEqual([again.inserted, again.id, again.children], [false, first.id, []]);
        await assert.rejects(client.flow({ ...spec('v2'), opts: { unique: { key: 'v2', onConflict: 'replace' } } }), (err: unknown) =>
          err instanceof ValidationError && err.issues.some((i) => i.path === 'opts.unique.onConflict'));
        await assert.rejects(client.flow({ ...spec('v3'), children: [{ queue: 'build', name: 'step', payload: {}, opts: { unique: { key: 'c' } } }] }), (err: unknown) =>
          err instanceof ValidationError && err.issues.some((i) => i.path === 'children[0].opts.unique'));
        assert.equal((await client.listJobs({ limit: 100 })).jobs.length, 2, 'only the first flow was written');
      }));

    it('refuses bad unique options with a ValidationError naming them, and writes nothing', () =>
      withClient(factory, async (client) => {
        const q = client.queue('strict');
        const bad: Array<[unknown, string]> = [
          [{ uniqueKey: 'k', unique: { key: 'k' } }, 'opts.unique'],
          [{ unique: { key: '' } }, 'opts.unique.key'],
          [{ unique: { while: 'queued' } }, 'opts.unique.key'],
          [{ unique: { key: 'k', while: 'forever' } }, 'opts.unique.while'],
          [{ unique: { key: 'k', while: { forMs: -1 } } }, 'opts.unique.while.forMs'],
          [{ unique: { key: 'k', onConflict: 'merge' } }, 'opts.unique.onConflict'],
        ];
        for (const [opts, path] of bad) {
          await assert.rejects(q.add('x', {}, opts as never), (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === path), JSON.stringify(opts));
        }
        // One bad item rejects the whole bulk call.
        await assert.rejects(q.addBulk([{ name: 'x', payload: {}, opts: { unique: { key: 'ok' } } }, { name: 'x', payload: {}, opts: { unique: { key: 'k', while: 'x' } as never } }]), ValidationError);
        assert.deepEqual(await client.counts(), {});
      }));
  });
}
