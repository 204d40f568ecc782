/**
 * What an attempt's end means for its job: the finalize action for a handler's return value or
 * thrown error (complete with the serialized result, snooze, retry with backoff, dead, cancel,
 * or release on shutdown). Pure: the worker writes the action, fenced by the attempt's lease.
 *
 * Invariants: a result that is not JSON (or too large) fails the attempt instead of completing
 * it; a returned SnoozeError snoozes unless a cancel was requested (then it ends cancelled); an
 * attempt aborted by its timeout fails with the TimeoutError whatever the handler threw after.
 */
import type { FinalizeAction } from '../backend/backend.js';
import { SnoozeError, TimeoutError, ValidationError } from '../errors.js';
import { clampDelay, failureAction, type BackoffFunction, type ErrorClassifier } from '../job/outcome.js';
import { Issues, serializeJson } from '../validate.js';
import type { Execution } from './execution.js';

export type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What the decision needs from its worker (read once per attempt; the hooks only on failure). */
export interface DecideContext {
  readonly id: string;
  readonly maxResultBytes: number;
  hooksFor(queue: string): { classifyError?: ErrorClassifier | undefined; backoff?: BackoffFunction | undefined };
}

export function decideAction(exec: Execution, settled: Settled, ctx: DecideContext): FinalizeAction {
  if (settled.ok) {
    if (settled.value instanceof SnoozeError) {
      // A returned snooze is not a completion: after a cancel request it ends cancelled.
      if (!exec.cancelRequested) return { kind: 'snooze', delayMs: clampDelay(settled.value.delayMs) };
      settled = { ok: false, error: settled.value };
    } else if (settled.value === undefined || settled.value === null) {
      return { kind: 'complete', result: 'null' }; // most handlers return nothing: no serializer needed
    } else {
      const issues = new Issues();
      const text = serializeJson(issues, 'result', settled.value, ctx.maxResultBytes);
      if (text !== null) return { kind: 'complete', result: text };
      settled = { ok: false, error: new ValidationError(issues.list) };
    }
  }
  // A cancel requested while the shutdown waited for the handler wins over the release.
  if (exec.abortCause === 'shutdown' && !exec.cancelRequested) return { kind: 'release' };
  const error = exec.abortCause === 'timeout' && !(settled.error instanceof TimeoutError) ? exec.reason : settled.error;
  const hooks = ctx.hooksFor(exec.job.queue);
  return failureAction({
    job: exec.job,
    error,
    workerId: ctx.id,
    cancelRequested: exec.cancelRequested,
    classifyError: hooks.classifyError,
    backoff: hooks.backoff,
  });
}
