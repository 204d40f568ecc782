/**
 * finalizeJobs writes the completions of a batch with one statement (UPDATE … FROM json_each,
 * then one DELETE for the jobs removed on completion) and the other actions one by one.
 * Differential test: a random batch (duplicates, stale tokens, wrong attempts, unknown ids, every
 * action kind, several items per job, jobs removed on completion) gives the same outcomes, the
 * same rows and the same events as the same items finalized one at a time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClaimedJob, FinalizeItem, JobEvent, JobRecord, SpindleEvent } from '@spindle/core';
import type { SqliteBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';
import { jobInsert, keepAll } from './seed.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Lease = 'good' | 'stale-token' | 'wrong-attempt' | 'unknown-id';
interface Spec {
  job: number;
  lease: Lease;
  kind: FinalizeItem['kind'];
  n: number;
}

const KINDS: Array<FinalizeItem['kind']> = ['complete', 'complete', 'complete', 'complete', 'retry', 'dead', 'snooze', 'cancel', 'release'];
const LEASES: Lease[] = ['good', 'good', 'good', 'good', 'stale-token', 'wrong-attempt', 'unknown-id'];

function item(spec: Spec, claimed: ClaimedJob[]): FinalizeItem {
  const job = claimed[spec.job]!;
  const lease = {
    id: spec.lease === 'unknown-id' ? `missing-${spec.job}` : job.id,
    attempt: spec.lease === 'wrong-attempt' ? job.attempt + 1 : job.attempt,
    leaseToken: spec.lease === 'stale-token' ? '0'.repeat(32) : job.leaseToken,
  };
  const error = { attempt: job.attempt, round: 0, kind: 'error' as const, name: 'Error', message: `e${spec.n}`, at: 0 };
  switch (spec.kind) {
    case 'complete':
      return { ...lease, kind: 'complete', result: spec.n % 3 === 0 ? null : JSON.stringify({ n: spec.n, text: 'é "q" \\ ☃' }) };
    case 'retry':
      return { ...lease, kind: 'retry', error, delayMs: spec.n % 2 === 0 ? 0 : 5000 };
    case 'dead':
      return { ...lease, kind: 'dead', error, reason: `r${spec.n}` };
    case 'snooze':
      return { ...lease, kind: 'snooze', delayMs: 1000 };
    case 'cancel':
      return { ...lease, kind: 'cancel', error: spec.n % 2 === 0 ? null : error };
    case 'release':
      return { ...lease, kind: 'release' };
  }
}

const comparable = (job: JobRecord | null) => job && { ...job, startedAt: null, leaseExpiresAt: job.leaseExpiresAt === null, workerId: null };
const eventView = (events: SpindleEvent[]) => (events as JobEvent[]).map(({ at: _at, ...rest }) => rest);

test('a batch of outcomes answers, writes and publishes exactly as the same items one by one', async () => {
  const random = prng(3);
  const JOBS = 12;
  for (let round = 0; round < 40; round++) {
    const specs: Spec[] = Array.from({ length: 1 + Math.floor(random() * 24) }, (_, n) => ({
      job: Math.floor(random() * JOBS),
      lease: LEASES[Math.floor(random() * LEASES.length)]!,
      kind: KINDS[Math.floor(random() * KINDS.length)]!,
      n,
    }));
    const now = new Date('2030-01-01T00:00:00Z');
    const run = async (oneByOne: boolean) => {
      const { backend, cleanup }: { backend: SqliteBackend; cleanup: () => Promise<void> } = await makeTestBackend();
      try {
        const ids = Array.from({ length: JOBS }, (_, i) => `job-${i}`);
        // Every third job is removed on completion (completedKeepMs 0).
        const removeOnComplete = { completedKeepMs: 0, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null };
        await backend.insertJobs({ jobs: ids.map((id, i) => jobInsert(id, 'q', i % 3 === 2 ? { retention: removeOnComplete } : {})), now });
        if (round % 2 === 1) {
          // Completions of removed jobs first: the next batch tries REMOVE_COMPLETED before COMPLETE_MANY.
          await backend.insertJobs({ jobs: ['p0', 'p1'].map((id) => jobInsert(id, 'prime', { retention: removeOnComplete })), now });
          const primed = await backend.claimJobs({ queue: 'prime', workerId: 'w', limit: 2, leaseMs: 30_000, now });
          await backend.finalizeJobs({ items: primed.map((job) => ({ ...job, kind: 'complete' as const, result: null })), retention: keepAll, now });
        }
        const claimed = await backend.claimJobs({ queue: 'q', workerId: 'w', limit: JOBS, leaseMs: 30_000, now });
        claimed.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
        if (round % 4 === 0) await backend.cancelJobs({ ids: [ids[0]!, ids[1]!], retention: keepAll, now }); // cancel requested: retry/snooze/release end cancelled
        const events: SpindleEvent[] = [];
        backend.subscribe((batch) => events.push(...batch));
        const items = specs.map((spec) => item(spec, claimed));
        const outcomes = oneByOne
          ? (await Promise.all(items.map((it) => backend.finalizeJobs({ items: [it], retention: keepAll, now })))).flat()
          : await backend.finalizeJobs({ items, retention: keepAll, now });
        await new Promise((resolve) => setImmediate(resolve));
        const jobs = await Promise.all(ids.map((id) => backend.getJob(id)));
        return { outcomes, jobs: jobs.map(comparable), events: eventView(events) };
      } finally {
        await cleanup();
      }
    };
    const batched = await run(false);
    const single = await run(true);
    const label = JSON.stringify(specs.map((s) => `${s.job}:${s.lease}:${s.kind}`));
    assert.deepEqual(batched.outcomes, single.outcomes, label);
    assert.deepEqual(batched.jobs, single.jobs, label);
    assert.deepEqual(batched.events, single.events, label);
  }
});
