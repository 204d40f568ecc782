/**
 * Queue limits across real processes on one PostgreSQL schema (see @spindle/conformance
 * limit-tests.ts): a global concurrency limit and a rate limit, never exceeded. Never skipped:
 * the test database must be reachable.
 */
import { fileURLToPath } from 'node:url';
import { limitProcessTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

limitProcessTests({
  name: 'postgres',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_PG_URL: connectionString, SPINDLE_PG_SCHEMA: schema } };
  },
});
