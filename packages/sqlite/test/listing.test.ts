/**
 * Listing through the per-state partial indexes (one branch per state, queue by queue when no
 * queue is given) returns exactly what a plain scan of the table would, page after page, in
 * either order; DLQ selections take the oldest dead jobs across all queues.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { JOB_STATES, type FinalizeItem, type JobFilter, type JobState } from '@spindle/core';
import type { SqliteBackend } from '../src/index.js';
import { makeTestBackend } from './helpers.js';
import { jobInsert, keepAll } from './seed.js';

const QUEUES = ['q0', 'q1', 'q2', 'q3'];
const TARGETS = ['queued', 'scheduled', 'running', 'retrying', 'completed', 'dead', 'resolved', 'cancelled'] as const;

/** A small deterministic PRNG (tests must not depend on Math.random). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Row {
  id: string;
  seq: number;
  queue: string;
  name: string;
  state: JobState;
  resolved_at: number | null;
}

describe('listing through the state indexes', () => {
  let backend: SqliteBackend;
  let path: string;
  let cleanup: () => Promise<void>;
  const rows = (): Row[] => {
    const raw = new Database(path, { readonly: true });
    try {
      return raw.prepare('SELECT id, seq, queue, name, state, resolved_at FROM spindle_jobs ORDER BY seq').all() as Row[];
    } finally {
      raw.close();
    }
  };

  before(async () => {
    ({ backend, path, cleanup } = await makeTestBackend());
    const random = prng(7);
    const plan = Array.from({ length: 400 }, (_, i) => {
      const queue = QUEUES[Math.floor(random() * QUEUES.length)]!;
      const target = TARGETS[Math.floor(random() * TARGETS.length)]!;
      return { id: `j${String(i).padStart(3, '0')}-${target}`, queue, target, name: random() < 0.5 ? 'even' : 'odd' };
    });
    // Interleaved inserts: every queue's jobs are spread over the whole seq range.
    await backend.insertJobs({
      jobs: plan.map((p) => jobInsert(p.id, p.queue, { name: p.name, delayMs: p.target === 'scheduled' ? 3_600_000 : null })),
    });
    const error = { attempt: 1, round: 0, kind: 'error' as const, name: 'Error', message: 'boom', at: 0 };
    const targetOf = new Map(plan.map((p) => [p.id, p.target]));
    for (const queue of QUEUES) {
      const claimed = await backend.claimJobs({ queue, workerId: 'w', limit: 1000, leaseMs: 60_000 });
      await backend.finalizeJobs({
        retention: keepAll,
        items: claimed.flatMap((job): FinalizeItem[] => {
          switch (targetOf.get(job.id)) {
            case 'queued':
              return [{ ...job, kind: 'release' }];
            case 'completed':
              return [{ ...job, kind: 'complete', result: null }];
            case 'dead':
            case 'resolved':
              return [{ ...job, kind: 'dead', error, reason: 'r' }];
            case 'cancelled':
              return [{ ...job, kind: 'cancel', error: null }];
            case 'retrying':
              return [{ ...job, kind: 'retry', error, delayMs: 3_600_000 }];
            default:
              return [];
          }
        }),
      });
    }
    const resolve = plan.filter((p) => p.target === 'resolved').map((p) => p.id);
    await backend.dlqResolve({ ids: resolve, limit: resolve.length, note: 'seen' });
    const counts = new Map((await backend.countJobs()).map((c) => [`${c.queue}:${c.state}`, c.count]));
    for (const queue of QUEUES) for (const state of ['queued', 'scheduled', 'running', 'retrying', 'completed', 'dead', 'cancelled']) {
      assert.ok((counts.get(`${queue}:${state}`) ?? 0) > 0, `seed has ${state} jobs in ${queue}`);
    }
  });
  after(() => cleanup());

  async function listAll(filter: JobFilter, order: 'newest' | 'oldest', limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await backend.listJobs({ filter, order, limit, cursor });
      assert.ok(page.jobs.length <= limit);
      ids.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
      if (cursor === null) return ids;
      assert.equal(page.jobs.length, limit, 'a page before the last is full');
    }
    throw new Error('paging did not end');
  }

  function expected(all: Row[], filter: JobFilter, order: 'newest' | 'oldest'): string[] {
    const deadOnly = filter.resolved !== undefined;
    const matching = all.filter(
      (r) =>
        (filter.states === undefined || filter.states.includes(r.state)) &&
        (filter.queue === undefined || r.queue === filter.queue) &&
        (filter.name === undefined || r.name === filter.name) &&
        (!deadOnly || (r.state === 'dead' && (r.resolved_at !== null) === filter.resolved)),
    );
    const ids = matching.map((r) => r.id);
    return order === 'newest' ? ids.reverse() : ids;
  }

  test('any set of states, with or without a queue, pages like a table scan', async () => {
    const random = prng(11);
    const filters: JobFilter[] = [{}, { queue: 'q1' }, { resolved: false }, { resolved: true, queue: 'q2' }, { states: ['queued', 'dead'], resolved: false }];
    for (const state of JOB_STATES) filters.push({ states: [state] }, { states: [state], queue: 'q3' });
    for (let i = 0; i < 30; i++) {
      const states = JOB_STATES.filter(() => random() < 0.35);
      if (states.length === 0) continue;
      const filter: JobFilter = { states: random() < 0.2 ? [...states, states[0]!] : states };
      if (random() < 0.5) filter.queue = QUEUES[Math.floor(random() * QUEUES.length)]!;
      if (random() < 0.3) filter.name = 'odd';
      filters.push(filter);
    }
    const all = rows();
    for (const [i, filter] of filters.entries()) {
      for (const order of ['newest', 'oldest'] as const) {
        for (const limit of [i % 3 === 0 ? 1 : 3, 1000]) {
          assert.deepEqual(await listAll(filter, order, limit), expected(all, filter, order), `${JSON.stringify(filter)} ${order} limit ${limit}`);
        }
      }
    }
  });

  test('DLQ selections by filter take the oldest dead jobs across all queues, at most limit', async () => {
    const dead = () => rows().filter((r) => r.state === 'dead');
    const oldest = dead().slice(0, 5).map((r) => r.id);
    assert.equal(await backend.dlqResolve({ filter: {}, limit: 5, note: 'batch' }), 5);
    const raw = new Database(path, { readonly: true });
    const noted = (raw.prepare("SELECT id FROM spindle_jobs WHERE resolution_note = 'batch' ORDER BY seq").all() as Array<{ id: string }>).map((r) => r.id);
    raw.close();
    assert.deepEqual(noted, oldest);

    const q2 = dead().filter((r) => r.queue === 'q2');
    assert.equal(await backend.dlqPurge({ filter: { queue: 'q2' }, limit: 3 }), 3);
    assert.deepEqual(dead().filter((r) => r.queue === 'q2').map((r) => r.id), q2.slice(3).map((r) => r.id));

    const before = dead().map((r) => r.id);
    const replayed = await backend.dlqReplay({ filter: { name: 'odd' }, limit: 4 });
    assert.deepEqual(replayed.replayed, rows().filter((r) => before.includes(r.id) && r.name === 'odd').slice(0, 4).map((r) => r.id));
  });
});
