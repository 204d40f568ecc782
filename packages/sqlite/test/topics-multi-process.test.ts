/**
 * Topic consumers across real processes sharing one SQLite file, SIGKILLed and restarted while
 * messages are published (see @spindle/conformance crash/topic-crash-tests.ts).
 * SPINDLE_TOPIC_CRASH_MESSAGES=100000 runs the full size (default 5,000).
 */
import { fileURLToPath } from 'node:url';
import { topicCrashTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

topicCrashTests({
  name: 'sqlite',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  topicChildScript: fileURLToPath(new URL('./fixtures/topic-consumer-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_SQLITE_PATH: path } };
  },
});
