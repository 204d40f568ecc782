/**
 * The client-level conformance suite: Client, Queue and Worker behaviour on a real backend.
 * Every backend package runs it (`runClientConformance({ name, makeBackend })`).
 */
import { controlTests } from './control.js';
import { dlqTests } from './dlq.js';
import { dispatchTests } from './dispatch.js';
import { fencingTests } from './fencing.js';
import { flowTests } from './flows.js';
import type { BackendFactory } from './harness.js';
import { jobActionTests } from './jobs.js';
import { lifecycleTests } from './lifecycle.js';
import { limitClientTests } from './limits.js';
import { reviewTests } from './review.js';
import { schedulingTests } from './scheduling.js';
import { telemetryTests } from './telemetry.js';
import { scheduleClientTests } from './schedules.js';
import { uniqueClientTests } from './unique.js';
import { topicClientTests } from './topics.js';
import { topicWakeupTests } from './topic-wakeups.js';

export type { BackendFactory } from './harness.js';
export { makeClient, waitFor, deferred, FAST_MAINTENANCE } from './harness.js';

export function runClientConformance(factory: BackendFactory): void {
  lifecycleTests(factory);
  controlTests(factory);
  fencingTests(factory);
  dlqTests(factory);
  jobActionTests(factory);
  dispatchTests(factory);
  reviewTests(factory);
  telemetryTests(factory);
  scheduleClientTests(factory);
  schedulingTests(factory);
  limitClientTests(factory);
  flowTests(factory);
  uniqueClientTests(factory);
  topicClientTests(factory);
  topicWakeupTests(factory);
}
