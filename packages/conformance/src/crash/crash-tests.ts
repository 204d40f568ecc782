/**
 * Crash tests with real processes (DESIGN §11): a worker process is SIGKILLed mid-job, or
 * SIGSTOPped past its lease while another process finishes its job. The parent test process
 * runs the maintenance leader (fast rescuer) and checks the database afterwards:
 * nothing lost, every job completed exactly once, and no stale write accepted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Backend, JobRecord } from '@spindle/core';
import { makeClient, waitFor } from '../client/harness.js';

export interface CrashFactory {
  name: string;
  /** A fresh backend plus the environment a child needs to open the same database. */
  makeBackend: () => Promise<{ backend: Backend; cleanup(): Promise<void>; childEnv: Record<string, string> }>;
  /** A script that opens the backend from its environment and calls runCrashChild(backend). */
  childScript: string;
}

interface ChildLine {
  ev: string;
  id?: string;
  attempt?: number;
  outcome?: string;
  reason?: string;
}

export class Child {
  readonly lines: ChildLine[] = [];
  readonly proc: ChildProcess;
  constructor(script: string, env: Record<string, string>) {
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as ChildLine);
      } catch {
        // not one of ours
      }
    });
  }
  has(pred: (l: ChildLine) => boolean): boolean {
    return this.lines.some(pred);
  }
  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await exited;
  }
}

export function crashTests(factory: CrashFactory): void {
  describe(`${factory.name}: crash recovery with real processes`, () => {
    it('re-runs the jobs of a SIGKILLed worker after their leases expire; every job completes exactly once', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const children: Child[] = [];
      try {
        const completions = new Map<string, number>();
        parent.on('completed', (e) => completions.set(e.jobId, (completions.get(e.jobId) ?? 0) + 1));
        const q = parent.queue('crash');
        const added = await q.addBulk(Array.from({ length: 12 }, (_, i) => ({ name: 'work', payload: { i }, opts: { maxRetries: 3 } })));
        const ids = added.map((a) => a.id);
        await parent.start();
        const a = new Child(factory.childScript, { ...childEnv, CRASH_TAG: 'A', CRASH_MODE: 'hang', CRASH_CONCURRENCY: '4', CRASH_LEASE_MS: '800' });
        children.push(a);
        await waitFor(() => a.lines.filter((l) => l.ev === 'started').length === 4, 'A started 4 jobs', 30_000);
        const killedIds = a.lines.filter((l) => l.ev === 'started').map((l) => l.id!);
        a.kill('SIGKILL');
        const b = new Child(factory.childScript, { ...childEnv, CRASH_TAG: 'B', CRASH_MODE: 'quick', CRASH_CONCURRENCY: '8', CRASH_LEASE_MS: '800' });
        children.push(b);
        const jobs = await waitFor(async () => {
          const all = await Promise.all(ids.map((id) => parent.getJob(id)));
          return all.every((j) => j?.state === 'completed') ? (all as JobRecord[]) : null;
        }, 'all 12 jobs completed', 30_000);
        for (const job of jobs) {
          assert.deepEqual((job.result as { by: string }).by, 'B');
          if (killedIds.includes(job.id)) {
            assert.equal(job.attempt, 2, `${job.id} ran again after the crash`);
            assert.deepEqual(job.errors.map((e) => e.kind), ['lease_expired']);
          } else {
            assert.equal(job.attempt, 1);
            assert.deepEqual(job.errors, []);
          }
        }
        await waitFor(() => ids.every((id) => completions.get(id) === 1), 'one completed event per job');
        assert.ok([...completions.values()].every((n) => n === 1));
      } finally {
        await Promise.all(children.map((c) => c.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });

    it('refuses the stale completion of a worker that was stopped past its lease while another finished the job', async () => {
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const children: Child[] = [];
      try {
        const q = parent.queue('crash');
        const { id } = await q.add('work', {}, { maxRetries: 3 });
        await parent.start();
        // A's handler finishes 300 ms after it starts, well before its next heartbeat (500 ms):
        // after SIGCONT the overdue handler timer fires first and A tries to complete.
        const a = new Child(factory.childScript, {
          ...childEnv, CRASH_TAG: 'A', CRASH_MODE: 'sleep:300', CRASH_LEASE_MS: '600', CRASH_HEARTBEAT_MS: '500',
        });
        children.push(a);
        await waitFor(() => a.has((l) => l.ev === 'started' && l.id === id), 'A started the job', 30_000);
        a.kill('SIGSTOP');
        const b = new Child(factory.childScript, { ...childEnv, CRASH_TAG: 'B', CRASH_MODE: 'quick', CRASH_LEASE_MS: '2000' });
        children.push(b);
        const done = await waitFor(async () => {
          const j = await parent.getJob(id);
          return j?.state === 'completed' ? j : null;
        }, 'B completed the rescued job', 30_000);
        assert.deepEqual(done.result, { by: 'B', attempt: 2 });
        a.kill('SIGCONT');
        await waitFor(() => a.has((l) => l.id === id && (l.ev === 'refused' || l.ev === 'aborted')), 'A told its write was refused', 15_000);
        const refused = a.lines.find((l) => l.ev === 'refused' && l.id === id);
        if (refused) assert.equal(refused.outcome, 'lease_lost');
        const after = await parent.getJob(id);
        assert.deepEqual(after?.result, { by: 'B', attempt: 2 }, 'the stale completion changed nothing');
        assert.equal(after?.state, 'completed');
        assert.deepEqual(after?.errors.map((e) => e.kind), ['lease_expired']);
      } finally {
        await Promise.all(children.map((c) => c.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
      }
    });
  });
}
