// SQLite-only client behaviour: transactional enqueue is a PostgreSQL capability; asking for it
// here is a clear validation error that writes nothing.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '@spindle/core';
import { makeClient } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

it('sqlite: rejects the transaction option (no transactional enqueue) and writes nothing', async () => {
  const { backend, cleanup } = await makeTestBackend();
  const client = makeClient(backend);
  try {
    assert.equal(backend.capabilities.transactionalEnqueue, false);
    await assert.rejects(
      () => client.queue('q').add('x', {}, { transaction: {} }),
      (err: unknown) => err instanceof ValidationError && /does not support transactional enqueue/.test(err.message),
    );
    assert.deepEqual(await client.counts(), {});
  } finally {
    await client.close();
    await cleanup();
  }
});
