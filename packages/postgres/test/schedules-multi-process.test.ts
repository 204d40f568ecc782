/**
 * Schedules across real processes on one PostgreSQL schema (see @spindle/conformance
 * schedule-handover.ts): the maintenance leader is SIGKILLed mid-way; one job per tick throughout.
 * Leadership on PostgreSQL is a session advisory lock, freed when the killed process's
 * connection drops. Never skipped: the test database must be reachable.
 */
import { fileURLToPath } from 'node:url';
import { scheduleHandoverTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

scheduleHandoverTests({
  name: 'postgres',
  ttlMs: 1500,
  childScript: fileURLToPath(new URL('./fixtures/schedule-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_PG_URL: connectionString, SPINDLE_PG_SCHEMA: schema } };
  },
});
