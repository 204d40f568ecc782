/**
 * Schedules across real processes (docs/decisions/0011-schedules.md): three processes share one
 * database, each with maintenance on; 1-second schedules run; the process leading maintenance is
 * SIGKILLed mid-way and another takes over. Over the whole run there is exactly one job per tick:
 * schedules with a backfill have every tick from the first to the last (the new leader fires the
 * ticks missed during the takeover), the schedule without one has a single gap no longer than the
 * takeover, and no tick has two jobs or a job off the tick grid. A second test runs a schedule
 * runner in every process regardless of leadership (each firing races the others): still one job
 * per tick, none lost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, JobRecord } from '@spindle/core';
import { makeClient, waitFor } from '../client/harness.js';
import { Child, type CrashFactory } from './crash-tests.js';

export type ScheduleHandoverFactory = CrashFactory & {
  /** Leadership TTL of the children (how long a dead leader's lease may block a takeover). */
  ttlMs: number;
};

const SECOND = 1000;
const QUEUE = 'handover';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LeaderLine {
  ev: string;
  value?: boolean;
  at?: number;
  msg?: string;
  err?: string;
}

const linesOf = (child: Child) => child.lines as unknown as LeaderLine[];

/** The child currently reporting leadership (its last leader line says true), if any. */
function currentLeader(children: Child[]): Child | undefined {
  return children.find((c) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return false;
    const last = linesOf(c).filter((l) => l.ev === 'leader').at(-1);
    return last?.value === true;
  });
}

async function allJobs(client: Client): Promise<JobRecord[]> {
  const jobs: JobRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await client.listJobs({ filter: { queue: QUEUE }, limit: 1000, order: 'oldest', ...(cursor ? { cursor } : {}) });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

/** Tick times of one schedule's jobs, ascending, after checking each job is a well-formed tick. */
function ticksOf(jobs: JobRecord[], schedule: string): number[] {
  const prefix = `schedule:${schedule}:`;
  const ticks = jobs
    .filter((j) => j.id.startsWith(prefix))
    .map((j) => {
      const tick = Date.parse(j.id.slice(prefix.length));
      assert.equal(tick % SECOND, 0, `${j.id} is on the 1-second grid`);
      assert.equal(j.runAt.getTime(), tick, `${j.id} is due at its tick`);
      return tick;
    })
    .sort((a, b) => a - b);
  assert.equal(new Set(ticks).size, ticks.length, `${schedule}: a tick has two jobs`);
  return ticks;
}

/** The gaps (ms between consecutive ticks beyond one second) of a tick list. */
function gaps(ticks: number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < ticks.length; i++) if (ticks[i]! - ticks[i - 1]! !== SECOND) out.push(ticks[i]! - ticks[i - 1]!);
  return out;
}

