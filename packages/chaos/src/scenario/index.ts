/**
 * The chaos scenario runner (reliability.md §5.3): process-fault and job-driven scenarios on
 * SQLite and PostgreSQL, each ending in a fault-free drain, the checker and a report.
 * `../suite.ts` (`npm run chaos`) runs the full tier; `worker-child.ts` is the worker process (not exported).
 */
export * from './settings.js';
export * from './backends.js';
export * from './faults-process.js';
export * from './workers.js';
export * from './measure.js';
export * from './report.js';
export * from './runner.js';
export * from './scenarios-process.js';
export * from './scenarios-jobs.js';
export * from './catalog.js';
export { POISON_EXIT_CODE, indexLeaseTokens } from './handler.js';
