/**
 * Job invariants I1–I4 of reliability.md §5.2: no loss, no phantoms, one terminal transition per
 * job (per round), fencing. Pure functions of a CheckContext (checker.ts); each reports only what
 * every resolution of the history's unknown ops would violate.
 */
import type { CheckContext, Violation } from './checker.js';
import { violation } from './checker.js';
import { canonicalJson } from './canonical.js';
import { type Op, endOf, mayHaveHappened, precedes } from './history.js';
import { FINALIZES, TERMINAL_STATES } from './model.js';

/**
 * **I1 — No loss.** Every acknowledged (ok) enqueue ends in exactly one terminal state after the
 * drain: `completed`, `dead` (in the DLQ) or `cancelled` through the API. A job an unknown
 * enqueue created is held to the same rule once it exists. Violations: the job is missing from
 * the final state (and no delete may have removed it), it is not terminal, or it is `cancelled`
 * although nobody asked to cancel it.
 */
export function checkNoLoss({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const acked = model.ackedJobIds();
  const candidates = new Set([...acked, ...model.mayBeEnqueued()]);
  for (const id of candidates) {
    if (options.untracked?.(id)) continue;
    const enq = model.enqueues.get(id) ?? [];
    const final = model.finalJobs.get(id);
    if (!final) {
      if (acked.has(id) && model.mayConcern('delete', id).length === 0) out.push(violation('I1', `acknowledged job ${id} is missing from the final state`, enq, id));
      continue;
    }
    if (!TERMINAL_STATES.has(final.state)) {
      out.push(violation('I1', `job ${id} ended the drain in state ${final.state}, not terminal`, enq, id));
      continue;
    }
    if (final.state === 'cancelled') {
      const asked = model.jobOps('cancel', id).some(mayHaveHappened);
      if (!asked) out.push(violation('I1', `job ${id} is cancelled but no cancel was requested`, enq, id));
    }
  }
  return out;
}

/**
 * **I2 — No phantoms.** Nothing is delivered (claimed, started by a handler, read, finalized) or
 * found in the final state that was never enqueued — an enqueue that was ok or unknown. A job
 * whose only enqueues were refused must not exist.
 */
export function checkNoPhantoms({ model, options }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const known = model.mayBeEnqueued();
  const seen = new Map<string, Op[]>();
  const note = (id: string, op: Op | null): void => {
    if (known.has(id) || options.untracked?.(id)) return;
    const list = seen.get(id) ?? [];
    if (op) list.push(op);
    seen.set(id, list);
  };
  for (const l of model.leases) note(l.jobId, l.op);
  for (const op of model.ops) {
    const id = op.args.jobId as string | undefined;
    if (!id) continue;
    if (op.f === 'handler_start' || (FINALIZES.has(op.f) && op.outcome.type === 'ok')) note(id, op);
    if (op.f === 'read' && op.outcome.type === 'ok' && op.outcome.value !== null) note(id, op);
  }
  for (const j of model.final.jobs) note(j.id, null);
  for (const [id, ops] of seen) out.push(violation('I2', `job ${id} was delivered or stored but never enqueued`, ops, id));
  return out;
}

/**
 * **I3 — One terminal transition per job.** A job enters a terminal state at most once per
 * round; only a redrive (DLQ replay / retry) starts a new round. Checked three ways: two accepted
 * terminal transitions with no redrive that may lie between them; a read after an acknowledged
 * terminal transition that shows the job not terminal (no redrive between); and the final state
 * disagreeing with the last acknowledged terminal transition when no redrive may follow it.
 */
export function checkOneTerminalTransition({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const jobs = new Set([...model.writesByJob.keys(), ...model.kind('cancel').map((c) => c.args.jobId as string), ...model.namedJobs('rescue'), ...model.finalJobs.keys()]);
  for (const id of jobs) {
    const ts = model.terminalTransitions(id);
    for (let i = 1; i < ts.length; i++) {
      const a = ts[i - 1]!;
      const b = ts[i]!;
      if (!model.redriveBetween(id, a.op, b.op)) {
        out.push(violation('I3', `job ${id} made two terminal transitions (${a.state}, then ${b.state}) in one round`, [a.op, b.op], id));
      }
    }
    const last = ts[ts.length - 1];
    if (!last) continue;
    for (const r of model.jobOps('read', id)) {
      const v = r.outcome.type === 'ok' ? (r.outcome.value as { state: string } | null) : null;
      if (!v || !precedes(last.op, r)) continue;
      if (!TERMINAL_STATES.has(v.state) && !model.redriveBetween(id, last.op, r)) {
        out.push(violation('I3', `job ${id} was read as ${v.state} after its ${last.state} transition was acknowledged`, [last.op, r], id));
      }
    }
    const final = model.finalJobs.get(id);
    if (final && !model.redriveBetween(id, last.op, null) && final.state !== last.state) {
      out.push(violation('I3', `job ${id} left its acknowledged ${last.state} state: final state is ${final.state}`, [last.op], id));
    }
  }
  return out;
}

/**
 * **I4 — Fencing.** Every accepted worker write (heartbeat, progress, complete, fail, snooze,
 * release, cancel ack) carries the (attempt, token) current at commit time. From the history:
 * the token must come from a claim of that job and attempt; no newer claim of the job, no rescue
 * after the claim and no accepted finalize of the same token may have completed before the write
 * began. Cross-check with the final state: a `completed` job's attempt must have a complete that
 * was ok or unknown (a refused write that landed anyway shows here), with the same result.
 */
export function checkFencing({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  for (const [id, writes] of model.writesByJob) {
    for (const w of writes) {
      if (w.outcome.type !== 'ok') continue;
      const lease = model.leaseByToken.get(w.args.token as string);
      if (!lease || lease.jobId !== id || lease.attempt !== w.args.attempt) {
        out.push(violation('I4', `accepted ${w.f} of job ${id} with a token no claim of that attempt issued`, [w], id));
        continue;
      }
      const newer = model.leasesOf(id).find((l) => (l.round > lease.round || (l.round === lease.round && l.attempt > lease.attempt)) && precedes(l.op, w));
      if (newer) {
        out.push(violation('I4', `stale ${w.f} of job ${id} attempt ${lease.attempt} accepted after attempt ${newer.attempt} (round ${newer.round}) was claimed`, [lease.op, newer.op, w], id));
        continue;
      }
      const rescue = model.mayConcern('rescue', id).find((r) => r.outcome.type === 'ok' && r.invokeAt > endOf(lease.op) && precedes(r, w));
      if (rescue) {
        out.push(violation('I4', `stale ${w.f} of job ${id} attempt ${lease.attempt} accepted after the rescuer expired that lease`, [lease.op, rescue, w], id));
        continue;
      }
      const ended = writes.find((f) => f !== w && FINALIZES.has(f.f) && f.outcome.type === 'ok' && f.args.token === lease.token && precedes(f, w));
      if (ended) out.push(violation('I4', `${w.f} of job ${id} accepted after the same lease was already finalized (${ended.f})`, [ended, w], id));
    }
  }
  for (const final of model.final.jobs) {
    if (final.state !== 'completed') continue;
    // Every lease of that attempt (a double claim is I5's to report; any of them may have written).
    const leases = model.leasesOf(final.id).filter((l) => l.round === final.round && l.attempt === final.attempt);
    if (leases.length === 0) continue; // no recorded claim for it (untracked worker): nothing to compare with
    const writes = leases.flatMap((l) => model.writesWith(l));
    const completes = writes.filter((w) => w.f === 'complete' && mayHaveHappened(w));
    if (completes.length === 0) {
      out.push(violation('I4', `job ${final.id} is completed by attempt ${final.attempt}, but every complete of that lease was refused`, [...leases.map((l) => l.op), ...writes], final.id));
      continue;
    }
    const results = completes.map((c) => canonicalJson((c.args.result as string | null) ?? null));
    if (!results.includes(final.result)) {
      out.push(violation('I4', `job ${final.id}'s stored result is none of the results its accepted lease sent`, completes, final.id));
    }
  }
  return out;
}
