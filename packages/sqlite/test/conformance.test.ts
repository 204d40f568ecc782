/**
 * Runs the backend conformance suite and the model-based test against SqliteBackend, each test
 * on a fresh temporary database file.
 */
import { runBackendConformance, runModelTest } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

runBackendConformance({ name: 'sqlite', makeBackend: makeTestBackend });
runModelTest({ name: 'sqlite', makeBackend: makeTestBackend, numRuns: 100 });
