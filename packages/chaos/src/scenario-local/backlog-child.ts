/**
 * C11's bulk loader, as a process of its own so that the runner (which leads maintenance, the
 * "server" whose memory C11 reports) never holds the backlog's insert batches: inserts `n`
 * queued 1 KiB jobs into `queue` (1,000 per insertJobs call) and makes `dead` jobs dead in
 * `dlqQueue` (insert, claim, finalize dead, 500 at a time), straight through an unrecorded
 * backend; prints `{"ev":"done",insertMs,dlqMs,dead}` and exits.
 *
 * Environment: the backends.ts variables, CHAOS_BACKLOG (JSON: queue, dlqQueue, from, n, dead).
 * Invariant: nothing here is recorded — the backlog is not part of the run's history, and the
 * scenario deletes it before the final state is read.
 */
import { newJobId, type Backend, type JobInsert } from '@spindle/core';
import { openBackend, targetFromEnv } from '../scenario/backends.js';

const cfg = JSON.parse(process.env.CHAOS_BACKLOG ?? '{}') as { queue: string; dlqQueue: string; from: number; n: number; dead: number };
const PAD = 'x'.repeat(1000);
const NO_RETENTION = { completedMs: null, cancelledMs: null, deadMs: null };

export function backlogJob(queue: string, i: number): JobInsert {
  return {
    id: newJobId(), queue, name: 'backlog', payload: JSON.stringify({ i, pad: PAD }), priority: 500, maxRetries: 0,
    delayMs: null, runAt: null, uniqueKey: null, timeoutMs: null, backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

async function insert(raw: Backend, queue: string, from: number, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    await raw.insertJobs({ jobs: Array.from({ length: Math.min(1000, n - i) }, (_, k) => backlogJob(queue, from + i + k)) });
  }
}

async function makeDead(raw: Backend, queue: string, n: number): Promise<number> {
  let dead = 0;
  while (dead < n) {
    const size = Math.min(500, n - dead);
    await raw.insertJobs({ jobs: Array.from({ length: size }, (_, k) => backlogJob(queue, dead + k)) });
    const claimed = await raw.claimJobs({ queue, limit: size, leaseMs: 60_000, workerId: 'c11-dlq' });
    if (claimed.length === 0) break;
    await raw.finalizeJobs({
      retention: NO_RETENTION,
      items: claimed.map((j) => ({
        id: j.id, attempt: j.attempt, leaseToken: j.leaseToken, kind: 'dead' as const, reason: 'c11 backlog',
        error: { attempt: j.attempt, round: j.round, kind: 'permanent' as const, name: 'Error', message: 'c11 backlog', at: Date.now(), workerId: null },
      })),
    });
    dead += claimed.length;
  }
  return dead;
}

if (process.env.CHAOS_BACKLOG) {
  const raw = openBackend(targetFromEnv(process.env), 2);
  const t0 = Date.now();
  await insert(raw, cfg.queue, cfg.from, cfg.n);
  const insertMs = Date.now() - t0;
  const d0 = Date.now();
  const dead = cfg.dead > 0 ? await makeDead(raw, cfg.dlqQueue, cfg.dead) : 0;
  const dlqMs = Date.now() - d0;
  await raw.close();
  process.stdout.write(`${JSON.stringify({ ev: 'done', insertMs, dlqMs, dead })}\n`);
  process.exit(0);
}
