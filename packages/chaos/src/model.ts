/**
 * The checker's index over a history: ops grouped by job, leases by token, terminal transitions,
 * the ops that may have touched a job (rescues, redrives, deletes named by the answer or — when
 * unknown — possibly any job). Pure: built once from (ops, final state), never mutated after.
 *
 * Invariants: a lease comes only from an `ok` claim (or an `ok` enqueue that dispatched the job
 * already claimed); an `unknown` call that names its jobs only in the answer (rescue, redrive,
 * delete without ids) "may concern" every job — the checks then give the history the benefit of
 * the doubt rather than report a false violation.
 */
import type { FinalJob, FinalState } from './final-state.js';
import { type ClaimedLease, type ClaimValue, type EnqueueValue, endOf, type JobIdsValue, mayHaveHappened, type Op, type OpKind, okValue, type RescueValue } from './history.js';

export interface Lease extends ClaimedLease {
  /** The claim (or dispatching enqueue) op that returned it. */
  op: Op;
}

export interface TerminalTransition {
  op: Op;
  state: 'completed' | 'dead' | 'cancelled';
}

/** Writes made for one attempt, fenced by its token. */
export const LEASE_WRITES: ReadonlySet<OpKind> = new Set<OpKind>(['heartbeat', 'progress', 'complete', 'fail', 'snooze', 'release', 'cancel_ack']);
/** Writes that end an attempt's lease when accepted. */
export const FINALIZES: ReadonlySet<OpKind> = new Set<OpKind>(['complete', 'fail', 'snooze', 'release', 'cancel_ack']);
export const TERMINAL_STATES: ReadonlySet<string> = new Set(['completed', 'dead', 'cancelled']);

export class Model {
  readonly finalJobs = new Map<string, FinalJob>();
  /** Enqueue ops by the id they asked for. */
  readonly enqueues = new Map<string, Op[]>();
  readonly leases: Lease[] = [];
  readonly leaseByToken = new Map<string, Lease>();
  readonly leasesByJob = new Map<string, Lease[]>();
  /** Lease writes (heartbeat, progress, finalizes) by job. */
  readonly writesByJob = new Map<string, Op[]>();
  readonly byKind = new Map<OpKind, Op[]>();
  private readonly byJobKind = new Map<string, Op[]>();
  /** rescue / redrive / delete ops by the jobs they name (ok: the answer; unknown: args.jobIds). */
  private readonly named = { rescue: new Map<string, Op[]>(), redrive: new Map<string, Op[]>(), delete: new Map<string, Op[]>() };
  /** Unknown rescue / redrive / delete ops that name no jobs: they may concern any job. */
  private readonly unnamed: Record<'rescue' | 'redrive' | 'delete', Op[]> = { rescue: [], redrive: [], delete: [] };
  private readonly transitions = new Map<string, TerminalTransition[]>();

  constructor(readonly ops: readonly Op[], readonly final: FinalState) {
    for (const j of final.jobs) this.finalJobs.set(j.id, j);
    for (const op of ops) {
      push(this.byKind, op.f, op);
      const jobId = op.args.jobId as string | undefined;
      if (jobId) push(this.byJobKind, `${op.f}\u0000${jobId}`, op);
      if (op.f === 'rescue' || op.f === 'redrive' || op.f === 'delete') this.indexNamed(op.f, op);
      if (op.f === 'enqueue' && jobId) push(this.enqueues, jobId, op);
      if (LEASE_WRITES.has(op.f) && jobId) push(this.writesByJob, jobId, op);
      if (op.f === 'claim') for (const l of okValue<ClaimValue>(op)?.leases ?? []) this.addLease(l, op);
      if (op.f === 'enqueue') {
        const claimed = okValue<EnqueueValue>(op)?.claimed;
        if (claimed) this.addLease(claimed, op);
      }
    }
    for (const list of this.leasesByJob.values()) list.sort((a, b) => a.round - b.round || a.attempt - b.attempt || a.op.invokeAt - b.op.invokeAt);
  }

