/**
 * Measurements of a finished run, read from its merged history (pure, like the checker): which
 * leases each disruption caught in flight (the duplicate-execution bound), which duplicate
 * executions no disruption explains, how long orphans waited to be claimed again, and
 * throughput windows.
 *
 * Owns: the scenario-level numbers the report prints; the checker stays the judge of I1–I13.
 *
 * Invariants:
 * - A *disruption* is something that takes a worker's leases away from it: a nemesis fault
 *   (SIGKILL / SIGSTOP of a proc), or a poison job that exits or blocks its process.
 * - A lease is in flight at a disruption of its proc if its claim was invoked before the
 *   disruption (+ `slackMs`, ms clock ties) and it was not over by then (no accepted finalize,
 *   no lease_lost refusal, no later lease of the job).
 * - A duplicate execution is counted exactly as the checker's I8 counts it: a lease followed by
 *   another lease of the same round, without an accepted fail / snooze / release of its own.
 */
import type { Op } from '../history.js';
import { FINALIZES, type Lease, type Model } from '../model.js';

export interface Disruption {
  proc: string;
  at: number;
  cause: string;
  jobId?: string;
  /** The fault op (nemesis faults only). */
  op?: Op;
}

/** Nemesis faults (fault ops) as disruptions of their target. */
export function faultDisruptions(ops: readonly Op[]): Disruption[] {
  return ops
    .filter((o) => o.f === 'fault' && typeof o.args.target === 'string')
    .map((o) => ({ proc: o.args.target as string, at: o.invokeAt, cause: String(o.args.fault), op: o }));
}

/** Handler starts of jobs that disrupt their own process (poison exit / hang, C2b's busy loop). */
export function handlerDisruptions(ops: readonly Op[], causes: ReadonlyMap<string, { cause: string; firstAttemptOnly: boolean }>): Disruption[] {
  const out: Disruption[] = [];
  for (const o of ops) {
    if (o.f !== 'handler_start') continue;
    const c = causes.get(o.args.jobId as string);
    if (!c || (c.firstAttemptOnly && (o.args.attempt !== 1 || o.args.round !== 0))) continue;
    out.push({ proc: o.proc, at: o.invokeAt, cause: c.cause, jobId: o.args.jobId as string });
  }
  return out;
}

/** The lease was over by `t`: an accepted finalize or a lease_lost refusal of it had completed, or a later lease of the job had been claimed. */
function endedBy(model: Model, l: Lease, t: number): boolean {
  const ended = model.writesWith(l).some((w) => w.completeAt !== null && w.completeAt <= t
    && ((FINALIZES.has(w.f) && w.outcome.type === 'ok') || (w.outcome.type === 'refused' && w.outcome.code === 'lease_lost')));
  return ended || model.leasesOf(l.jobId).some((n) => n !== l && (n.round > l.round || (n.round === l.round && n.attempt > l.attempt)) && n.op.completeAt !== null && n.op.completeAt <= t);
}

export function inFlightAt(model: Model, d: Disruption, slackMs = 50): Lease[] {
  return model.leases.filter((l) => l.op.proc === d.proc && l.op.invokeAt <= d.at + slackMs && !endedBy(model, l, d.at));
}

/** Leases re-run by another lease of the same round without having handed the job on (I8's count). */
export function duplicatedLeases(model: Model): Lease[] {
  const out: Lease[] = [];
  for (const leases of model.leasesByJob.values()) {
    for (let i = 0; i < leases.length - 1; i++) {
      const l = leases[i]!;
      if (leases[i + 1]!.round !== l.round) continue;
      if (!model.writesWith(l).some((w) => ['fail', 'snooze', 'release'].includes(w.f) && w.outcome.type === 'ok')) out.push(l);
    }
  }
  return out;
}

export interface DisruptionSummary {
  /** Per disruption: how many leases it caught in flight. */
  perDisruption: number[];
  /** Σ in flight over disruptions: the scenario's duplicate bound ("≤ jobs in flight at each fault"). */
  bound: number;
  duplicates: number;
  /** Duplicated leases that no disruption caught in flight (each one needs an explanation). */
  unexplained: Lease[];
}

export function summarizeDisruptions(model: Model, disruptions: readonly Disruption[]): DisruptionSummary {
  const caught = new Set<Lease>();
  const perDisruption = disruptions.map((d) => {
    const leases = inFlightAt(model, d);
    for (const l of leases) caught.add(l);
    return leases.length;
  });
  const dups = duplicatedLeases(model);
  return {
    perDisruption,
    bound: perDisruption.reduce((a, b) => a + b, 0),
    duplicates: dups.length,
    unexplained: dups.filter((l) => !caught.has(l)),
  };
}

