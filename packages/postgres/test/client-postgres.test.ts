// PostgreSQL-only client behaviour: transactional enqueue through Queue.add, and progress by
// polling alone when no LISTEN connection exists (notifications only cut latency).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeClient, waitFor } from '@spindle/conformance';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

describe('postgres: client features', () => {
  it('adds a job inside the caller’s transaction: it exists only if that transaction commits', async () => {
    const { backend, cleanup } = await makeTestBackend();
    const client = makeClient(backend);
    try {
      const q = client.queue('orders');
      const conn = await backend.pool.connect();
      try {
        await conn.query('BEGIN');
        const kept = await q.add('confirm', { order: 1 }, { transaction: conn });
        await conn.query('COMMIT');
        await conn.query('BEGIN');
        const dropped = await q.add('confirm', { order: 2 }, { transaction: conn });
        assert.equal(await client.getJob(dropped.id), null, 'invisible outside the open transaction');
        await conn.query('ROLLBACK');
        assert.equal((await client.getJob(kept.id))?.state, 'queued');
        assert.equal(await client.getJob(dropped.id), null);
        const seen: string[] = [];
        q.process(async (job) => {
          seen.push(job.id);
        });
        await waitFor(async () => (await client.getJob(kept.id))?.state === 'completed', 'committed job runs');
        assert.deepEqual(seen, [kept.id]);
      } finally {
        conn.release();
      }
    } finally {
      await client.close({ graceMs: 100 });
      await cleanup();
    }
  });

  it('keeps processing by polling when the worker’s backend has no LISTEN connection', async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    const deaf = new PostgresBackend({ connectionString, schema, listen: false, poolMax: 2 });
    const producer = makeClient(backend);
    const consumer = makeClient(deaf, { maintenance: false });
    try {
      assert.equal(deaf.capabilities.crossProcessEvents, false);
      consumer.queue('polled').process(async () => 'ok', { pollIntervalMs: 50 });
      await consumer.start();
      const { id } = await producer.queue('polled').add('x', {});
      await waitFor(async () => (await producer.getJob(id))?.state === 'completed', 'completed by polling');
    } finally {
      await consumer.close({ graceMs: 100 });
      await producer.close({ graceMs: 100 });
      await deaf.close();
      await cleanup();
    }
  });
});
