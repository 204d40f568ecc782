/**
 * Unique modes under real concurrency on PostgreSQL: two backend instances (two pools) on one
 * schema add jobs with the same key at once, round after round, in every mode and with
 * `replace`; each round leaves exactly one job holding the key, every answer names it, and no
 * insert fails (docs/decisions/0016-unique-jobs.md, "Races").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InsertOutcome, JobInsert, UniqueScope } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

let n = 0;
function job(key: string, scope: UniqueScope | null, replace: boolean): JobInsert {
  n += 1;
  return {
    id: `u-${n}-${Math.random().toString(36).slice(2, 8)}`,
    queue: 'race',
    name: 'x',
    payload: JSON.stringify({ n }),
    priority: 500,
    maxRetries: 0,
    delayMs: null,
    runAt: null,
    uniqueKey: key,
    ...(scope === null ? {} : { uniqueMode: { scope, forMs: scope === 'period' ? 600_000 : null, replace } }),
    timeoutMs: null,
    backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

test('two backends adding one key at once leave one holder per key, in every mode, round after round', async () => {
  const { backend, schema, connectionString, cleanup } = await makeTestBackend();
  const other = new PostgresBackend({ connectionString, schema, poolMax: 4 });
  try {
    const scopes: Array<UniqueScope | null> = [null, 'queued', 'active', 'period'];
    for (let round = 0; round < 12; round++) {
      for (const scope of scopes) {
        const key = `k-${round}-${scope}`;
        // Each call: a batch of two jobs of the key (the second replacing), from either backend.
        const calls = Array.from({ length: 8 }, (_, c) => (c % 2 === 0 ? backend : other).insertJobs({ jobs: [job(key, scope, c % 3 === 0), job(key, scope, true)] }));
        const outcomes: InsertOutcome[] = (await Promise.all(calls)).flat();
        const winners = outcomes.filter((o) => o.inserted);
        assert.equal(winners.length, 1, `${key}: one job went in (${JSON.stringify(outcomes)})`);
        assert.ok(outcomes.every((o) => o.id === winners[0]!.id), `${key}: every answer names it`);
      }
    }
    const page = await backend.listJobs({ limit: 1000 });
    assert.equal(page.jobs.length, 12 * scopes.length);
  } finally {
    await other.close();
    await cleanup();
  }
});

test('a unique-mode batch in its own transaction is delivered to local subscribers without LISTEN', async () => {
  const { schema, connectionString, cleanup } = await makeTestBackend();
  const quiet = new PostgresBackend({ connectionString, schema, listen: false });
  const events: Array<{ type: string; jobId?: string }> = [];
  const stop = quiet.subscribe!((batch) => events.push(...(batch as Array<{ type: string; jobId?: string }>)));
  try {
    const first = { ...job('local-key', 'active', true), delayMs: 60_000 };
    const second = { ...job('local-key', 'active', true), delayMs: 60_000 };
    await quiet.insertJobs({ jobs: [first] });
    const [answer] = await quiet.insertJobs({ jobs: [second] });
    assert.equal(answer!.replaced, true);
    await new Promise((r) => setImmediate(r)); // local delivery is on the next tick
    assert.deepEqual(
      events.filter((e) => e.jobId === first.id).map((e) => e.type),
      ['added', 'updated'],
      'the insert and the replace, heard at once in this process',
    );
  } finally {
    stop();
    await quiet.close();
    await cleanup();
  }
});
