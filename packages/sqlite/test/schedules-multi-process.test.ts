/**
 * Schedules across real processes on one SQLite file (see @spindle/conformance
 * schedule-handover.ts): the maintenance leader is SIGKILLed mid-way; one job per tick throughout.
 * Leadership on SQLite is a row with a TTL, so the takeover waits for the dead leader's lease.
 */
import { fileURLToPath } from 'node:url';
import { scheduleHandoverTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

scheduleHandoverTests({
  name: 'sqlite',
  ttlMs: 3000,
  childScript: fileURLToPath(new URL('./fixtures/schedule-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_SQLITE_PATH: path } };
  },
});
