/**
 * Unique jobs modes at the backend level (JobInsert.uniqueMode, docs/decisions/0016-unique-jobs.md),
 * with injected time: how long each mode holds its key and when it lets go — `queued` until the
 * job starts (and never again after, whatever path brings it back to waiting), `active` until it
 * finishes, a period whatever the job does (while the job exists) — the namespaces, a flow root's
 * key, direct dispatch, the view of a job's key, and the pruning of expired period keys.
 * Conflicts (replace, batches, concurrent inserts) are in unique-conflicts.ts.
 */
import assert from 'node:assert/strict';
import type { Backend, InsertOutcome, JobInsert, UniqueScope } from '@spindle/core';
import type { Suite } from '../suite.js';
import { attemptError, claimOne, finalizeOne, jobInsert, KEEP_FOREVER, LEASE_MS, mustGet, QUEUE, RESCUE_SPREAD_MS, WORKER } from './fixtures.js';
import { flowNodes } from './flows.js';

export const KEY = 'order-42';

export interface KeyOptions {
  key?: string;
  forMs?: number;
  replace?: boolean;
}

/** A job with a unique key: `scope` null is a plain `uniqueKey` (no mode). */
export function keyed(scope: UniqueScope | null, overrides: Partial<JobInsert> = {}, options: KeyOptions = {}): JobInsert {
  const mode = scope === null ? {} : { uniqueMode: { scope, forMs: options.forMs ?? null, replace: options.replace ?? false } };
  return jobInsert({ uniqueKey: options.key ?? KEY, ...mode, ...overrides });
}

/** Inserts one job and returns its outcome. */
export async function add(backend: Backend, job: JobInsert, now: Date): Promise<InsertOutcome> {
  const [outcome] = await backend.insertJobs({ jobs: [job], now });
  assert.ok(outcome);
  return outcome;
}

const inserted = (job: JobInsert, state: InsertOutcome['state'] = 'queued'): InsertOutcome => ({ id: job.id, inserted: true, state });
const held = (by: JobInsert, state: InsertOutcome['state'] = 'queued'): InsertOutcome => ({ id: by.id, inserted: false, state });

