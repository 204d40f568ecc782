/**
 * Lease and attempt invariants I5–I8 of reliability.md §5.2: lease exclusivity, attempt
 * accounting, no redelivery after an acknowledged ack, unknown enqueues and duplicate counts.
 * Pure functions of a CheckContext (checker.ts). Lease times are the database's (claims return
 * `leaseExpiresAt`); a heartbeat's new expiry is bounded below by its invoke time + leaseMs,
 * which holds because the database shares the host clock (SQLite embedded, PostgreSQL local).
 */
import type { CheckContext, Violation } from './checker.js';
import { violation } from './checker.js';
import { endOf, type EnqueueValue, mayHaveHappened, okValue, type Op, precedes } from './history.js';
import type { Lease } from './model.js';

const GIVE_BACK = new Set(['snooze', 'release']);

/**
 * **I5 — Lease exclusivity.** No two attempts of a job hold unexpired leases at the same time
 * (database timestamps), and no attempt is claimed twice. For consecutive leases L1, L2 of a job:
 * unless L1 was finalized (ok or unknown) before L2's claim ended, L2's start (its expiry −
 * leaseMs) must not precede L1's expiry as extended by the heartbeats accepted before L2's claim
 * began. Two leases with the same (round, attempt) are a double claim.
 */
export function checkLeaseExclusivity({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const tol = options.clockToleranceMs;
  for (const [id, leases] of model.leasesByJob) {
    for (let i = 1; i < leases.length; i++) {
      const l1 = leases[i - 1]!;
      const l2 = leases[i]!;
      if (l1.round === l2.round && l1.attempt === l2.attempt) {
        // A give-back (snooze/release) hands the same attempt number out again: legitimate.
        const given = model.writesWith(l1).some((w) => GIVE_BACK.has(w.f) && mayHaveHappened(w) && w.invokeAt <= endOf(l2.op));
        if (!given) {
          out.push(violation('I5', `job ${id} attempt ${l1.attempt} (round ${l1.round}) was claimed twice`, [l1.op, l2.op], id));
          continue;
        }
      }
      const released = model.writesWith(l1).some((w) => ['complete', 'fail', 'snooze', 'release', 'cancel_ack'].includes(w.f) && mayHaveHappened(w) && w.invokeAt <= endOf(l2.op));
      if (released) continue;
      const heartbeats = model.writesWith(l1).filter((w) => w.f === 'heartbeat' && w.outcome.type === 'ok' && precedes(w, l2.op));
      const expiry = Math.max(l1.leaseExpiresAt, ...heartbeats.map((h) => ((h.args.now as number | null) ?? h.invokeAt) + (h.args.leaseMs as number)));
      const start2 = l2.leaseExpiresAt - l2.leaseMs;
      if (start2 < expiry - tol) {
        out.push(violation('I5', `job ${id}: attempt ${l2.attempt} was leased at ${start2} while attempt ${l1.attempt}'s lease ran until ${expiry}`, [l1.op, ...heartbeats, l2.op], id));
      }
    }
  }
  return out;
}

/**
 * **I6 — Attempt accounting.** attempts ≤ max (= maxRetries + 1) for every claim and in the
 * final state; a job in the DLQ has attempts == max unless it was failed as non-retryable; a crash
 * (lease expiry) counts as an attempt: the next claim of the round has a higher attempt unless the
 * previous one was given back (snooze / release), and the final error history holds one
 * `lease_expired` error per accepted rescue (checked for jobs never redriven).
 */
export function checkAttemptAccounting({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const unknownClaims = model.kind('claim').some((c) => c.outcome.type === 'unknown');
  for (const l of model.leases) {
    if (l.attempt < 1 || l.attempt > l.maxRetries + 1) out.push(violation('I6', `job ${l.jobId} claimed at attempt ${l.attempt} of ${l.maxRetries + 1}`, [l.op], l.jobId));
  }
  for (const [id, leases] of model.leasesByJob) {
    for (let i = 1; i < leases.length; i++) {
      const a = leases[i - 1]!;
      const b = leases[i]!;
      if (a.round !== b.round) continue;
      // An accepted give-back hands the same attempt out again; an unknown one may not have landed.
      const gives = model.writesWith(a).filter((w) => GIVE_BACK.has(w.f) && mayHaveHappened(w));
      const allowed = gives.some((w) => w.outcome.type === 'ok') ? [a.attempt] : gives.length ? [a.attempt, a.attempt + 1] : [a.attempt + 1];
      const highest = allowed[allowed.length - 1]!;
      if (!allowed.includes(b.attempt) && !(b.attempt > highest && unknownClaims)) {
        out.push(violation('I6', `job ${id}: attempt ${b.attempt} followed attempt ${a.attempt}; expected ${allowed.join(' or ')}`, [a.op, b.op], id));
      }
    }
  }
  for (const j of model.final.jobs) {
    const max = j.maxRetries + 1;
    if (j.attempt > max) out.push(violation('I6', `job ${j.id} ended with ${j.attempt} attempts, max ${max}`, [], j.id));
    if (j.state === 'dead' && j.attempt < max) {
      const lastError = [...j.errors].reverse().find((e) => e.round === j.round);
      const nonRetryable = lastError?.kind === 'permanent' || model.writesOf(j.id).some((w) => w.f === 'fail' && w.args.action === 'dead' && mayHaveHappened(w));
      if (!nonRetryable) out.push(violation('I6', `job ${j.id} is dead after ${j.attempt} of ${max} attempts without a non-retryable failure`, [], j.id));
    }
    if (model.mayConcern('redrive', j.id).length === 0) {
      const rescues = model.mayConcern('rescue', j.id);
      const okRescues = rescues.filter((r) => r.outcome.type === 'ok').length;
      const expired = j.errors.filter((e) => e.kind === 'lease_expired').length;
      if (expired < okRescues || expired > rescues.length) {
        out.push(violation('I6', `job ${j.id} has ${expired} lease_expired errors for ${okRescues} accepted rescues (${rescues.length} possible)`, rescues, j.id));
      }
    }
  }
  return out;
}

/**
 * **I7 — No redelivery after an acknowledged ack.** Once a terminal transition of a job was
 * acknowledged (complete, dead, cancel — by a worker, the API or the rescuer), no claim that
 * begins afterwards returns the job, unless a redrive may have started a new round in between.
 */
export function checkNoRedeliveryAfterAck({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  for (const [id, leases] of model.leasesByJob) {
    const ts = model.terminalTransitions(id);
    for (const t of ts) {
      for (const l of leases) {
        if (precedes(t.op, l.op) && !model.redriveBetween(id, t.op, l.op)) {
          out.push(violation('I7', `job ${id} was delivered again (attempt ${l.attempt}) after its ${t.state} transition was acknowledged`, [t.op, l.op], id));
        }
      }
    }
  }
  return out;
}

/**
 * **I8 — Unknown enqueues and duplicates.** An enqueue whose outcome is unknown appears 0 or 1
 * times; with a key (uniqueKey), a value is stored at most once whatever the retries. Values are
 * the harness's unique payloads, compared per queue. Duplicate jobs of unkeyed values and
 * duplicate executions (attempts re-run because an earlier attempt crashed or lost its lease
 * rather than failing) are counted into the stats and checked against the scenario's bounds.
 */
export function checkUnknownEnqueues({ model, options, stats }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const byValue = new Map<string, Op[]>();
  for (const op of model.kind('enqueue')) {
    const k = `${op.args.queue as string}\u0000${op.args.payload as string}`;
    byValue.set(k, [...(byValue.get(k) ?? []), op]);
  }
  for (const [k, ops] of byValue) {
    const ids = new Set<string>();
    for (const op of ops) {
      if (mayHaveHappened(op)) ids.add(op.args.jobId as string);
      const v = okValue<EnqueueValue>(op);
      if (v) ids.add(v.jobId);
    }
    const stored = [...ids].filter((id) => model.finalJobs.has(id));
    if (stored.length <= 1) continue;
    const keyed = ops.some((o) => o.args.uniqueKey !== null && o.args.uniqueKey !== undefined);
    const okInserts = ops.filter((o) => okValue<EnqueueValue>(o)?.inserted === true).length;
    const maybe = ops.filter((o) => o.outcome.type === 'unknown').length;
    if (keyed) {
      out.push(violation('I8', `keyed value stored ${stored.length} times (${k.replace('\u0000', ' ')})`, ops, stored[0]));
    } else if (stored.length > okInserts + maybe) {
      out.push(violation('I8', `value stored ${stored.length} times by ${okInserts} acknowledged and ${maybe} unknown enqueues`, ops, stored[0]));
    } else if (maybe > 0) {
      stats.duplicateEnqueues += stored.length - 1;
    }
  }
  if (options.maxDuplicateEnqueues !== undefined && stats.duplicateEnqueues > options.maxDuplicateEnqueues) {
    out.push(violation('I8', `${stats.duplicateEnqueues} duplicate jobs from unknown enqueues, bound ${options.maxDuplicateEnqueues}`, []));
  }
  stats.duplicateExecutions += countDuplicateExecutions(model.leasesByJob, (l) => model.writesWith(l));
  if (options.maxDuplicateExecutions !== undefined && stats.duplicateExecutions > options.maxDuplicateExecutions) {
    out.push(violation('I8', `${stats.duplicateExecutions} duplicate executions, bound ${options.maxDuplicateExecutions}`, []));
  }
  return out;
}

/** Leases followed by another lease of the same round without an accepted fail / give-back of their own. */
function countDuplicateExecutions(leasesByJob: Map<string, Lease[]>, writesWith: (l: Lease) => Op[]): number {
  let n = 0;
  for (const leases of leasesByJob.values()) {
    for (let i = 0; i < leases.length - 1; i++) {
      const l = leases[i]!;
      if (leases[i + 1]!.round !== l.round) continue;
      const handedOn = writesWith(l).some((w) => ['fail', 'snooze', 'release'].includes(w.f) && w.outcome.type === 'ok');
      if (!handedOn) n++;
    }
  }
  return n;
}
