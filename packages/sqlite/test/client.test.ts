// Client-level conformance (Client, Queue, Worker) and real-process crash tests on SQLite,
// where the worker processes share the database file with the test process.
import { fileURLToPath } from 'node:url';
import { crashTests, runClientConformance } from '@spindle/conformance';
import { SqliteBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';

runClientConformance({
  name: 'sqlite',
  makeBackend: async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    return { backend, cleanup, openAnother: async () => new SqliteBackend({ path }) };
  },
});

crashTests({
  name: 'sqlite',
  childScript: fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url)),
  makeBackend: async () => {
    const { backend, path, cleanup } = await makeTestBackend();
    return { backend, cleanup, childEnv: { SPINDLE_SQLITE_PATH: path } };
  },
});
