/**
 * Topic consumers across real processes on one PostgreSQL schema, SIGKILLed and restarted while
 * messages are published (see @spindle/conformance crash/topic-crash-tests.ts). Never skipped:
 * the test database must be reachable. SPINDLE_TOPIC_CRASH_MESSAGES=100000 runs the full
 * size (default 5,000).
 */
import { fileURLToPath } from 'node:url';
import { topicCrashTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

topicCrashTests({
  name: 'postgres',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  topicChildScript: fileURLToPath(new URL('./fixtures/topic-consumer-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, schema, connectionString, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_PG_URL: connectionString, SPINDLE_PG_SCHEMA: schema } };
  },
});
