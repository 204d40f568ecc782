/**
 * zod schemas shared by the routes: names, ids, job options, the job view and problem bodies.
 * They drive request validation, the TypeScript types of handlers and the OpenAPI document.
 *
 * Invariants:
 * - Request schemas are strict (`z.strictObject`): an unknown field is a 400, not ignored, so a
 *   typo such as `maxAttempts` never silently does nothing.
 * - These schemas check shape and ranges; the core re-validates semantics at its own entry
 *   points, so a request that passes here can still get a 400 from the core, never a 500.
 */
import { IDENTIFIER_RE, JOB_ID_RE, JOB_STATES, MAX_DELAY_MS, MAX_JSON_DEPTH } from '@spindle/core';
import { z } from 'zod';
import { MAX_BATCH } from '../options.js';

export const NameSchema = z.string().regex(IDENTIFIER_RE, 'must match ^[A-Za-z0-9._-]{1,128}$');
export const JobIdSchema = z.string().regex(JOB_ID_RE, 'must match ^[A-Za-z0-9._:-]{1,255}$');
export const StateSchema = z.enum(JOB_STATES);

export const QueueParams = z.strictObject({ queue: NameSchema });
export const JobParams = z.strictObject({ id: JobIdSchema });

/** An ISO 8601 instant with an explicit offset (`Z` or `±hh:mm`): a bare local time is ambiguous. */
export const InstantSchema = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a timezone, e.g. 2026-01-31T09:00:00Z' });

const RemoveSchema = z.union([z.boolean(), z.int().min(0).max(1_000_000), z.strictObject({ ageMs: z.int().min(0).optional(), count: z.int().min(0).optional() })]);

const BackoffSchema = z.union([
  z.strictObject({ type: z.literal('fixed'), delayMs: z.int().min(0), jitter: z.union([z.enum(['none', 'full', 'equal']), z.number()]).optional() }),
  z.strictObject({
    type: z.literal('exponential'),
    delayMs: z.int().min(0),
    factor: z.number().optional(),
    maxDelayMs: z.int().min(0).optional(),
    jitter: z.union([z.enum(['none', 'full', 'equal']), z.number()]).optional(),
  }),
]);

/** `opts.unique` (docs/decisions/0016-unique-jobs.md); exclusive with `uniqueKey` (checked by the core). */
const UniqueSchema = z
  .strictObject({
    key: z.string().min(1).max(512),
    while: z
      .union([z.enum(['queued', 'active']), z.strictObject({ forMs: z.int().min(1).max(MAX_DELAY_MS) })])
      .optional()
      .describe("How long the key is held: 'queued' (until the job starts), 'active' (default: until it finishes), or { forMs } from the add."),
    onConflict: z
      .enum(['keep', 'replace'])
      .optional()
      .describe("When the key is held: 'keep' (default) adds nothing; 'replace' also gives a holder that has not started this job's name, payload, priority and run time."),
  })
  .describe('A unique key with its mode (instead of uniqueKey, which is { key } with the defaults).');

export const JobOptionsSchema = z
  .strictObject({
    id: JobIdSchema.optional().describe('Caller-chosen id: adding a job whose id exists returns the existing job.'),
    uniqueKey: z.string().min(1).max(512).optional().describe('At most one live job per key in the queue.'),
    unique: UniqueSchema.optional(),
    group: z.string().min(1).max(128).optional().describe("Tenant group: claims rotate across a queue's groups; group limits apply per group."),
    delay: z.int().min(0).optional().describe('Milliseconds to wait before the job is due.'),
    runAt: InstantSchema.optional().describe('When the job is due; a past instant means now.'),
    priority: z.union([z.enum(['critical', 'high', 'normal', 'low']), z.int().min(0).max(1000)]).optional().describe('Lower runs first; default normal (500).'),
    maxRetries: z.int().min(0).max(1000).optional().describe('Retries after the first attempt; default 3.'),
    backoff: BackoffSchema.optional(),
    timeoutMs: z.int().min(1).optional().describe('Per-attempt time limit.'),
    removeOnComplete: RemoveSchema.optional(),
    removeOnFail: RemoveSchema.optional(),
  })
  .describe('Job options; the names and meanings are those of the library (queue.add).');

export const EnqueueBody = z.strictObject({
  name: NameSchema.describe('The job type, e.g. send-email.'),
  payload: z.unknown().optional().describe(`Any JSON value (nesting ≤ ${MAX_JSON_DEPTH}); default null.`),
  opts: JobOptionsSchema.optional(),
  callbackUrl: z.string().max(2048).optional().describe('POSTed (signed) when the job finishes: completed, dead or cancelled. Needs webhooks configured.'),
});

export const EnqueueBatchBody = z.strictObject({
  jobs: z.array(EnqueueBody).min(1).max(MAX_BATCH),
});

export const EnqueueResult = z.object({
  id: z.string(),
  status: StateSchema,
  duplicate: z.boolean().describe('True when the id or unique key matched an existing job, which is returned unchanged (unless `replaced`).'),
  replaced: z.boolean().optional().describe("onConflict 'replace': the existing job (`id`) had not started and took this job's name, payload, priority and run time."),
});

const AttemptErrorView = z.object({
  attempt: z.int(),
  round: z.int(),
  kind: z.string(),
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  workerId: z.string().nullable().optional(),
  at: z.string(),
});

export const JobView = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  status: StateSchema,
  payload: z.unknown().optional(),
  priority: z.int(),
  attempt: z.int(),
  maxAttempts: z.int(),
  progress: z.unknown(),
  result: z.unknown(),
  errors: z.array(AttemptErrorView),
  uniqueKey: z.string().nullable(),
  unique: z
    .object({ key: z.string(), while: z.union([z.enum(['queued', 'active']), z.object({ forMs: z.int() })]) })
    .nullable()
    .describe('The unique key and how long it is held.'),
  group: z.string().nullable(),
  timeoutMs: z.int().nullable(),
  round: z.int(),
  createdAt: z.string(),
  runAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  leaseExpiresAt: z.string().nullable(),
  workerId: z.string().nullable(),
  cancelRequested: z.boolean(),
  failureReason: z.string().nullable(),
  firstFailedAt: z.string().nullable(),
  lastFailedAt: z.string().nullable(),
  resolution: z.object({ note: z.string(), at: z.string() }).nullable(),
  expiresAt: z.string().nullable(),
  parentId: z.string().nullable().describe('Flows: the job this one is a child of.'),
  pendingChildren: z.int().nullable().describe('Flows, jobs with children: children not finished yet.'),
  onChildFailure: z.enum(['fail', 'continue']).nullable().describe('Flows, jobs with children: what a dead or cancelled child does to this job.'),
  children: z
    .array(z.object({ id: z.string(), queue: z.string(), name: z.string(), status: StateSchema, failureReason: z.string().nullable() }))
    .optional()
    .describe('Flows (GET /jobs/:id of a job with children): its children in flow order (those in queues this key may read).'),
});

export const JobPageView = z.object({ jobs: z.array(JobView), nextCursor: z.string().nullable() });

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  code: z.string(),
  detail: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/** Standard error answers, added to every route's response schemas for the OpenAPI document. */
export const PROBLEM_RESPONSES = { 400: Problem, 404: Problem, 409: Problem, 503: Problem };

/** Comma-separated list in a query string (`state=queued,running`). */
export function csv<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .max(2000)
    .transform((s) => s.split(',').filter((x) => x.length > 0))
    .pipe(z.array(item).min(1).max(100));
}
