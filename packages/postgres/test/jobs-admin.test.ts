/**
 * PostgreSQL-specific proof of the operator actions' compare-and-set (src/jobs-admin.ts): when a
 * concurrent transaction changes a job while the action's statement waits for the row lock, the
 * statement judges the row on its new version and does not write it, and the item is
 * re-examined in a fresh statement that answers from the committed state (the shared suite's
 * races rarely interleave this finely). A retry whose unique key a concurrent transaction takes
 * meanwhile is re-run and answers `unique_conflict`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { fixtures } from '@spindle/conformance';
import type { PostgresBackend } from '../src/index.js';
import { makeTestBackendWith, TEST_PG_URL } from './helpers.js';

const { KEEP_FOREVER, finalizeOne, insertAndClaim, insertOne, jobInsert, makeDead, mustGet } = fixtures;

async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Race {
  backend: PostgresBackend;
  /** The jobs table, schema-qualified. */
  jobs: string;
  /** Runs `action` while another transaction holds job rows changed by `change`; commits it once the action waits. */
  during<T>(change: (client: pg.Client) => Promise<unknown>, action: () => Promise<T>): Promise<T>;
}

async function withRace(body: (race: Race) => Promise<void>): Promise<void> {
  const applicationName = `spindle-admin-${randomBytes(4).toString('hex')}`;
  const { backend, schema, cleanup } = await makeTestBackendWith({ applicationName });
  const other = new pg.Client({ connectionString: TEST_PG_URL });
  const observer = new pg.Client({ connectionString: TEST_PG_URL });
  await Promise.all([other.connect(), observer.connect()]);
  const blocked = async () =>
    (await observer.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName])).rows.length > 0;
  try {
    await body({
      backend,
      jobs: `"${schema}".jobs`,
      async during(change, action) {
        await other.query('BEGIN');
        try {
          await change(other);
          const pending = action();
          pending.catch(() => {}); // awaited below; a rejection must not go unhandled meanwhile
          await waitFor(blocked, 'the action to wait on the locked row');
          await other.query('COMMIT');
          return await pending;
        } catch (err) {
          await other.query('ROLLBACK').catch(() => {});
          throw err;
        }
      },
    });
  } finally {
    await Promise.all([other.end(), observer.end()]);
    await cleanup();
  }
}

describe('postgres operator actions under a concurrent transaction', () => {
  it('a retry waiting on a job that another transaction replays answers wrong_state and moves it once', () =>
    withRace(async ({ backend, jobs, during }) => {
      const t0 = await backend.now();
      const id = await makeDead(backend, t0);
      const replay = (client: pg.Client) => client.query(`UPDATE ${jobs} SET state = 'queued', round = round + 1, attempt = 0 WHERE id = $1`, [id]);
      assert.deepStrictEqual(await during(replay, () => backend.retryJobs({ ids: [id] })), ['wrong_state']);
      const record = await mustGet(backend, id);
      assert.deepStrictEqual([record.state, record.round], ['queued', 1]);
    }));

  it('a retry waiting on a job that another transaction deletes answers not_found', () =>
    withRace(async ({ backend, jobs, during }) => {
      const id = await makeDead(backend, await backend.now());
      const remove = (client: pg.Client) => client.query(`DELETE FROM ${jobs} WHERE id = $1`, [id]);
      assert.deepStrictEqual(await during(remove, () => backend.retryJobs({ ids: [id] })), ['not_found']);
    }));

  it('a delete or a payload edit waiting on a job that gets claimed leaves it alone', () =>
    withRace(async ({ backend, jobs, during }) => {
      const [a, b] = [await insertOne(backend, { payload: '{"v":1}' }), await insertOne(backend, { payload: '{"v":1}' })];
      const claim = (id: string) => (client: pg.Client) =>
        client.query(`UPDATE ${jobs} SET state = 'running', attempt = 1, lease_token = 'x', lease_expires_at = now() + interval '1 minute' WHERE id = $1`, [id]);
      assert.deepStrictEqual(await during(claim(a), () => backend.deleteJobs({ ids: [a] })), ['wrong_state']);
      assert.equal((await mustGet(backend, a)).state, 'running');
      const edit = () => backend.updateJobPayloads({ items: [{ id: b, payload: '{"v":2}' }] });
      assert.deepStrictEqual(await during(claim(b), edit), ['wrong_state']);
      const record = await mustGet(backend, b);
      assert.deepStrictEqual([record.state, record.payload], ['running', { v: 1 }]);
    }));

  it('a promote waiting on a job that the promoter moves answers wrong_state', () =>
    withRace(async ({ backend, jobs, during }) => {
      const id = await insertOne(backend, { delayMs: 60_000 });
      const promote = (client: pg.Client) => client.query(`UPDATE ${jobs} SET state = 'queued' WHERE id = $1`, [id]);
      assert.deepStrictEqual(await during(promote, () => backend.promoteJobs({ ids: [id, id] })), ['wrong_state', 'wrong_state']);
    }));

  it('a retry whose unique key a concurrent insert takes is re-run and answers unique_conflict', () =>
    withRace(async ({ backend, during }) => {
      const t0 = await backend.now();
      const done = await insertAndClaim(backend, { uniqueKey: 'invoice-9' }, { now: t0 });
      assert.equal(await finalizeOne(backend, done, { kind: 'complete', result: null }, t0, KEEP_FOREVER), 'ok');
      const holder = jobInsert({ uniqueKey: 'invoice-9' });
      const insert = (client: pg.Client) => backend.insertJobs({ jobs: [holder], transaction: client });
      assert.deepStrictEqual(await during(insert, () => backend.retryJobs({ ids: [done.id] })), ['unique_conflict']);
      assert.equal((await mustGet(backend, done.id)).state, 'completed');
      assert.equal((await mustGet(backend, holder.id)).state, 'queued');
    }));
});
