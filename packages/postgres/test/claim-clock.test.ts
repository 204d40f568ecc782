/**
 * A claim's time is read after its snapshot. Regression test for what the chaos scenario C3
 * found after a PostgreSQL restart: a claim statement's `now()` is its transaction's start,
 * which precedes its snapshot by the statement's parse and plan time (tens of ms on a fresh
 * connection under load); a job inserted by a transaction that began in between was visible to
 * the claim and got a start time (and lease) before its own `run_at` / `created_at` (the
 * checker's I13: "claimed 11 ms before its runAt"; the final state: started_at < created_at).
 *
 * The gap is made deterministic here: the claim runs inside a transaction that began 200 ms
 * before the job was inserted (a READ COMMITTED statement still takes a fresh snapshot, which
 * sees the job). Its start must not be before the job's run_at.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { JobInsert } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend, TEST_PG_URL } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function job(): JobInsert {
  return {
    id: `clock-${randomBytes(6).toString('hex')}`, queue: 'clock-test', name: 'task', payload: '{}', priority: 500, maxRetries: 3,
    delayMs: null, runAt: null, uniqueKey: null, timeoutMs: null, backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

/** A "pool" whose every query runs on one client, inside the transaction that client has open. */
function poolOn(client: pg.Client): pg.Pool {
  return {
    options: {},
    query: (config: pg.QueryConfig) => client.query(config),
    connect: () => Promise.reject(new Error('not in this test')),
    on: () => undefined,
    end: () => Promise.resolve(),
  } as unknown as pg.Pool;
}

describe('claim clock', () => {
  it("a claim never starts before the run_at of a job it takes, even when its transaction began before the job's insert", async () => {
    const { backend, schema, cleanup } = await makeTestBackend();
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      await client.query('BEGIN'); // READ COMMITTED: each statement takes a new snapshot
      await client.query('SELECT 1'); // the transaction (and its now()) starts here
      await sleep(200);
      const j = job();
      await backend.insertJobs({ jobs: [j] }); // committed, run_at = its own now(), 200 ms later
      const claimer = new PostgresBackend({ pool: poolOn(client), schema, listen: false });
      const claimed = await claimer.claimJobs({ queue: 'clock-test', workerId: 'w', limit: 1, leaseMs: 30_000 });
      assert.equal(claimed.length, 1, 'the claim sees the committed job');
      const [c] = claimed;
      const start = c!.leaseExpiresAt.getTime() - 30_000;
      assert.ok(start >= c!.runAt.getTime(), `claim started ${c!.runAt.getTime() - start} ms before the job's run_at`);
      assert.ok(start >= c!.createdAt.getTime(), `claim started ${c!.createdAt.getTime() - start} ms before the job was created`);
      await client.query('COMMIT');
      const record = await backend.getJob(j.id);
      assert.ok(record!.startedAt!.getTime() >= record!.createdAt.getTime(), 'started_at is not before created_at');
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      await client.end();
      await cleanup();
    }
  });
});
