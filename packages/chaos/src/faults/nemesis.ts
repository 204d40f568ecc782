/**
 * What the fault drivers share: the optional link to the history (a fault is an op of the
 * nemesis, `f: 'fault'`, invoked when injected and completed when healed — see Recorder
 * `faultStarted`), and two small process/port helpers.
 *
 * Invariants:
 * - A driver given a recorder writes the fault's start *before* it injects it and the heal
 *   *after* the heal took effect, so the recorded window always covers the real one.
 * - Drivers never need a recorder: without one nothing is written.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The part of the Recorder a driver uses (structural, so a test can pass a stub). */
export interface FaultRecorder {
  faultStarted(args: { fault: string; target?: string; [k: string]: unknown }): () => void;
}

/** Starts a fault record, or a no-op when there is no recorder. Returns the heal call. */
export function recordFault(recorder: FaultRecorder | undefined, args: { fault: string; target?: string; [k: string]: unknown }): () => void {
  return recorder ? recorder.faultStarted(args) : () => {};
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a process runs (a zombie, exited but not yet reaped, counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." — the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}
