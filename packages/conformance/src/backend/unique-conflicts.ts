/**
 * What adding a job whose unique key is held does (docs/decisions/0016-unique-jobs.md):
 * `replace` updates a holder that still waits (name, payload, priority, run time; `replaced`
 * answer, `updated` event) and keeps any other; jobs of one batch that share a key settle against
 * the first of them; concurrent inserts of one key leave exactly one holder.
 */
import assert from 'node:assert/strict';
import type { InsertOutcome, JobInsert } from '@spindle/core';
import type { Suite } from '../suite.js';
import { expectFields, isJobEvent, withEvents } from './events.js';
import { attemptError, claimOne, finalizeOne, mustGet } from './fixtures.js';
import { add, keyed, KEY } from './unique.js';

const replacing = (by: JobInsert, state: InsertOutcome['state']): InsertOutcome => ({ id: by.id, inserted: false, state, replaced: true });

export function uniqueConflictTests(suite: Suite): void {
  suite.group('unique conflicts', () => {
    suite.test('replace: a waiting holder takes the new name, payload, priority and run time', withEvents(async ({ backend, at }, log) => {
      const a = keyed('active', { name: 'index', payload: '{"v":1}', delayMs: 60_000 }, { replace: true });
      await add(backend, a, at(0));
      const b = keyed('active', { name: 'reindex', payload: '{"v":2}', priority: 100, delayMs: 60_000 }, { replace: true });
      assert.deepStrictEqual(await add(backend, b, at(10_000)), replacing(a, 'scheduled'));
      let record = await mustGet(backend, a.id);
      assert.deepStrictEqual(
        [record.name, record.payload, record.priority, record.runAt, record.state, record.createdAt],
        ['reindex', { v: 2 }, 100, at(70_000), 'scheduled', at(0)],
        'the delay restarts from the replacing add',
      );
      expectFields(await log.next('updated', isJobEvent('updated', a.id)), { state: 'scheduled', name: 'reindex', at: at(10_000).getTime(), data: { replacedBy: b.id } });
      // No delay: due now (queued); an explicit runAt: that time.
      assert.deepStrictEqual(await add(backend, keyed('queued', { payload: '{"v":3}' }, { replace: true }), at(20_000)), replacing(a, 'queued'));
      assert.deepStrictEqual([(await mustGet(backend, a.id)).runAt, (await mustGet(backend, a.id)).payload], [at(20_000), { v: 3 }]);
      assert.deepStrictEqual(await add(backend, keyed('active', { payload: '{"v":4}', runAt: at(90_000) }, { replace: true }), at(21_000)), replacing(a, 'scheduled'));
      // keep leaves it as it is.
      const kept = keyed('active', { payload: '{"v":5}' });
      assert.deepStrictEqual(await add(backend, kept, at(22_000)), { id: a.id, inserted: false, state: 'scheduled' });
      record = await mustGet(backend, a.id);
      assert.deepStrictEqual([record.payload, record.runAt, record.unique], [{ v: 4 }, at(90_000), { key: KEY, while: 'active' }]);
      // A period key's waiting holder is replaced the same way.
      const p = keyed('period', { payload: '{"p":1}', delayMs: 5_000 }, { key: 'p', forMs: 60_000 });
      await add(backend, p, at(0));
      assert.deepStrictEqual(await add(backend, keyed('period', { payload: '{"p":2}' }, { key: 'p', forMs: 1, replace: true }), at(1_000)), replacing(p, 'queued'));
      assert.deepStrictEqual((await mustGet(backend, p.id)).payload, { p: 2 });
    }));

    suite.test('replace keeps a holder that has started (running, retrying) or finished', async ({ backend, at }) => {
      const a = keyed('active', { queue: 'r1', payload: '{"v":1}' });
      await add(backend, a, at(0));
      const claimed = await claimOne(backend, { queue: 'r1', now: at(1) });
      assert.deepStrictEqual(await add(backend, keyed('active', { queue: 'r1', payload: '{"v":2}' }, { replace: true }), at(2)), { id: a.id, inserted: false, state: 'running' });
      assert.equal(await finalizeOne(backend, claimed, { kind: 'retry', error: attemptError(), delayMs: 60_000 }, at(3)), 'ok');
      assert.deepStrictEqual(await add(backend, keyed('active', { queue: 'r1', payload: '{"v":3}' }, { replace: true }), at(4)), { id: a.id, inserted: false, state: 'retrying' });
      assert.deepStrictEqual((await mustGet(backend, a.id)).payload, { v: 1 }, 'the started job keeps its payload');

      const p = keyed('period', { queue: 'r2' }, { forMs: 60_000 });
      await add(backend, p, at(0));
      const done = await claimOne(backend, { queue: 'r2', now: at(1) });
      assert.equal(await finalizeOne(backend, done, { kind: 'complete', result: null }, at(2)), 'ok');
      assert.deepStrictEqual(await add(backend, keyed('period', { queue: 'r2' }, { forMs: 1, replace: true }), at(3)), { id: p.id, inserted: false, state: 'completed' });

      // A queued key is not held by a running job at all: the replacing job goes in.
      const w = keyed('queued', { queue: 'r3' }, { replace: true });
      await add(backend, w, at(0));
      await claimOne(backend, { queue: 'r3', now: at(1) });
      const next = keyed('queued', { queue: 'r3' }, { replace: true });
      assert.deepStrictEqual(await add(backend, next, at(2)), { id: next.id, inserted: true, state: 'queued' });
    });

    suite.test('one batch with repeated keys: the first job of a key goes in, the later ones meet it', async ({ backend, at }) => {
      const a = keyed('active', { payload: '{"n":"a"}' });
      const b = keyed('active', { payload: '{"n":"b"}' });
      const c = keyed('active', { payload: '{"n":"c"}', delayMs: 5_000 }, { replace: true });
      const d = keyed('queued', { payload: '{"n":"d"}' }, { key: 'k2' });
      const e = keyed(null, { payload: '{"n":"e"}' });
      const f = keyed('period', {}, { key: 'k3', forMs: 1_000 });
      const g = keyed('period', {}, { key: 'k3', forMs: 1_000 });
      const h = keyed(null, { payload: '{"n":"h"}' }, { key: 'k4' });
      const i = keyed('queued', { payload: '{"n":"i"}' }, { key: 'k4', replace: true });
      const plain = keyed(null, {}, { key: 'unused' });
      const noKey = { ...keyed(null), uniqueKey: null };
      const outcomes = await backend.insertJobs({ jobs: [a, b, c, d, e, f, g, h, i, { ...d }, plain, noKey], now: at(0) });
      assert.deepStrictEqual(outcomes, [
        { id: a.id, inserted: true, state: 'scheduled' }, // replaced by c within the batch: its state after the batch
        { id: a.id, inserted: false, state: 'scheduled' },
        replacing(a, 'scheduled'),
        { id: d.id, inserted: true, state: 'queued' },
        { id: a.id, inserted: false, state: 'scheduled' },
        { id: f.id, inserted: true, state: 'queued' },
        { id: f.id, inserted: false, state: 'queued' },
        { id: h.id, inserted: true, state: 'queued' },
        replacing(h, 'queued'),
        { id: d.id, inserted: false, state: 'queued' }, // a repeated id: its first occurrence
        { id: plain.id, inserted: true, state: 'queued' },
        { id: noKey.id, inserted: true, state: 'queued' },
      ]);
      const first = await mustGet(backend, a.id);
      assert.deepStrictEqual([first.payload, first.runAt], [{ n: 'c' }, at(5_000)]);
      assert.deepStrictEqual((await mustGet(backend, h.id)).payload, { n: 'i' });
      for (const skipped of [b, c, e, g, i]) assert.equal(await backend.getJob(skipped.id), null);
    });

    suite.test('concurrent inserts of one key leave exactly one holder, in every mode', async ({ backend, at }) => {
      const scopes = [null, 'queued', 'active', 'period'] as const;
      const attempts = scopes.flatMap((scope) =>
        Array.from({ length: 6 }, (_, n) => keyed(scope, { payload: JSON.stringify({ n }) }, { key: `c-${scope}`, forMs: 60_000, replace: n % 2 === 1 })),
      );
      const outcomes = (await Promise.all(attempts.map((job) => backend.insertJobs({ jobs: [job], now: at(0) })))).map((o) => o[0]!);
      for (const scope of scopes) {
        const mine = outcomes.filter((_, k) => attempts[k]!.uniqueKey === `c-${scope}`);
        const winners = mine.filter((o) => o.inserted);
        assert.equal(winners.length, 1, `${scope}: one job went in`);
        assert.ok(mine.every((o) => o.id === winners[0]!.id), `${scope}: every other add names it`);
      }
      const listed = await backend.listJobs({ limit: 100 });
      assert.equal(listed.jobs.length, scopes.length);
    });
  });
}