  private indexNamed(f: 'rescue' | 'redrive' | 'delete', op: Op): void {
    if (op.outcome.type === 'refused') return;
    let ids: string[] | null;
    if (op.outcome.type === 'ok') {
      const v = op.outcome.value as RescueValue & JobIdsValue;
      ids = f === 'rescue' ? [...v.requeued, ...v.dead, ...v.cancelled] : v.jobIds;
    } else {
      ids = (op.args.jobIds as string[] | null | undefined) ?? null;
    }
    if (ids === null) this.unnamed[f].push(op);
    else for (const id of new Set(ids)) push(this.named[f], id, op);
  }

  private addLease(l: ClaimedLease, op: Op): void {
    const lease: Lease = { ...l, op };
    this.leases.push(lease);
    this.leaseByToken.set(l.token, lease);
    push(this.leasesByJob, l.jobId, lease);
  }

  kind(f: OpKind): Op[] {
    return this.byKind.get(f) ?? [];
  }

  leasesOf(jobId: string): Lease[] {
    return this.leasesByJob.get(jobId) ?? [];
  }

  writesOf(jobId: string): Op[] {
    return this.writesByJob.get(jobId) ?? [];
  }

  /** Writes made with this lease's token. */
  writesWith(lease: Lease): Op[] {
    return this.writesOf(lease.jobId).filter((w) => w.args.token === lease.token);
  }

  /** Every job id an ok enqueue acknowledged (the existing job's id for a duplicate). */
  ackedJobIds(): Set<string> {
    const out = new Set<string>();
    for (const op of this.kind('enqueue')) {
      const v = okValue<EnqueueValue>(op);
      if (v) out.add(v.jobId);
    }
    return out;
  }

  /** Ids that may exist because an enqueue asked for them (ok or unknown) or acknowledged them. */
  mayBeEnqueued(): Set<string> {
    const out = this.ackedJobIds();
    for (const op of this.kind('enqueue')) if (mayHaveHappened(op)) out.add(op.args.jobId as string);
    return out;
  }

  /** rescue / redrive / delete ops that may have moved this job (by name, or unknown and unnamed). */
  mayConcern(f: 'rescue' | 'redrive' | 'delete', jobId: string): Op[] {
    const named = this.named[f].get(jobId) ?? [];
    const unnamed = this.unnamed[f];
    return unnamed.length === 0 ? named : [...named, ...unnamed];
  }

  /** Jobs some rescue / redrive / delete named. */
  namedJobs(f: 'rescue' | 'redrive' | 'delete'): string[] {
    return [...this.named[f].keys()];
  }

  /** Ops of this kind whose `args.jobId` is the job (cancel, read, handler records, …). */
  jobOps(f: OpKind, jobId: string): Op[] {
    return this.byJobKind.get(`${f}\u0000${jobId}`) ?? [];
  }

  /** Accepted (ok) transitions of a job into a terminal state, by completion time. */
  terminalTransitions(jobId: string): TerminalTransition[] {
    const cached = this.transitions.get(jobId);
    if (cached) return cached;
    const out: TerminalTransition[] = [];
    for (const w of this.writesOf(jobId)) {
      if (w.outcome.type !== 'ok') continue;
      if (w.f === 'complete') out.push({ op: w, state: 'completed' });
      else if (w.f === 'fail' && w.args.action === 'dead') out.push({ op: w, state: 'dead' });
      else if (w.f === 'cancel_ack') out.push({ op: w, state: 'cancelled' });
    }
    for (const op of this.jobOps('cancel', jobId)) {
      if (okValue<{ result: string }>(op)?.result === 'cancelled') out.push({ op, state: 'cancelled' });
    }
    for (const op of this.named.rescue.get(jobId) ?? []) {
      const v = okValue<RescueValue>(op);
      if (v?.dead.includes(jobId)) out.push({ op, state: 'dead' });
      if (v?.cancelled.includes(jobId)) out.push({ op, state: 'cancelled' });
    }
    out.sort((a, b) => endOf(a.op) - endOf(b.op));
    this.transitions.set(jobId, out);
    return out;
  }

  /**
   * A redrive of the job that may have taken effect after `after` began and before `before` ended.
   * Inclusive: times are whole milliseconds, so a tie is a possible order.
   */
  redriveBetween(jobId: string, after: Op, before: Op | null): Op | undefined {
    return this.mayConcern('redrive', jobId).find((r) => endOf(r) >= after.invokeAt && (before === null || r.invokeAt <= endOf(before)));
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