export function uniqueTests(suite: Suite): void {
  suite.group('unique modes', () => {
    suite.test("queued: the key is held while the job waits, and released when a claim starts it", async ({ backend, at }) => {
      const a = keyed('queued', { delayMs: 5_000 });
      assert.deepStrictEqual(await add(backend, a, at(0)), inserted(a, 'scheduled'));
      assert.deepStrictEqual(await add(backend, keyed('queued'), at(1)), held(a, 'scheduled'), 'held while scheduled');
      await backend.promoteDueJobs({ limit: 10, now: at(5_000) });
      assert.deepStrictEqual(await add(backend, keyed('queued'), at(5_001)), held(a), 'held while queued');
      assert.deepStrictEqual(await add(backend, keyed(null), at(5_002)), held(a), 'a plain uniqueKey meets it: one namespace');
      assert.deepStrictEqual(await add(backend, keyed('active'), at(5_003)), held(a));
      assert.equal((await claimOne(backend, { now: at(5_004) })).id, a.id);
      const c = keyed('queued');
      assert.deepStrictEqual(await add(backend, c, at(5_005)), inserted(c), 'released once running');
      assert.deepStrictEqual(await add(backend, keyed('queued'), at(5_006)), held(c), 'the new job holds it now');
      const record = await mustGet(backend, a.id);
      assert.equal(record.state, 'running');
      assert.equal(record.uniqueKey, KEY, 'the key is still shown');
      assert.deepStrictEqual(record.unique, { key: KEY, while: 'queued' });
    });

    suite.test('queued: the claim of a grouped queue (tenant groups) releases the key too', async ({ backend, at }) => {
      const a = keyed('queued', { queue: 'tenants', group: 'acme' });
      assert.deepStrictEqual(await add(backend, a, at(0)), inserted(a));
      assert.deepStrictEqual(await add(backend, keyed('queued', { queue: 'tenants', group: 'acme' }), at(1)), held(a));
      assert.equal((await claimOne(backend, { queue: 'tenants', now: at(2) })).id, a.id);
      const b = keyed('queued', { queue: 'tenants', group: 'acme' });
      assert.deepStrictEqual(await add(backend, b, at(3)), inserted(b));
    });

    suite.test('queued: a started job back to waiting (retry, snooze, release, lease expiry) never takes its key again', async ({ backend, at }) => {
      const paths = ['retry', 'snooze', 'release', 'rescue'] as const;
      const olds = paths.map((path) => keyed('queued', {}, { key: `k-${path}` }));
      await backend.insertJobs({ jobs: olds, now: at(0) });
      const claimed = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 4, leaseMs: 1_000, now: at(1) });
      assert.equal(claimed.length, 4);
      const lease = (job: JobInsert) => claimed.find((c) => c.id === job.id)!;
      const newer = paths.map((path) => keyed('queued', {}, { key: `k-${path}` }));
      assert.deepStrictEqual(await backend.insertJobs({ jobs: newer, now: at(2) }), newer.map((j) => inserted(j)));
      assert.equal(await finalizeOne(backend, lease(olds[0]!), { kind: 'retry', error: attemptError(), delayMs: 10 }, at(3)), 'ok');
      assert.equal(await finalizeOne(backend, lease(olds[1]!), { kind: 'snooze', delayMs: 10 }, at(3)), 'ok');
      assert.equal(await finalizeOne(backend, lease(olds[2]!), { kind: 'release' }, at(3)), 'ok');
      const rescued = await backend.rescueExpiredLeases({ limit: 10, retention: KEEP_FOREVER, spreadMs: RESCUE_SPREAD_MS, now: at(2_000) });
      assert.deepStrictEqual(rescued.requeued, [olds[3]!.id]);
      assert.equal((await mustGet(backend, olds[3]!.id)).state, 'retrying');
      assert.deepStrictEqual(await add(backend, keyed('queued', {}, { key: 'k-rescue' }), at(2_001)), held(newer[3]!), 'rescue (retrying): the newer job holds the key');
      const t = 2_000 + RESCUE_SPREAD_MS;
      await backend.promoteDueJobs({ limit: 10, now: at(t) });
      for (const [k, path] of paths.entries()) {
        assert.equal((await mustGet(backend, olds[k]!.id)).state, 'queued', `${path}: waiting again`);
        assert.deepStrictEqual(await add(backend, keyed('queued', {}, { key: `k-${path}` }), at(t + 1)), held(newer[k]!), `${path}: the newer job holds the key`);
      }
      // Both generations are claimable; once the newer ones run too, nobody holds the keys.
      const all = await backend.claimJobs({ queue: QUEUE, workerId: WORKER, limit: 20, leaseMs: LEASE_MS, now: at(t + 2) });
      assert.deepStrictEqual(all.map((j) => j.id).sort(), [...olds, ...newer].map((j) => j.id).sort());
      for (const path of paths) {
        const fresh = keyed('queued', {}, { key: `k-${path}` });
        assert.deepStrictEqual(await add(backend, fresh, at(t + 3)), inserted(fresh), `${path}: free once both run`);
      }
    });

    suite.test('active: held while waiting and running, released when the job finishes', async ({ backend, at }) => {
      const a = keyed('active');
      assert.deepStrictEqual(await add(backend, a, at(0)), inserted(a));
      assert.deepStrictEqual(await add(backend, keyed('queued'), at(1)), held(a));
      const claimed = await claimOne(backend, { now: at(2) });
      assert.deepStrictEqual(await add(backend, keyed('active'), at(3)), held(a, 'running'));
      assert.deepStrictEqual(await add(backend, keyed(null), at(3)), held(a, 'running'));
      assert.equal(await finalizeOne(backend, claimed, { kind: 'complete', result: null }, at(4)), 'ok');
      const b = keyed('active');
      assert.deepStrictEqual(await add(backend, b, at(5)), inserted(b));
      assert.deepStrictEqual((await mustGet(backend, a.id)).unique, { key: KEY, while: 'active' });
      const plain = keyed(null, {}, { key: 'plain' });
      await add(backend, plain, at(6));
      assert.deepStrictEqual((await mustGet(backend, plain.id)).unique, { key: 'plain', while: 'active' }, 'uniqueKey is active');
      assert.equal((await mustGet(backend, b.id)).uniqueKey, KEY);
    });

    suite.test('for a period: held for forMs from the insert whatever the job does, then free', async ({ backend, at }) => {
      const a = keyed('period', {}, { forMs: 60_000 });
      assert.deepStrictEqual(await add(backend, a, at(0)), inserted(a));
      assert.deepStrictEqual(await add(backend, keyed('period', {}, { forMs: 1 }), at(10)), held(a));
      const claimed = await claimOne(backend, { now: at(20) });
      assert.deepStrictEqual(await add(backend, keyed('period', {}, { forMs: 5 }), at(25)), held(a, 'running'));
      assert.equal(await finalizeOne(backend, claimed, { kind: 'complete', result: null }, at(30)), 'ok');
      assert.deepStrictEqual(await add(backend, keyed('period', {}, { forMs: 5 }), at(40)), held(a, 'completed'), 'held after it completed');
      assert.deepStrictEqual(await add(backend, keyed('period', {}, { forMs: 5 }), at(59_999)), held(a, 'completed'));
      const b = keyed('period', {}, { forMs: 60_000 });
      assert.deepStrictEqual(await add(backend, b, at(60_000)), inserted(b), 'free once the period ran out');
      const record = await mustGet(backend, a.id);
      assert.equal(record.uniqueKey, KEY);
      assert.deepStrictEqual(record.unique, { key: KEY, while: { forMs: 60_000 } });
      // Period keys are a namespace of their own: they neither block nor are blocked by live-job keys.
      const live = keyed('active');
      assert.deepStrictEqual(await add(backend, live, at(60_001)), inserted(live));
      assert.deepStrictEqual(await add(backend, keyed('period', {}, { forMs: 5 }), at(60_002)), held(b));
      const c = keyed('period', {}, { forMs: 5 });
      assert.deepStrictEqual(await add(backend, c, at(120_000)), inserted(c));
    });

    suite.test('a period ends early when its job is deleted; expired period keys are pruned', async ({ backend, at }) => {
      const a = keyed('period', { delayMs: 100_000 }, { forMs: 60_000 });
      assert.deepStrictEqual(await add(backend, a, at(0)), inserted(a, 'scheduled'));
      assert.deepStrictEqual(await backend.deleteJobs({ ids: [a.id] }), ['ok']);
      const b = keyed('period', {}, { forMs: 60_000 });
      assert.deepStrictEqual(await add(backend, b, at(10)), inserted(b), 'the deleted job holds nothing');
      const short = keyed('period', {}, { key: 'short', forMs: 1_000 });
      assert.deepStrictEqual(await add(backend, short, at(10)), inserted(short));
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(5_000) }), 1, "only 'short' expired");
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(5_000) }), 0);
      assert.equal(await backend.pruneJobs({ limit: 100, now: at(60_010) }), 1, "b's key expired");
      assert.equal((await mustGet(backend, b.id)).state, 'queued', 'pruning a key leaves its job alone');
    });

    suite.test("a flow root holds its key in each mode; a held key answers for the whole flow", async ({ backend, at }) => {
      const tree = (scope: UniqueScope, key: string) => flowNodes({ job: keyed(scope, {}, { key, forMs: scope === 'period' ? 1_000 : undefined }), children: [{}, {}] });
      for (const scope of ['queued', 'active', 'period'] as const) {
        const first = tree(scope, `flow-${scope}`);
        assert.equal((await backend.insertFlow({ nodes: first, now: at(0) })).inserted, true, scope);
        const again = tree(scope, `flow-${scope}`);
        assert.deepStrictEqual(await backend.insertFlow({ nodes: again, now: at(10) }), { inserted: false, id: first[0]!.id, state: 'waiting', states: [] }, scope);
        assert.equal(await backend.getJob(again[1]!.id), null, `${scope}: no child of the duplicate was written`);
        assert.deepStrictEqual((await mustGet(backend, first[0]!.id)).unique, { key: `flow-${scope}`, while: scope === 'period' ? { forMs: 1_000 } : scope });
      }
      const later = tree('period', 'flow-period');
      assert.equal((await backend.insertFlow({ nodes: later, now: at(1_000) })).inserted, true, 'the period ran out');
    });

    suite.test('a queued key of a job inserted already running (direct dispatch) is free at once', async ({ backend, at }) => {
      const a = keyed('queued');
      const [outcome] = await backend.insertJobs({ jobs: [a], dispatch: [{ queue: QUEUE, workerId: WORKER, leaseMs: LEASE_MS, limit: 1 }], now: at(0) });
      assert.equal(outcome!.inserted, true);
      const b = keyed('queued');
      const next = await add(backend, b, at(1));
      if (outcome!.claimed) {
        // Dispatched (SQLite): it started with its insert, so it never held the key.
        assert.equal(outcome!.state, 'running');
        assert.deepStrictEqual(next, inserted(b));
      } else {
        // Not dispatched (PostgreSQL takes no dispatch for unique modes): it waits, and holds.
        assert.equal(outcome!.state, 'queued');
        assert.deepStrictEqual(next, held(a));
      }
    });
  });
}
