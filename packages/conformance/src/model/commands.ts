/**
 * The commands of the model-based test. Each one performs a backend operation on the virtual
 * clock, asserts the outcome the model predicts, updates the model, then `verify`s every job.
 * Writes with a stale lease must answer `lease_lost` and leave the record byte-for-byte equal.
 * Like the core, the model never asks for a retry once retries are exhausted (it sends `dead`).
 */
import assert from 'node:assert/strict';
import type { AsyncCommand } from 'fast-check';
import type { FinalizeAction, LeaseRef } from '@spindle/core';
import { KEEP_FOREVER, attemptError, jobInsert } from '../backend/fixtures.js';
import {
  CLAIM_LEASE_MS,
  MODEL_QUEUE,
  type Model,
  type Real,
  clearLease,
  isFresh,
  jobById,
  nowOf,
  predictClaim,
  verify,
} from './model.js';

type Cmd = AsyncCommand<Model, Real>;
export type FinalizeKind = FinalizeAction['kind'];

const MAX_JOBS = 6;

/** A lease by index: among the live ones when `preferFresh` and any is live, else among all. */
function pickLease(model: Model, index: number, preferFresh: boolean): LeaseRef {
  const live = model.leases.filter((l) => isFresh(model, l));
  const pool = preferFresh && live.length > 0 ? live : model.leases;
  return pool[index % pool.length]!;
}

/** Asserts that a refused write changed nothing. */
async function expectRefused(real: Real, lease: LeaseRef, write: () => Promise<string>, what: string): Promise<void> {
  const before = await real.backend.getJob(lease.id);
  assert.equal(await write(), 'lease_lost', `${what} with a stale lease was not refused`);
  assert.deepStrictEqual(await real.backend.getJob(lease.id), before, `${what} with a stale lease changed the job`);
}

export class InsertCommand implements Cmd {
  constructor(readonly maxRetries: number, readonly delayMs: number | null, readonly priority: number) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.length < MAX_JOBS;
  }
  async run(m: Model, r: Real): Promise<void> {
    const job = jobInsert({ queue: MODEL_QUEUE, maxRetries: this.maxRetries, delayMs: this.delayMs, priority: this.priority });
    const [outcome] = await r.backend.insertJobs({ jobs: [job], now: nowOf(m, r) });
    const delayed = this.delayMs !== null && this.delayMs > 0;
    assert.deepStrictEqual(outcome, { id: job.id, inserted: true, state: delayed ? 'scheduled' : 'queued' });
    m.jobs.push({
      id: job.id,
      seq: m.jobs.length,
      priority: this.priority,
      maxRetries: this.maxRetries,
      state: delayed ? 'scheduled' : 'queued',
      attempt: 0,
      round: 0,
      runAt: m.clock + (delayed ? this.delayMs! : 0),
      lease: null,
      cancelRequested: false,
      errors: 0,
    });
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `insert(maxRetries=${this.maxRetries}, delay=${this.delayMs}, prio=${this.priority})`;
  }
}

