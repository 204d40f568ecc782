/**
 * The model-based property test of topics and consumer groups (@spindle/conformance
 * model/topic-run.ts) against PostgresBackend, each run on a fresh schema of the test database.
 * SPINDLE_TOPIC_MODEL_RUNS / SPINDLE_TOPIC_MODEL_SEED change the run count / replay a failure.
 */
import { runTopicModelTest } from '@spindle/conformance';
import { makeTestBackend } from './helpers.js';

runTopicModelTest({ name: 'postgres', makeBackend: makeTestBackend, numRuns: 30 });
