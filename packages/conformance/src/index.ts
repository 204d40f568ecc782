/**
 * @spindle/conformance: the suite every Spindle backend must pass. `runBackendConformance`
 * registers the per-operation tests; `runModelTest` registers a model-based property test of
 * random operation sequences. Both take a factory of fresh, migrated backends.
 */
export { runBackendConformance } from './backend/index.js';
export { runModelTest, type ModelTestOptions } from './model/index.js';
export { runTopicModelTest, type TopicModelTestOptions } from './model/topic-run.js';
export type { BackendHandle, ConformanceOptions, TestEnv } from './suite.js';
export * as fixtures from './backend/fixtures.js';
export { runClientConformance, makeClient, waitFor, deferred, FAST_MAINTENANCE, type BackendFactory } from './client/index.js';
export { crashTests, type CrashFactory } from './crash/crash-tests.js';
export { runCrashChild } from './crash/crash-child.js';
export { limitProcessTests } from './crash/limit-tests.js';
export { topicCrashTests } from './crash/topic-crash-tests.js';
export { runTopicConsumerChild } from './crash/topic-consumer-child.js';
export { scheduleHandoverTests, type ScheduleHandoverFactory } from './crash/schedule-handover.js';
export { runScheduleChild } from './crash/schedule-child.js';