export class ClaimCommand implements Cmd {
  constructor(readonly limit: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const expected = predictClaim(m, this.limit);
    const claimed = await r.backend.claimJobs({
      queue: MODEL_QUEUE, workerId: 'model-worker', limit: this.limit, leaseMs: CLAIM_LEASE_MS, now: nowOf(m, r),
    });
    assert.deepStrictEqual(claimed.map((c) => c.id), expected.map((j) => j.id), 'claim took other jobs than predicted');
    for (const c of claimed) {
      const job = jobById(m, c.id);
      job.attempt += 1;
      assert.equal(c.attempt, job.attempt);
      assert.ok(c.attempt <= job.maxRetries + 1, `claimed attempt ${c.attempt} > maxRetries + 1`);
      job.state = 'running';
      job.cancelRequested = false;
      job.lease = { token: c.leaseToken, attempt: c.attempt, expiresAt: m.clock + CLAIM_LEASE_MS };
      m.leases.push({ id: c.id, attempt: c.attempt, leaseToken: c.leaseToken });
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `claim(${this.limit})`;
  }
}

export class ExtendCommand implements Cmd {
  constructor(readonly leaseIndex: number, readonly preferFresh: boolean, readonly leaseMs: number) {}
  check(m: Readonly<Model>): boolean {
    return m.leases.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const lease = pickLease(m, this.leaseIndex, this.preferFresh);
    const extend = () => r.backend.extendLeases({ leases: [lease], leaseMs: this.leaseMs, now: nowOf(m, r) });
    if (isFresh(m, lease)) {
      const job = jobById(m, lease.id);
      assert.deepStrictEqual(await extend(), [{ outcome: 'ok', cancelRequested: job.cancelRequested }]);
      job.lease!.expiresAt = m.clock + this.leaseMs;
    } else {
      await expectRefused(r, lease, async () => (await extend())[0]!.outcome, 'heartbeat');
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `extend(${this.preferFresh ? 'live' : 'any'}#${this.leaseIndex}, ${this.leaseMs})`;
  }
}

export class ProgressCommand implements Cmd {
  constructor(readonly leaseIndex: number, readonly preferFresh: boolean, readonly value: number) {}
  check(m: Readonly<Model>): boolean {
    return m.leases.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const lease = pickLease(m, this.leaseIndex, this.preferFresh);
    const write = async () =>
      (await r.backend.updateProgress({ items: [{ ...lease, progress: String(this.value) }], now: nowOf(m, r) }))[0]!;
    if (isFresh(m, lease)) {
      assert.equal(await write(), 'ok');
      assert.equal((await r.backend.getJob(lease.id))?.progress, this.value);
    } else {
      await expectRefused(r, lease, write, 'progress');
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `progress(${this.preferFresh ? 'live' : 'any'}#${this.leaseIndex}, ${this.value})`;
  }
}

export class FinalizeCommand implements Cmd {
  constructor(
    readonly leaseIndex: number,
    readonly preferFresh: boolean,
    readonly kind: FinalizeKind,
    readonly delayMs: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.leases.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const lease = pickLease(m, this.leaseIndex, this.preferFresh);
    const now = nowOf(m, r);
    const fresh = isFresh(m, lease);
    const job = jobById(m, lease.id);
    // The core's decision: an exhausted attempt is never retried, it goes to the DLQ.
    const kind = this.kind === 'retry' && job.attempt >= job.maxRetries + 1 ? 'dead' : this.kind;
    const error = attemptError({ attempt: lease.attempt, round: job.round, at: now.getTime() });
    const action: FinalizeAction =
      kind === 'complete' ? { kind, result: '"done"' }
      : kind === 'retry' ? { kind, error, delayMs: this.delayMs }
      : kind === 'dead' ? { kind, error, reason: 'model says dead' }
      : kind === 'snooze' ? { kind, delayMs: this.delayMs }
      : kind === 'cancel' ? { kind, error: { ...error, kind: 'cancelled' } }
      : { kind: 'release' };
    const write = async () =>
      (await r.backend.finalizeJobs({ items: [{ ...lease, ...action }], retention: KEEP_FOREVER, now }))[0]!;
    if (!fresh) {
      await expectRefused(r, lease, write, `finalize ${kind}`);
      await verify(m, r, this.toString());
      return;
    }
    assert.equal(await write(), 'ok', `finalize ${kind} with a fresh lease refused`);
    const cancelRequested = job.cancelRequested;
    clearLease(job);
    // A cancel requested during the attempt wins over another run (backend-semantics.md).
    if (cancelRequested && (kind === 'retry' || kind === 'snooze' || kind === 'release')) {
      job.state = 'cancelled';
      if (kind === 'retry') job.errors += 1;
      await verify(m, r, this.toString());
      return;
    }
    switch (kind) {
      case 'complete': job.state = 'completed'; break;
      case 'dead': job.state = 'dead'; job.errors += 1; break;
      case 'cancel': job.state = 'cancelled'; job.errors += 1; break;
      case 'retry':
        job.errors += 1;
        job.state = this.delayMs <= 0 ? 'queued' : 'retrying';
        job.runAt = m.clock + Math.max(0, this.delayMs);
        break;
      case 'snooze': job.state = 'scheduled'; job.runAt = m.clock + this.delayMs; job.attempt -= 1; break;
      case 'release': job.state = 'queued'; job.attempt -= 1; break;
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `finalize(${this.preferFresh ? 'live' : 'any'}#${this.leaseIndex}, ${this.kind}, ${this.delayMs})`;
  }
}

export class CancelCommand implements Cmd {
  constructor(readonly jobIndex: number) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const job = m.jobs[this.jobIndex % m.jobs.length]!;
    const [outcome] = await r.backend.cancelJobs({ ids: [job.id], retention: KEEP_FOREVER, now: nowOf(m, r) });
    if (job.state === 'running') {
      assert.equal(outcome, 'cancel_requested');
      job.cancelRequested = true;
    } else if (job.state === 'completed' || job.state === 'dead' || job.state === 'cancelled') {
      assert.equal(outcome, 'already_final');
    } else {
      assert.equal(outcome, 'cancelled');
      job.state = 'cancelled';
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `cancel(job#${this.jobIndex})`;
  }
}

export class AdvanceCommand implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    m.clock += this.ms;
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

export class PromoteCommand implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const due = m.jobs.filter((j) => (j.state === 'scheduled' || j.state === 'retrying') && j.runAt <= m.clock);
    const result = await r.backend.promoteDueJobs({ limit: 100, now: nowOf(m, r) });
    assert.equal(result.promoted, due.length, 'promoted another number of jobs than were due');
    for (const j of due) j.state = 'queued';
    await verify(m, r, this.toString());
  }
  toString(): string {
    return 'promote';
  }
}

/**
 * Rescue with a spread (ADR 0019): a job that will run again is `retrying`, due at a random
 * moment of [now, now + spreadMs) that the model reads back (checking the window), or `queued`
 * at now with spread 0.
 */
export class RescueCommand implements Cmd {
  constructor(readonly spreadMs: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const expired = m.jobs.filter((j) => j.state === 'running' && j.lease !== null && j.lease.expiresAt < m.clock);
    const expected = { requeued: [] as string[], dead: [] as string[], cancelled: [] as string[] };
    for (const j of expired) {
      j.errors += 1;
      clearLease(j);
      if (j.cancelRequested) {
        j.state = 'cancelled';
        expected.cancelled.push(j.id);
      } else if (j.attempt >= j.maxRetries + 1) {
        j.state = 'dead';
        expected.dead.push(j.id);
      } else {
        j.state = this.spreadMs > 0 ? 'retrying' : 'queued';
        j.runAt = m.clock;
        expected.requeued.push(j.id);
      }
    }
    const result = await r.backend.rescueExpiredLeases({ limit: 100, retention: KEEP_FOREVER, spreadMs: this.spreadMs, now: nowOf(m, r) });
    const sorted = (ids: string[]) => [...ids].sort();
    assert.deepStrictEqual(
      { requeued: sorted(result.requeued), dead: sorted(result.dead), cancelled: sorted(result.cancelled) },
      { requeued: sorted(expected.requeued), dead: sorted(expected.dead), cancelled: sorted(expected.cancelled) },
    );
    if (this.spreadMs > 0) {
      for (const id of expected.requeued) {
        const j = m.jobs.find((x) => x.id === id)!;
        const record = await r.backend.getJob(id);
        const delay = (record?.runAt.getTime() ?? Number.NaN) - r.t0 - m.clock;
        assert.ok(delay >= 0 && delay < this.spreadMs, `${this.toString()}: job ${id} due ${delay} ms after the rescue, not within [0, ${this.spreadMs})`);
        j.runAt = m.clock + delay;
      }
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return `rescue(spread ${this.spreadMs})`;
  }
}

export class ReplayCommand implements Cmd {
  /** `jobIndex` null: replay the whole DLQ of the queue by filter. */
  constructor(readonly jobIndex: number | null) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const targets = this.jobIndex === null ? m.jobs : [m.jobs[this.jobIndex % m.jobs.length]!];
    const dead = targets.filter((j) => j.state === 'dead');
    const result = await r.backend.dlqReplay(
      this.jobIndex === null
        ? { filter: { queue: MODEL_QUEUE }, limit: 100, now: nowOf(m, r) }
        : { ids: targets.map((j) => j.id), limit: 100, now: nowOf(m, r) },
    );
    assert.deepStrictEqual([...result.replayed].sort(), dead.map((j) => j.id).sort());
    assert.deepStrictEqual(result.skipped, []);
    for (const j of dead) {
      j.state = 'queued';
      j.attempt = 0;
      j.round += 1;
      j.runAt = m.clock;
      j.cancelRequested = false;
    }
    await verify(m, r, this.toString());
  }
  toString(): string {
    return this.jobIndex === null ? 'replay(all)' : `replay(job#${this.jobIndex})`;
  }
}
