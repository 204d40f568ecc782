/**
 * @spindle/core — Spindle's public surface: the Client, typed Queues and Workers, the DLQ API,
 * the error taxonomy, and the Backend interface (with the helpers backends share).
 *
 * @example
 * const client = await Client.open({ backend: new SqliteBackend({ path: 'spindle.db' }) });
 * const emails = client.queue<{ to: string }>('emails');
 * await emails.add('welcome', { to: 'ada@example.com' });
 * emails.process(async (job) => sendMail(job.payload.to), { concurrency: 5 });
 */
export * from './errors.js';
export * from './job/types.js';
export { DEFAULT_BACKOFF, computeBackoff, applyJitter, baseDelay } from './job/backoff.js';
export { type JobOptions, type RemoveOption, DEFAULT_MAX_RETRIES } from './job/options.js';
export { type UniqueOptions, uniqueOf } from './job/unique.js';
export { newJobId } from './job/job-id.js';
export { failureAction, failureReason, toAttemptError, type ErrorClassification, type ErrorClassifier, type BackoffFunction, type JobInfo } from './job/outcome.js';
export * from './backend/backend.js';
export * from './backend/helpers.js';
export * from './backend/migrations.js';
export { Client, type ClientOptions, type RetentionOptions, type MaintenanceOptions } from './client.js';
export { Queue, type QueueDefinition, type AddResult, type BulkJob } from './queue.js';
export { Worker, type WorkerOptions, type JobHandler, type ServedQueues } from './worker/worker.js';
export { ClaimPlanner, type PlannedClaim, type SchedulingStrategy } from './scheduling/claim-planner.js';
export { checkQueueLimits, checkHold, type QueueLimitsInput } from './scheduling/limits-input.js';
export { parseServedQueues, MAX_SERVED_QUEUES, MAX_WEIGHT, type WorkerQueues, type QueueRef } from './scheduling/served-queues.js';
export { type ActiveJob, MAX_PROGRESS_BYTES } from './worker/execution.js';
export { Dlq, type DlqFilter, type DlqSelection, type DlqReplayOptions, type DlqReplaySummary } from './dlq.js';
export { JobAdmin } from './job-admin.js';
export { Topics } from './topics/topics.js';
export { Consumer, type ConsumerOptions, type ConsumedBatch, type ConsumedMessage, type RunHandlers, CommitRefusedError, type RefusedCommit } from './topics/consumer.js';
export { fnv1a32, partitionOfKey, MAX_PARTITIONS, type PublishInput, type TopicOptions } from './topics/input.js';
export { Schedules, MAX_NEXT_RUNS, type UpsertScheduleOutcome, type ListSchedulesOptions } from './schedules.js';
export { type Schedule, type ScheduleSpec, type ScheduleJobOptions, checkScheduleSpec, SCHEDULE_JOB_OPTION_KEYS, SCHEDULE_SPEC_KEYS, MAX_BACKFILL, MIN_EVERY_MS } from './schedule/spec.js';
export { tickJobId, canonicalTimezone } from './schedule/timing.js';
export { planScheduleUpsert, type ScheduleUpsertPlan } from './backend/schedule-plan.js';
export { ScheduleRunner, type ScheduleRunnerOptions } from './services/schedule-runner.js';
export { type FlowSpec, type FlowNode, type FlowResult, type FlowChild } from './flow.js';
export { type ListParams } from './filters.js';
export { type ClientEventMap, type ClientEventName } from './events.js';
export { type Logger, consoleLogger, silentLogger } from './logger.js';
export { Loop, type Service } from './services/loop.js';
export { DEFAULT_MAINTENANCE, type MaintenanceIntervals } from './services/maintenance.js';
export { DEFAULT_TELEMETRY, DEFAULT_IDEMPOTENCY_TTL_MS, type TelemetryOptions } from './telemetry/telemetry.js';
export { TRACE_ATTRIBUTES, MESSAGING_SYSTEM, TRACER_NAME } from './telemetry/tracing.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, MAX_DELAY_MS, MAX_JSON_DEPTH, JOB_ID_RE, Issues, checkInt, checkKnownKeys, checkPlainObject, checkIdentifier, checkJobId, describe } from './validate.js';
