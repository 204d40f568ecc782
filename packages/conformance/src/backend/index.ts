/**
 * `runBackendConformance`: registers the whole backend-level conformance suite for one backend
 * (one `describe` per resource, each test on a fresh migrated backend). Backends call it from a
 * `*.test.ts` file with their own factory; see packages/sqlite/test/conformance.test.ts.
 */
import { describe } from 'node:test';
import { createSuite, type ConformanceOptions } from '../suite.js';
import { adminTests } from './admin.js';
import { cancelTests } from './cancel.js';
import { claimTests } from './claim.js';
import { countTests } from './counts.js';
import { dispatchTests } from './dispatch.js';
import { dlqTests } from './dlq.js';
import { eventTests } from './events.js';
import { finalizeTests } from './finalize.js';
import { flowTests } from './flows.js';
import { insertTests } from './insert.js';
import { leaseTests } from './leases.js';
import { limitTests } from './limits.js';
import { groupTests } from './groups.js';
import { topicTests } from './topics.js';
import { maintenanceTests } from './maintenance.js';
import { readTests } from './reads.js';
import { retentionTests } from './retention.js';
import { workerTests } from './workers.js';
import { idempotencyTests } from './idempotency.js';
import { statsTests } from './stats.js';
import { scheduleTests } from './schedules.js';
import { uniqueConflictTests } from './unique-conflicts.js';
import { uniqueTests } from './unique.js';

export function runBackendConformance(options: ConformanceOptions): void {
  describe(`${options.name} backend conformance`, () => {
    const suite = createSuite(options);
    insertTests(suite);
    claimTests(suite);
    dispatchTests(suite);
    leaseTests(suite);
    limitTests(suite);
    groupTests(suite);
    topicTests(suite);
    finalizeTests(suite);
    cancelTests(suite);
    maintenanceTests(suite);
    retentionTests(suite);
    readTests(suite);
    countTests(suite);
    dlqTests(suite);
    adminTests(suite);
    eventTests(suite);
    workerTests(suite);
    idempotencyTests(suite);
    statsTests(suite);
    scheduleTests(suite);
    flowTests(suite);
    uniqueTests(suite);
    uniqueConflictTests(suite);
    suite.finish();
  });
}
