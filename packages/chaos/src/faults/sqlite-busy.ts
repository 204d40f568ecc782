/**
 * Fault driver: SQLite busy (reliability.md §5.1 "SQLite busy", scenario C7). It owns one child
 * process (sqlite-busy-child.ts) that opens the database file the system under test uses and,
 * on command, holds SQLite's write lock (`BEGIN EXCLUSIVE`) for a given time — another process
 * holding the lock, exactly what busy_timeout and Spindle's BUSY handling are for.
 *
 * Invariants:
 * - A separate OS process, never a connection of this one: SQLite's locks are per process
 *   file locks, and a lock held by this process's event loop could not be told apart.
 * - `lock(ms).locked` resolves only once the child holds the lock; `released` only once it
 *   dropped it. Holds run one after another.
 * - `stop()` (or this process exiting, which closes the child's stdin) drops any held lock and
 *   ends the child.
 * - The child sets no pragma and writes nothing: the file is unchanged by the fault.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FaultRecorder, recordFault } from './nemesis.js';

export interface BusyHolderOptions {
  /** How long the child itself waits for the lock (its busy_timeout). Default 30000. */
  lockWaitMs?: number;
  /** Each hold is recorded as a `fault` op `sqlite_busy`. */
  recorder?: FaultRecorder;
}

export interface BusyHold {
  /** Resolves (with the child's clock, epoch ms) once the lock is held. */
  locked: Promise<number>;
  /** Resolves (child's clock) once the lock was released. */
  released: Promise<number>;
}

export interface BusyHolder {
  readonly pid: number;
  /** Takes the write lock and keeps it `ms`. */
  lock(ms: number): BusyHold;
  /** `lock(ms).released`: resolves when the lock was taken and released. */
  hold(ms: number): Promise<void>;
  stop(): Promise<void>;
}

interface Waiter {
  onLocked: (at: number) => void;
  onReleased: (at: number) => void;
  fail: (err: Error) => void;
}

/** The command line that runs a sibling TS (or built JS) module as a child process. */
export function childCommand(moduleFile: string): string[] {
  return moduleFile.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx', moduleFile] : [moduleFile];
}

export async function startBusyHolder(file: string, options: BusyHolderOptions = {}): Promise<BusyHolder> {
  const here = fileURLToPath(import.meta.url);
  const script = join(dirname(here), `sqlite-busy-child${extname(here)}`);
  const child = spawn(process.execPath, [...childCommand(script), file, String(options.lockWaitMs ?? 30_000)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiters = new Map<number, Waiter>();
  let nextId = 1;
  let exited: Error | null = null;
  let onReady: ((pid: number) => void) | null = null;
  const ready = new Promise<number>((resolve, reject) => {
    onReady = resolve;
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`sqlite busy holder exited before it was ready (${code ?? signal})`)));
  });

  createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: { ev: string; id?: number; at: number; message?: string; pid?: number };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.ev === 'ready') onReady?.(msg.pid ?? child.pid!);
    const w = msg.id === undefined ? undefined : waiters.get(msg.id);
    if (!w) return;
    if (msg.ev === 'locked') w.onLocked(msg.at);
    else if (msg.ev === 'released') {
      waiters.delete(msg.id!);
      w.onReleased(msg.at);
    } else if (msg.ev === 'error') {
      waiters.delete(msg.id!);
      w.fail(new Error(`sqlite busy holder could not lock ${file}: ${msg.message}`));
    }
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`sqlite busy holder exited (${code ?? signal})`);
    for (const w of waiters.values()) w.fail(exited);
    waiters.clear();
  });
  child.stdin!.on('error', () => {}); // the child died: reported through 'exit'

  const pid = await ready;
  const send = (cmd: Record<string, unknown>): void => {
    child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  };

  const lock = (ms: number): BusyHold => {
    if (exited) {
      const rejected = Promise.reject(exited);
      rejected.catch(() => {});
      return { locked: rejected, released: rejected };
    }
    const id = nextId++;
    const healed = recordFault(options.recorder, { fault: 'sqlite_busy', target: file, ms });
    let w!: Waiter;
    const locked = new Promise<number>((resolveLocked, rejectLocked) => {
      w = { onLocked: resolveLocked, onReleased: () => {}, fail: rejectLocked };
    });
    const released = new Promise<number>((resolve, reject) => {
      const failLocked = w.fail;
      w.onReleased = (at) => {
        healed();
        resolve(at);
      };
      w.fail = (err) => {
        healed();
        failLocked(err);
        reject(err);
      };
    });
    locked.catch(() => {}); // a caller awaiting only `released` must not see an unhandled rejection
    waiters.set(id, w);
    send({ cmd: 'hold', id, ms });
    return { locked, released };
  };

  return {
    pid,
    lock,
    hold: async (ms) => {
      await lock(ms).released;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      send({ cmd: 'stop' });
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