/**
 * SQLite's one write lock: a worker stopped (SIGSTOP) inside a write transaction stalls every
 * writer of every process — heartbeats included, and better-sqlite3 waits for the lock
 * synchronously — until it is continued. A lease of any worker whose renewal was due during
 * such a window may be lost. Returns the duplicated leases so explained: the lease's last
 * accepted renewal (claim or heartbeat) + leaseMs falls inside a SIGSTOP window.
 */
export function explainedByWriteStalls(model: Model, leases: readonly Lease[], windows: ReadonlyArray<{ from: number; to: number }>): Lease[] {
  return leases.filter((l) => {
    const renewals = model.writesWith(l).filter((w) => w.f === 'heartbeat' && w.outcome.type === 'ok').map((w) => w.completeAt!);
    const last = Math.max(l.op.completeAt ?? l.op.invokeAt, ...renewals);
    const expiry = last + l.leaseMs;
    return windows.some((w) => w.from <= expiry && expiry <= w.to);
  });
}

/**
 * For each lease in flight at a fault that was later claimed again (same round, later attempt):
 * ms from the fault to the database start of the next lease. The §5.3 target is lease + sweep.
 */
export function orphanReclaimTimes(model: Model, faults: readonly Disruption[]): number[] {
  const out: number[] = [];
  const seen = new Set<Lease>();
  for (const d of faults) {
    for (const l of inFlightAt(model, d)) {
      if (seen.has(l)) continue;
      seen.add(l);
      const next = model.leasesOf(l.jobId).find((n) => n.round === l.round && n.attempt > l.attempt);
      if (next) out.push(next.leaseExpiresAt - next.leaseMs - d.at);
    }
  }
  return out;
}

/**
 * lease_lost refusals split by cause: `takenOver` — the write came after another attempt was
 * claimed or the rescuer expired the lease (the fence refusing a stale worker); `ownRace` — a
 * write of a lease its own finalize had already ended (e.g. a heartbeat sent while the
 * attempt's outcome was being written), which is refused but was never stale.
 */
export function refusalsByCause(model: Model): { takenOver: number; ownRace: number } {
  let takenOver = 0;
  let ownRace = 0;
  for (const op of model.ops) {
    if (op.outcome.type !== 'refused' || op.outcome.code !== 'lease_lost') continue;
    const lease = model.leaseByToken.get(op.args.token as string);
    const end = op.completeAt ?? Infinity;
    const newer = lease && model.leasesOf(lease.jobId).some((n) => n !== lease && (n.round > lease.round || (n.round === lease.round && n.attempt > lease.attempt)) && n.op.invokeAt <= end);
    const rescued = lease && model.mayConcern('rescue', lease.jobId).some((r) => r.invokeAt >= lease.op.invokeAt && r.invokeAt <= end);
    if (!lease || newer || rescued) takenOver += 1;
    else ownRace += 1;
  }
  return { takenOver, ownRace };
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Accepted completions per second in [from, to) (null for an empty window). */
export function completionRate(ops: readonly Op[], from: number, to: number): number | null {
  if (!(to > from)) return null;
  const n = ops.filter((o) => o.f === 'complete' && o.outcome.type === 'ok' && o.completeAt! >= from && o.completeAt! < to).length;
  return Math.round((n / ((to - from) / 1000)) * 10) / 10;
}

/**
 * Throughput of a burst of jobs enqueued together at `startAt`: jobs per second until 90 % of
 * them had completed (the slow 2 % would otherwise make the burst's tail the figure).
 */
export function burstRate(ops: readonly Op[], jobIds: ReadonlySet<string>, startAt: number): number | null {
  const done = ops.filter((o) => o.f === 'complete' && o.outcome.type === 'ok' && jobIds.has(o.args.jobId as string)).map((o) => o.completeAt!).sort((a, b) => a - b);
  const n = Math.ceil(jobIds.size * 0.9);
  const t90 = done[n - 1];
  if (t90 === undefined || t90 <= startAt) return null;
  return Math.round((n / ((t90 - startAt) / 1000)) * 10) / 10;
}

export interface Throughput {
  /** Completions/s before the first fault (after the first completion). */
  baseline: number | null;
  /** Completions/s in the 10 s after the last fault was healed (cut at the last completion). */
  after: number | null;
}

export function throughputAround(ops: readonly Op[], faults: readonly Op[]): Throughput {
  const completes = ops.filter((o) => o.f === 'complete' && o.outcome.type === 'ok').map((o) => o.completeAt!);
  if (completes.length === 0) return { baseline: null, after: null };
  const first = Math.min(...completes);
  const last = Math.max(...completes);
  if (faults.length === 0) return { baseline: completionRate(ops, first, last), after: null };
  const firstFault = Math.min(...faults.map((f) => f.invokeAt));
  const healed = Math.max(...faults.map((f) => f.completeAt ?? f.invokeAt));
  return { baseline: completionRate(ops, first, firstFault), after: completionRate(ops, healed, Math.min(healed + 10_000, last)) };
}
