/**
 * The read and selection paths reach jobs through the per-state partial indexes of migration
 * 0002 (ADR 0007): checked on the query plans of the statements the backend really prepares,
 * on a planner without statistics and again after ANALYZE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { JobState } from '@spindle/core';
import type { SqliteBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';
import { fullScans, plansOf, type Planned } from './plans.js';
import { seedEveryState } from './seed.js';

const FINISHED: JobState[] = ['completed', 'dead', 'cancelled'];
const INDEXED: JobState[] = ['scheduled', 'queued', 'running', 'retrying', 'completed', 'dead', 'cancelled'];

const flat = (planned: Planned[]): string => planned.map((p) => `${p.sql.replace(/\s+/g, ' ')}\n${p.plan.join('\n')}`).join('\n\n');

for (const analyzed of [false, true]) {
  describe(`query plans (${analyzed ? 'after ANALYZE' : 'no statistics'})`, () => {
    let backend: SqliteBackend;
    let path: string;
    let cleanup: () => Promise<void>;
    const plans = (action: () => Promise<unknown>) => plansOf(backend, path, action);
    const assertNoScan = (planned: Planned[]) => assert.deepEqual(fullScans(planned), [], flat(planned));

    before(async () => {
      ({ backend, path, cleanup } = await makeTestBackend());
      await seedEveryState(backend, ['a', 'b', 'c'], analyzed ? 300 : 5);
      if (analyzed) {
        const raw = new Database(path);
        raw.exec('ANALYZE');
        raw.close();
      }
    });
    after(() => cleanup());

    test('counts and DLQ listing never scan spindle_jobs', async () => {
      for (const action of [
        () => backend.countJobs(),
        () => backend.countJobs({ queue: 'a' }),
        () => backend.dlqDepth(),
        () => backend.dlqDepth({ queue: 'a' }),
        () => backend.dlqGroups(),
        () => backend.dlqGroups({ filter: { queue: 'b', errorContains: 'boom' } }),
        () => backend.listJobs({ filter: { states: ['dead'] }, limit: 10 }),
        () => backend.listJobs({ filter: { states: ['dead'], queue: 'a' }, limit: 10 }),
        () => backend.listJobs({ filter: { resolved: false, failedAfter: new Date(0) }, limit: 10, order: 'oldest' }),
        () => backend.listQueues(),
        () => backend.oldestQueuedAt('a'),
      ]) {
        const planned = await plans(action);
        assert.ok(planned.length > 0);
        assertNoScan(planned);
      }
    });

    test('counts are one aggregate per partial index, each walking only that index', async () => {
      for (const params of [undefined, { queue: 'a' }]) {
        const [count] = await plans(() => backend.countJobs(params));
        const text = count!.plan.join('\n');
        for (const index of ['claim', 'due', 'lease', 'waiting', 'completed', 'dead', 'cancelled']) {
          assert.match(text, new RegExp(`(SCAN|SEARCH) spindle_jobs USING (COVERING )?INDEX spindle_jobs_${index}_idx\\b`), text);
        }
        if (params !== undefined) for (const index of FINISHED) assert.match(text, new RegExp(`spindle_jobs_${index}_idx \\(queue=\\?\\)`));
      }
    });

    test('listing a finished state of a queue reads its partial index in seq order (no table scan, no sort)', async () => {
      for (const state of FINISHED) {
        for (const order of ['newest', 'oldest'] as const) {
          const first = await backend.listJobs({ filter: { queue: 'a', states: [state] }, limit: 2, order });
          assert.notEqual(first.nextCursor, null);
          for (const cursor of [null, first.nextCursor]) {
            const planned = await plans(() => backend.listJobs({ filter: { queue: 'a', states: [state] }, limit: 2, order, cursor }));
            assertNoScan(planned);
            const text = flat(planned);
            const range = cursor === null ? '' : ` AND seq${order === 'newest' ? '<' : '>'}\\?`;
            assert.match(text, new RegExp(`SEARCH spindle_jobs USING COVERING INDEX spindle_jobs_${state}_idx \\(queue=\\?${range}\\)`), text);
            assert.doesNotMatch(text, /TEMP B-TREE/, text);
          }
        }
      }
    });

    test('listing any indexed state, or several, with or without a queue, never scans the table', async () => {
      const filters = [
        ...INDEXED.flatMap((state) => [{ states: [state] }, { states: [state], queue: 'b' }]),
        { states: FINISHED },
        { states: ['running', 'completed', 'scheduled'] as JobState[], name: 'task' },
        { states: INDEXED, queue: 'c', payloadContains: 'c-' },
      ];
      for (const filter of filters) {
        for (const order of ['newest', 'oldest'] as const) assertNoScan(await plans(() => backend.listJobs({ filter, limit: 3, order })));
      }
      // Ids are looked up by id, whatever the states.
      const byIds = await plans(() => backend.listJobs({ filter: { states: ['dead', 'queued'], ids: ['a-dead-1', 'b-queued-2'] }, limit: 5 }));
      assertNoScan(byIds);
      assert.match(flat(byIds), /sqlite_autoindex_spindle_jobs_1 \(id=\?\)/);
    });

    test('DLQ selections (replay, resolve, purge) and pruning never scan spindle_jobs', async () => {
      for (const action of [
        () => backend.dlqResolve({ filter: { queue: 'c' }, limit: 2, note: 'n' }),
        () => backend.dlqResolve({ filter: { errorContains: 'boom' }, limit: 2, note: 'n' }),
        () => backend.dlqReplay({ filter: { queue: 'b' }, limit: 2 }),
        () => backend.dlqReplay({ filter: {}, limit: 2, toQueue: 'elsewhere' }),
        () => backend.dlqPurge({ filter: { resolved: true }, limit: 1 }),
        () => backend.dlqPurge({ ids: ['c-dead-3'], limit: 1 }),
        () => backend.pruneJobs({ limit: 10 }),
      ]) {
        const planned = await plans(action);
        assert.ok(planned.some((p) => /spindle_jobs/.test(p.sql)));
        assertNoScan(planned);
      }
    });

    test('a claim reads claim_idx for its queue only', async () => {
      const planned = await plans(() => backend.claimJobs({ queue: 'a', workerId: 'w', limit: 2, leaseMs: 1000 }));
      assertNoScan(planned);
      assert.match(flat(planned), /SEARCH spindle_jobs USING COVERING INDEX spindle_jobs_claim_idx \(queue=\?\)/);
    });

    test('operator actions reach each job by id (or seq), never through a scan', async () => {
      const byKey = /SEARCH spindle_jobs USING (INTEGER PRIMARY KEY \(rowid=\?\)|(COVERING )?INDEX sqlite_autoindex_spindle_jobs_1 \(id=\?\))/;
      for (const action of [
        () => backend.retryJobs({ ids: ['a-dead-1', 'a-completed-1', 'a-queued-1', 'missing'] }),
        () => backend.promoteJobs({ ids: ['b-scheduled-1', 'b-retrying-1', 'b-queued-1', 'missing'] }),
        () => backend.updateJobPayloads({ items: [{ id: 'c-queued-1', payload: '{}' }, { id: 'c-running-1', payload: '{}' }] }),
        () => backend.deleteJobs({ ids: ['c-cancelled-1', 'c-running-2', 'missing'] }),
      ]) {
        const planned = (await plans(action)).filter((p) => /spindle_jobs\b/.test(p.sql));
        assert.ok(planned.length > 0);
        for (const p of planned) {
          assert.doesNotMatch(p.plan.join('\n'), /\bSCAN spindle_jobs\b/, flat([p]));
          assert.match(p.plan.join('\n'), byKey, flat([p]));
        }
      }
    });
  });
}
