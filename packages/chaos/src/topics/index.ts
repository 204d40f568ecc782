/**
 * C12, consumer group crashes (reliability.md §5.3): the runner, its report, the pure measures
 * and the tier settings. `consumer-child.ts` is the consumer process (not exported).
 */
export * from './settings.js';
export * from './consumers.js';
export * from './drive.js';
export * from './measure.js';
export * from './report.js';
export * from './runner.js';
