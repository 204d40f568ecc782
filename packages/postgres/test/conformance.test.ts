/**
 * Runs the backend conformance suite and the model-based test against PostgresBackend, each test
 * on a fresh schema of the test database.
 */
import { runBackendConformance, runModelTest } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

runBackendConformance({ name: 'postgres', makeBackend: makeTestBackend });
runModelTest({ name: 'postgres', makeBackend: makeTestBackend, numRuns: 50 });
