/**
 * The HTTP worker protocol, so a program in any language can work a queue:
 *   POST /queues/:queue/claim   → jobs with {id, attempt, leaseToken, payload, …} (long-poll ≤ 20 s)
 *   POST /jobs/:id/heartbeat    → extends the lease; says whether a cancel was requested
 *   POST /jobs/:id/progress     → stores progress
 *   POST /jobs/:id/complete     → completed, with an optional result
 *   POST /jobs/:id/fail         → retrying (backoff from the job's settings) or dead
 *
 * Invariants:
 * - Every write after the claim is fenced by (id, attempt, leaseToken) in the backend: a stale,
 *   expired-and-rescued, or foreign token gets 409 `lease_lost` and changes nothing; an unknown
 *   id gets 404. A repeated complete is a 409 (the first one won; one terminal event).
 * - The retry decision for `fail` is the library's (`failureAction`): the same attempts limit,
 *   backoff and cancel rules as an in-process worker.
 * - A long-poll ends early when its request is closed or the server stops.
 */
import { failureAction, type ClaimedJob, type ClaimLimited, type FinalizeAction, type LeaseRef } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { JobParams, PROBLEM_RESPONSES, QueueParams } from '../http/schemas.js';
import { MAX_CLAIM_BATCH, MAX_CLAIM_WAIT_MS, MAX_LEASE_MS, MIN_LEASE_MS } from '../options.js';

const WorkerIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must match ^[A-Za-z0-9._:-]{1,128}$');
const LeaseMsSchema = z.int().min(MIN_LEASE_MS).max(MAX_LEASE_MS);

const ClaimBody = z.strictObject({
  workerId: WorkerIdSchema.describe('Stable name of this worker instance (host-pid, pod name…).'),
  batch: z.int().min(1).max(MAX_CLAIM_BATCH).optional().describe('Jobs to claim at most; default 1.'),
  waitMs: z.int().min(0).max(MAX_CLAIM_WAIT_MS).optional().describe('Long-poll: wait up to this long for a job; default 0.'),
  leaseMs: LeaseMsSchema.optional().describe('Lease length; heartbeat before it ends. Default 30 s.'),
});

const Fence = {
  attempt: z.int().min(1).max(1_000_000),
  leaseToken: z.string().min(1).max(200),
};

const ClaimedView = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  payload: z.unknown(),
  attempt: z.int(),
  maxAttempts: z.int(),
  leaseToken: z.string(),
  leaseExpiresAt: z.string(),
  timeoutMs: z.int().nullable(),
  progress: z.unknown(),
  createdAt: z.string(),
});

const FailBody = z.strictObject({
  ...Fence,
  error: z.strictObject({
    message: z.string().max(10_000),
    name: z.string().max(200).optional(),
    stack: z.string().max(65_536).optional(),
  }),
  permanent: z.boolean().optional().describe('Do not retry: straight to the DLQ.'),
  retryAfterMs: z.int().min(0).optional().describe('Retry after this delay instead of the backoff.'),
});

const claimedView = (j: ClaimedJob) => ({
  id: j.id,
  queue: j.queue,
  name: j.name,
  payload: j.payload,
  attempt: j.attempt,
  maxAttempts: j.maxRetries + 1,
  leaseToken: j.leaseToken,
  leaseExpiresAt: j.leaseExpiresAt.toISOString(),
  timeoutMs: j.timeoutMs,
  progress: j.progress,
  createdAt: j.createdAt.toISOString(),
});

function fenceOutcome(outcome: string | undefined, id: string): void {
  if (outcome === 'ok') return;
  if (outcome === 'not_found') throw new ApiProblem(404, 'not_found', `No job ${id}.`);
  throw new ApiProblem(409, 'lease_lost', `The lease on job ${id} is no longer yours (stale attempt or token, or the job moved on).`);
}

/** A claim's limit for the wire (whole milliseconds). */
function roundedLimit(limited: ClaimLimited): { reason: ClaimLimited['reason']; retryAfterMs?: number } {
  return limited.retryAfterMs === undefined ? { reason: limited.reason } : { reason: limited.reason, retryAfterMs: Math.ceil(limited.retryAfterMs) };
}

