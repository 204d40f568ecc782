/**
 * Ordering and time invariants I11–I13 of reliability.md §5.2: FIFO groups, liveness after
 * faults stop, schedules (nothing early). Pure functions of a CheckContext (checker.ts).
 * Database times come from claims (`leaseExpiresAt − leaseMs` is the claim's database time);
 * a write's database time is bounded below by its invoke time (one host clock) or its `now`.
 */
import type { CheckContext, Violation } from './checker.js';
import { violation } from './checker.js';
import { endOf, type Op, precedes } from './history.js';
import type { Lease } from './model.js';

/**
 * **I11 — FIFO groups.** In a queue configured `fifo: true`, a group's jobs complete in enqueue
 * order with at most one in flight: for two jobs A, B of one group where A is ahead (its enqueue
 * finished before B's began, or its first claim finished before B's began), B's first claim must
 * not finish before A's terminal transition began. Only checked for `options.fifoQueues`.
 */
export function checkFifoGroups({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const fifo = new Set(options.fifoQueues ?? []);
  if (fifo.size === 0) return out;
  const groups = new Map<string, Array<{ id: string; enq: Op }>>();
  for (const op of model.kind('enqueue')) {
    if (op.outcome.type !== 'ok' || !fifo.has(op.args.queue as string) || op.args.group === null) continue;
    const k = `${op.args.queue as string}/${op.args.group as string}`;
    groups.set(k, [...(groups.get(k) ?? []), { id: op.args.jobId as string, enq: op }]);
  }
  for (const [k, jobs] of groups) {
    for (const a of jobs) {
      const aClaim = model.leasesOf(a.id)[0];
      const aEnd = model.terminalTransitions(a.id)[0];
      if (!aEnd) continue;
      for (const b of jobs) {
        if (a === b) continue;
        const bClaim = model.leasesOf(b.id)[0];
        if (!bClaim) continue;
        const ahead = precedes(a.enq, b.enq) || (aClaim !== undefined && precedes(aClaim.op, bClaim.op));
        if (ahead && precedes(bClaim.op, aEnd.op)) {
          out.push(violation('I11', `group ${k}: ${b.id} was claimed before ${a.id}, ahead of it, finished`, [a.enq, b.enq, bClaim.op, aEnd.op], b.id));
        }
      }
    }
  }
  return out;
}

/**
 * **I12 — Liveness.** After faults stop, every job is terminal within the scenario's bound
 * (`lease + sweep + maxAttempts × maxBackoff + 30 s`, passed as `livenessBoundMs`), judged by
 * its `finishedAt`; and after each healed fault, work resumes: some claim or outcome is accepted
 * within `resumeBoundMs` while jobs remain unfinished (unless another fault began meanwhile).
 * Jobs never terminal at all are I1's to report.
 */
export function checkLiveness({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const faults = model.kind('fault');
  const faultsEnd = options.faultsEndAt ?? (faults.length ? Math.max(...faults.map((f) => f.completeAt ?? -Infinity)) : undefined);
  if (faultsEnd !== undefined && options.livenessBoundMs !== undefined) {
    for (const j of model.final.jobs) {
      if (j.finishedAt !== null && j.finishedAt > faultsEnd + options.livenessBoundMs) {
        out.push(violation('I12', `job ${j.id} finished ${j.finishedAt - faultsEnd} ms after faults stopped (bound ${options.livenessBoundMs})`, [], j.id));
      }
    }
  }
  const progress = model.ops.filter((o) => o.outcome.type === 'ok' && o.completeAt !== null && (o.f === 'claim' ? (o.outcome.value as { leases: unknown[] }).leases.length > 0 : ['complete', 'fail'].includes(o.f)));
  for (const f of faults) {
    if (f.completeAt === null) continue;
    const healed = f.completeAt;
    const until = healed + options.resumeBoundMs;
    if (faults.some((g) => g !== f && g.invokeAt >= healed && g.invokeAt < until)) continue;
    const pending = model.final.jobs.some((j) => j.createdAt < healed && (j.finishedAt ?? Infinity) > healed);
    if (!pending) continue;
    if (!progress.some((o) => o.completeAt! > healed && o.completeAt! <= until)) {
      out.push(violation('I12', `no claim or outcome accepted within ${options.resumeBoundMs} ms after the ${String(f.args.fault)} fault was healed`, [f]));
    }
  }
  return out;
}

/** The claim's database time. */
const claimedAt = (l: Lease): number => l.leaseExpiresAt - l.leaseMs;

/**
 * **I13 — Schedules.** Nothing runs before its `run_at` by the database clock: a claim's database
 * time is not before the job's runAt as the claim returned it, nor before the runAt / delay its
 * enqueue asked for, nor before the backoff (retry) or snooze delay its previous attempt set.
 * Lateness of a due job's first claim is checked against `latenessBoundMs` when given.
 */
export function checkSchedules({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const tol = options.clockToleranceMs;
  for (const [id, leases] of model.leasesByJob) {
    for (const l of leases) {
      if (claimedAt(l) < l.runAt - tol) out.push(violation('I13', `job ${id} attempt ${l.attempt} claimed ${l.runAt - claimedAt(l)} ms before its runAt`, [l.op], id));
    }
    const first = leases[0];
    const enq = (model.enqueues.get(id) ?? []).find((e) => e.outcome.type === 'ok');
    if (first && first.round === 0 && enq) {
      const due = (enq.args.runAt as number | null) ?? ((enq.args.delayMs as number | null) !== null ? ((enq.args.now as number | null) ?? enq.invokeAt) + (enq.args.delayMs as number) : null);
      if (due !== null && claimedAt(first) < due - tol) out.push(violation('I13', `job ${id} first claimed ${due - claimedAt(first)} ms before the time it was enqueued for`, [enq, first.op], id));
      if (options.latenessBoundMs !== undefined) {
        const dueAt = due ?? enq.completeAt ?? enq.invokeAt;
        if (claimedAt(first) - dueAt > options.latenessBoundMs) out.push(violation('I13', `job ${id} first claimed ${claimedAt(first) - dueAt} ms late`, [enq, first.op], id));
      }
    }
    for (let i = 1; i < leases.length; i++) {
      const prev = leases[i - 1]!;
      const next = leases[i]!;
      if (prev.round !== next.round) continue;
      for (const w of model.writesWith(prev)) {
        const delay = w.args.delayMs as number | undefined;
        if (w.outcome.type !== 'ok' || delay === undefined || !(w.f === 'snooze' || (w.f === 'fail' && w.args.action === 'retry'))) continue;
        const due = ((w.args.now as number | null) ?? w.invokeAt) + delay;
        if (claimedAt(next) < due - tol && endOf(w) < Infinity) out.push(violation('I13', `job ${id} attempt ${next.attempt} claimed ${due - claimedAt(next)} ms before its ${w.f} delay elapsed`, [w, next.op], id));
      }
    }
  }
  return out;
}
