/**
 * Test helper: a database holding jobs in every reachable state across a few queues, made
 * through the backend's own API (queued, scheduled, retrying, running, completed, dead —
 * resolved or not — and cancelled).
 */
import type { FinalizeItem, JobInsert, RetentionDefaults } from '@spindle/core';
import type { SqliteBackend } from '../src/index.js';

export const keepAll: RetentionDefaults = { completedMs: null, cancelledMs: null, deadMs: null };

export function jobInsert(id: string, queue: string, extra: Partial<JobInsert> = {}): JobInsert {
  return {
    id,
    queue,
    name: 'task',
    payload: JSON.stringify({ id }),
    priority: 500,
    maxRetries: 2,
    delayMs: null,
    runAt: null,
    uniqueKey: null,
    timeoutMs: null,
    backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
    ...extra,
  };
}

/** `perQueue` jobs of each kind in each of `queues`; returns nothing, read it back with counts. */
export async function seedEveryState(backend: SqliteBackend, queues: string[], perQueue: number): Promise<void> {
  const error = { attempt: 1, round: 0, kind: 'error' as const, name: 'Error', message: 'boom', at: 0 };
  for (const queue of queues) {
    const ids = (kind: string) => Array.from({ length: perQueue }, (_, i) => `${queue}-${kind}-${i}`);
    const kinds = ['completed', 'dead', 'resolved', 'cancelled', 'retrying', 'running'];
    await backend.insertJobs({ jobs: kinds.flatMap((kind) => ids(kind).map((id) => jobInsert(id, queue))) });
    const claimed = await backend.claimJobs({ queue, workerId: 'seed', limit: kinds.length * perQueue, leaseMs: 60_000 });
    const kindOf = (id: string) => id.split('-')[1]!;
    await backend.finalizeJobs({
      retention: keepAll,
      items: claimed.flatMap((job): FinalizeItem[] => {
        switch (kindOf(job.id)) {
          case 'completed':
            return [{ ...job, kind: 'complete', result: null }];
          case 'dead':
          case 'resolved':
            return [{ ...job, kind: 'dead', error, reason: `reason-${job.id.length % 2}` }];
          case 'cancelled':
            return [{ ...job, kind: 'cancel', error: null }];
          case 'retrying':
            return [{ ...job, kind: 'retry', error, delayMs: 3_600_000 }];
          default:
            return [];
        }
      }),
    });
    await backend.dlqResolve({ ids: ids('resolved'), limit: perQueue, note: 'seen' });
    await backend.insertJobs({ jobs: [...ids('queued').map((id) => jobInsert(id, queue)), ...ids('scheduled').map((id) => jobInsert(id, queue, { delayMs: 3_600_000 }))] });
  }
}