export function workerProtocolRoutes({ client, options, waiter, httpWorkers }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/queues/:queue/claim',
      {
        config: { access: { action: 'work', queue: 'param' } },
        schema: {
          tags: ['workers'],
          summary: 'Claim jobs (long-poll up to 20 s)',
          params: QueueParams,
          body: ClaimBody,
          response: {
            200: z.object({
              jobs: z.array(ClaimedView),
              limited: z
                .object({ reason: z.enum(['concurrency', 'rate', 'held']), retryAfterMs: z.int().optional() })
                .optional()
                .describe('Set when a queue limit (not an empty queue) cut the claim short; retryAfterMs: when to ask again.'),
            }),
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request) => {
        const { queue } = request.params;
        const { workerId, batch = 1, waitMs = 0, leaseMs = options.defaultLeaseMs } = request.body;
        const deadline = Date.now() + waitMs;
        const gone = new AbortController();
        const onClose = () => gone.abort();
        request.raw.once('close', onClose);
        try {
          for (;;) {
            const jobs = await client.run((b) => b.claimJobs({ queue, workerId: `http:${workerId}`, limit: batch, leaseMs }));
            httpWorkers.seen(workerId, queue, batch, jobs.length, request.ip);
            const answer = { jobs: jobs.map(claimedView), ...(jobs.limited ? { limited: roundedLimit(jobs.limited) } : {}) };
            const left = deadline - Date.now();
            if (jobs.length > 0 || gone.signal.aborted || left <= 0) return answer;
            // Wait for a wake-up; poll again at least once a second (polling is the correctness
            // path), or when a limit said more may pass.
            const keepGoing = await waiter.wait(queue, Math.min(left, 1000, jobs.limited?.retryAfterMs ?? 1000), gone.signal, {
              wakeOnFinish: jobs.limited?.reason === 'concurrency',
            });
            if (!keepGoing) return answer;
          }
        } finally {
          request.raw.off('close', onClose);
        }
      },
    );

    app.post(
      '/jobs/:id/heartbeat',
      {
        config: { access: { action: 'work', queue: 'any' } },
        schema: {
          tags: ['workers'],
          summary: 'Extend the lease of a claimed job',
          params: JobParams,
          body: z.strictObject({ ...Fence, leaseMs: LeaseMsSchema.optional() }),
          response: { 200: z.object({ id: z.string(), leaseMs: z.int(), cancelRequested: z.boolean() }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        const leaseMs = request.body.leaseMs ?? options.defaultLeaseMs;
        const lease: LeaseRef = { id, attempt: request.body.attempt, leaseToken: request.body.leaseToken };
        const [result] = await client.run((b) => b.extendLeases({ leases: [lease], leaseMs }));
        fenceOutcome(result?.outcome, id);
        return { id, leaseMs, cancelRequested: result!.cancelRequested };
      },
    );

    app.post(
      '/jobs/:id/progress',
      {
        config: { access: { action: 'work', queue: 'any' } },
        schema: {
          tags: ['workers'],
          summary: 'Report progress of a claimed job',
          params: JobParams,
          body: z.strictObject({ ...Fence, progress: z.unknown() }),
          response: { 200: z.object({ id: z.string() }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        const progress = JSON.stringify(request.body.progress ?? null);
        if (Buffer.byteLength(progress) > 64 * 1024) throw new ApiProblem(400, 'validation_failed', 'progress is over 64 KiB of JSON.', { issues: [{ path: 'body.progress', message: 'at most 64 KiB' }] });
        const [outcome] = await client.run((b) => b.updateProgress({ items: [{ id, attempt: request.body.attempt, leaseToken: request.body.leaseToken, progress }] }));
        fenceOutcome(outcome, id);
        return { id };
      },
    );

    app.post(
      '/jobs/:id/complete',
      {
        config: { access: { action: 'work', queue: 'any' } },
        schema: {
          tags: ['workers'],
          summary: 'Complete a claimed job',
          params: JobParams,
          body: z.strictObject({ ...Fence, result: z.unknown().optional() }),
          response: { 200: z.object({ id: z.string(), status: z.literal('completed') }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        const result = request.body.result === undefined ? null : JSON.stringify(request.body.result);
        if (result !== null && Buffer.byteLength(result) > client.maxPayloadBytes) {
          throw new ApiProblem(400, 'validation_failed', `result is over ${client.maxPayloadBytes} bytes of JSON.`, { issues: [{ path: 'body.result', message: 'too large' }] });
        }
        await finalize(client, { id, attempt: request.body.attempt, leaseToken: request.body.leaseToken }, { kind: 'complete', result });
        return { id, status: 'completed' as const };
      },
    );

    app.post(
      '/jobs/:id/fail',
      {
        config: { access: { action: 'work', queue: 'any' } },
        schema: {
          tags: ['workers'],
          summary: 'Fail the attempt of a claimed job: retried with backoff, or dead when permanent or out of attempts',
          params: JobParams,
          body: FailBody,
          response: { 200: z.object({ id: z.string(), status: z.enum(['retrying', 'queued', 'dead', 'cancelled', 'scheduled']), retryInMs: z.int().optional() }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { id } = request.params;
        const body = request.body;
        const job = await client.getJob(id);
        if (!job) throw new ApiProblem(404, 'not_found', `No job ${id}.`);
        if (job.state !== 'running' || job.attempt !== body.attempt) fenceOutcome('lease_lost', id);
        const error = Object.assign(new Error(body.error.message), { name: body.error.name ?? 'Error' });
        if (body.error.stack !== undefined) error.stack = body.error.stack;
        else delete (error as { stack?: string }).stack;
        const claimed: ClaimedJob = { ...job, leaseToken: body.leaseToken, leaseExpiresAt: job.leaseExpiresAt ?? new Date() };
        const action = failureAction({
          job: claimed,
          error,
          workerId: job.workerId,
          cancelRequested: job.cancelRequested,
          classifyError: () => (body.permanent ? 'permanent' : body.retryAfterMs !== undefined ? { retryAfterMs: body.retryAfterMs } : 'retry'),
        });
        await finalize(client, { id, attempt: body.attempt, leaseToken: body.leaseToken }, action);
        return outcomeView(id, action);
      },
    );
  };
}

async function finalize(client: RouteContext['client'], lease: LeaseRef, action: FinalizeAction): Promise<void> {
  const [outcome] = await client.run((b) => b.finalizeJobs({ items: [{ ...lease, ...action }], retention: client.retention }));
  fenceOutcome(outcome, lease.id);
}

function outcomeView(id: string, action: FinalizeAction) {
  switch (action.kind) {
    case 'retry':
      return { id, status: action.delayMs > 0 ? ('retrying' as const) : ('queued' as const), retryInMs: action.delayMs };
    case 'dead':
      return { id, status: 'dead' as const };
    case 'cancel':
      return { id, status: 'cancelled' as const };
    case 'snooze':
      return { id, status: 'scheduled' as const, retryInMs: action.delayMs };
    default:
      return { id, status: 'queued' as const };
  }
}
