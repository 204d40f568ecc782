// Client-level conformance (Client, Queue, Worker) and real-process crash tests on PostgreSQL.
import { fileURLToPath } from 'node:url';
import { crashTests, runClientConformance } from '@spindle/conformance';
import { PostgresBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

runClientConformance({
  name: 'postgres',
  makeBackend: async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    return { backend, cleanup, openAnother: async () => new PostgresBackend({ connectionString, schema, poolMax: 2 }) };
  },
});

crashTests({
  name: 'postgres',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_PG_URL: connectionString, SPINDLE_PG_SCHEMA: schema } };
  },
});
