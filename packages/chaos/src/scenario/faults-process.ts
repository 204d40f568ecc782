/**
 * The process-fault driver (reliability.md §5.1 "Processes"): SIGKILL, SIGSTOP and SIGCONT of a
 * child by pid, each recorded as a `fault` op in the nemesis's history — invoked when the fault
 * starts, completed when it is healed (a killed process restarted, a stopped one continued).
 *
 * Owns: sending the signals and recording them; nothing about which process or when (that is
 * the scenario's schedule, scenarios-process.ts).
 *
 * Invariants:
 * - The fault op's invoke is written before the signal is sent, so every op a target recorded
 *   after the fault began is ordered after it (same host clock).
 * - A signal that could not be delivered (the process had already exited) is still recorded, as
 *   a fault healed at once with `delivered: false`: the history says what was attempted.
 * - `args`: { fault: 'SIGKILL' | 'SIGSTOP', target: proc name, pid }.
 */
import type { Recorder } from '../recorder.js';

export interface FaultTarget {
  proc: string;
  pid: number;
}

function send(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // ESRCH: already gone
  }
}

export interface KillFault {
  delivered: boolean;
  startedAt: number;
  /** The target is back (restarted): completes the fault op. */
  healed(): void;
}

/** SIGKILL: the process dies at once, mid-whatever. Call `healed()` when it has been restarted. */
export function sigkill(nemesis: Recorder, target: FaultTarget): KillFault {
  const startedAt = Date.now();
  const done = nemesis.faultStarted({ fault: 'SIGKILL', target: target.proc, pid: target.pid });
  const delivered = send(target.pid, 'SIGKILL');
  if (!delivered) done();
  return { delivered, startedAt, healed: delivered ? once(done) : () => {} };
}

export interface StopFault {
  delivered: boolean;
  startedAt: number;
  /** SIGCONT: the process runs again; completes the fault op. Idempotent. */
  cont(): void;
}

/** SIGSTOP: the process is frozen (its leases expire while it holds them) until `cont()`. */
export function sigstop(nemesis: Recorder, target: FaultTarget): StopFault {
  const startedAt = Date.now();
  const done = nemesis.faultStarted({ fault: 'SIGSTOP', target: target.proc, pid: target.pid });
  const delivered = send(target.pid, 'SIGSTOP');
  if (!delivered) done();
  const heal = once(() => {
    send(target.pid, 'SIGCONT');
    done();
  });
  return { delivered, startedAt, cont: delivered ? heal : () => {} };
}

/** SIGCONT outside a recorded stop (cleanup): not a fault, not recorded. */
export function sigcont(pid: number): boolean {
  return send(pid, 'SIGCONT');
}

function once(fn: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    fn();
  };
}
