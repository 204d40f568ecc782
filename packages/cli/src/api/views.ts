/**
 * Library records as the wire views of types.ts (the HTTP API's shapes), so the direct API
 * answers exactly what the HTTP API does: `status`, `maxAttempts`, ISO 8601 UTC timestamps.
 */
import type { JobRecord, StatsRow, WorkerInfo } from '@spindle/core';
import type { JobView, MinuteView, WorkerView } from './types.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    status: job.state,
    payload: job.payload,
    priority: job.priority,
    attempt: job.attempt,
    maxAttempts: job.maxRetries + 1,
    progress: job.progress,
    result: job.result,
    errors: job.errors.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    uniqueKey: job.uniqueKey,
    timeoutMs: job.timeoutMs,
    round: job.round,
    createdAt: job.createdAt.toISOString(),
    runAt: job.runAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    leaseExpiresAt: iso(job.leaseExpiresAt),
    workerId: job.workerId,
    cancelRequested: job.cancelRequested,
    failureReason: job.failureReason,
    firstFailedAt: iso(job.firstFailedAt),
    lastFailedAt: iso(job.lastFailedAt),
    resolution: job.resolution ? { note: job.resolution.note, at: job.resolution.at.toISOString() } : null,
    expiresAt: iso(job.expiresAt),
  };
}

export function minuteView(row: StatsRow): MinuteView {
  return { minute: row.minute.toISOString(), enqueued: row.enqueued, completed: row.completed, retried: row.retried, dead: row.dead, cancelled: row.cancelled };
}

export function workerView(w: WorkerInfo): WorkerView {
  return {
    id: w.id,
    queue: w.queue,
    kind: w.kind,
    host: w.host,
    pid: w.pid,
    concurrency: w.concurrency,
    busy: w.busy,
    startedAt: w.startedAt.toISOString(),
    lastSeenAt: w.lastSeenAt.toISOString(),
  };
}
