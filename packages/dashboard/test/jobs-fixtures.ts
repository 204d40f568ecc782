/** Test data of the jobs/job-detail/DLQ render tests: API-shaped jobs with hostile strings. */
import type { JobJson } from '../src/jobs-common.js';

export const XSS = [`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `'><svg onload=alert(1)>`];
export const HOSTILE = XSS.join(' ');

/** A job as `GET /api/v1/jobs/:id` answers it, with `over` applied. */
export function jobJson(over: Partial<JobJson> = {}): JobJson {
  return {
    id: 'job-1',
    queue: 'emails',
    name: 'send',
    status: 'queued',
    payload: { to: 'a@example.com' },
    priority: 500,
    attempt: 0,
    maxAttempts: 4,
    progress: null,
    result: null,
    errors: [],
    uniqueKey: null,
    group: null,
    timeoutMs: null,
    round: 0,
    createdAt: '2026-01-31T09:00:00.000Z',
    runAt: '2026-01-31T09:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    leaseExpiresAt: null,
    workerId: null,
    cancelRequested: false,
    failureReason: null,
    firstFailedAt: null,
    lastFailedAt: null,
    resolution: null,
    parentId: null,
    pendingChildren: null,
    ...over,
  };
}

/** Fails if `markup` contains a raw (unescaped) hostile tag or attribute breakout. */
export function assertInert(markup: string): void {
  for (const bad of ['<script>alert', '<img src=x', '<svg onload', '"><img', "'><svg"]) {
    if (markup.includes(bad)) throw new Error(`unescaped ${bad} in:\n${markup}`);
  }
}