async function stopAll(children: Child[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
      const exited = new Promise((r) => c.proc.once('exit', r));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

export function scheduleHandoverTests(factory: ScheduleHandoverFactory): void {
  describe(`${factory.name}: schedules across processes`, () => {
    it('3 processes, the leader SIGKILLed mid-way: exactly one job per tick, no gap beyond the takeover', async (t) => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend, { maintenance: false });
      const children: Child[] = [];
      try {
        await parent.schedules.upsert('dense', { everyMs: SECOND, queue: QUEUE, backfill: 1000 });
        await parent.schedules.upsert('sparse', { everyMs: SECOND, queue: QUEUE });
        await parent.schedules.upsert('cron', { cron: '* * * * * *', queue: QUEUE, backfill: 1000 });
        const env = { ...childEnv, SCHED_TTL_MS: String(factory.ttlMs) };
        for (let i = 0; i < 3; i++) children.push(new Child(factory.childScript, env));
        await waitFor(() => children.every((c) => c.has((l) => l.ev === 'ready')), 'children ready', 30_000);
        const first = await waitFor(() => currentLeader(children), 'a leader', 30_000);
        await waitFor(async () => ticksOf(await allJobs(parent), 'dense').length >= 3, 'ticks under the first leader', 15_000);
        await sleep(1_000 + Math.floor(Math.random() * 1_000)); // somewhere between two ticks
        const killedAt = Date.now();
        first.kill('SIGKILL');
        const second = await waitFor(() => currentLeader(children.filter((c) => c !== first)), 'a new leader', factory.ttlMs * 4 + 15_000);
        const tookOverAt = linesOf(second).filter((l) => l.ev === 'leader' && l.value).at(-1)!.at!;
        await waitFor(async () => (await allJobs(parent)).some((j) => j.createdAt.getTime() > tookOverAt + 3 * SECOND), 'ticks under the new leader', 15_000);
        await stopAll(children);

        const jobs = await allJobs(parent);
        const gapAt = (ticks: number[]) => ticks.flatMap((tick, i) => (i > 0 && tick - ticks[i - 1]! !== SECOND ? [`${tick - ticks[i - 1]!} ms ending ${tick - killedAt} ms after the kill`] : []));
        t.diagnostic(`takeover ${tookOverAt - killedAt} ms; ticks dense ${ticksOf(jobs, 'dense').length}, cron ${ticksOf(jobs, 'cron').length}, sparse ${ticksOf(jobs, 'sparse').length} (gaps: ${gapAt(ticksOf(jobs, 'sparse')).join('; ') || 'none'})`);
        for (const name of ['dense', 'cron']) {
          const ticks = ticksOf(jobs, name);
          assert.deepEqual(gaps(ticks), [], `${name}: every tick from the first to the last, each once`);
          assert.ok(ticks[0]! < killedAt && ticks.at(-1)! > tookOverAt, `${name}: ticks before the kill and after the takeover`);
        }
        // Without backfill, the ticks that came due while nobody led are skipped (the newest one at
        // the takeover fires): every missing tick lies between the kill (less a late firing) and
        // the takeover.
        const sparse = ticksOf(jobs, 'sparse');
        for (let i = 1; i < sparse.length; i++) {
          for (let missing = sparse[i - 1]! + SECOND; missing < sparse[i]!; missing += SECOND) {
            assert.ok(missing >= killedAt - 3 * SECOND && missing <= tookOverAt + SECOND / 2, `sparse: tick ${missing - killedAt} ms after the kill is missing outside the takeover (${tookOverAt - killedAt} ms)`);
          }
        }
        assert.deepEqual(jobs.filter((j) => !j.id.startsWith('schedule:')), [], 'only tick jobs');
        for (const name of ['dense', 'sparse', 'cron']) {
          const stored = await parent.schedules.get(name);
          assert.equal(stored?.lastRunAt?.getTime(), ticksOf(jobs, name).at(-1), `${name}: lastRunAt is the newest tick`);
        }
        const errors = children.flatMap((c) => linesOf(c).filter((l) => l.ev === 'error'));
        assert.deepEqual(errors, [], 'no process failed to fire');
      } finally {
        await stopAll(children);
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });

    it('a schedule runner in every process at once (no leader gating): still one job per tick, none lost', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend, { maintenance: false });
      const children: Child[] = [];
      try {
        await parent.schedules.upsert('raced', { everyMs: SECOND, queue: QUEUE, backfill: 1000 });
        const env = { ...childEnv, SCHED_TTL_MS: String(factory.ttlMs), SCHED_ROGUE: '1' };
        for (let i = 0; i < 3; i++) children.push(new Child(factory.childScript, env));
        await waitFor(() => children.every((c) => c.has((l) => l.ev === 'ready')), 'children ready', 30_000);
        await waitFor(async () => ticksOf(await allJobs(parent), 'raced').length >= 5, 'five ticks', 20_000);
        await stopAll(children);
        const ticks = ticksOf(await allJobs(parent), 'raced');
        assert.deepEqual(gaps(ticks), [], 'every tick once');
        const errors = children.flatMap((c) => linesOf(c).filter((l) => l.ev === 'error'));
        assert.deepEqual(errors, [], 'no process failed to fire');
      } finally {
        await stopAll(children);
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });
  });
}
