/**
 * Queue limits across real processes sharing one SQLite file (see @spindle/conformance
 * limit-tests.ts): a global concurrency limit and a rate limit, never exceeded.
 */
import { fileURLToPath } from 'node:url';
import { limitProcessTests } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

limitProcessTests({
  name: 'sqlite',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_SQLITE_PATH: path } };
  },
});
