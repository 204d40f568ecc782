/**
 * The worker processes of a scenario run: K slots, each running one incarnation of
 * worker-child.ts at a time. An incarnation that exits (killed by the nemesis, or crashed by a
 * poison job) is replaced after `restartDelayMs` by a new one with a new `proc` name.
 *
 * Owns: spawning (`process.execPath --conditions=source --import tsx worker-child.ts`), reading
 * each child's stdout protocol (ready, running-handler count), restarts, and stopping them all.
 *
 * Invariants:
 * - proc names are `w<slot>.<incarnation>`: unique per process incarnation, as the recorder needs.
 * - A stopped (SIGSTOP) child is never restarted or counted as exited; `stop()` continues it first.
 * - `killAll()` leaves no child behind (SIGCONT + SIGKILL, awaited); the runner calls it in `finally`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const compiled = here.endsWith('.js');
/** The child script next to this module (the .ts source under tsx, or the compiled .js). */
export const WORKER_SCRIPT = join(here, '..', compiled ? 'worker-child.js' : 'worker-child.ts');

export class WorkerProcess {
  readonly child: ChildProcess;
  /** Handlers running, as the child last reported. */
  active = 0;
  paused = false;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  readonly startedAt = Date.now();
  readyAt: number | null = null;

  constructor(readonly slot: number, readonly proc: string, dir: string, env: Record<string, string>) {
    const log = openSync(join(dir, `${proc}.log`), 'a');
    const args = compiled ? [WORKER_SCRIPT] : ['--conditions=source', '--import', 'tsx', WORKER_SCRIPT];
    this.child = spawn(process.execPath, args, { env: { ...process.env, ...env, CHAOS_PROC: proc, CHAOS_DIR: dir }, stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    let onReady!: () => void;
    let onFail!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
    this.exited = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        onFail(new Error(`${proc} exited (code ${String(code)}, signal ${String(signal)}) before it was ready`));
        resolve();
      });
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { ev?: string; n?: number };
      try {
        msg = JSON.parse(line) as { ev?: string; n?: number };
      } catch {
        return;
      }
      if (msg.ev === 'active' && typeof msg.n === 'number') this.active = msg.n;
      else if (msg.ev === 'ready') {
        this.readyAt = Date.now();
        onReady();
      }
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  signal(sig: NodeJS.Signals): boolean {
    if (!this.alive) return false;
    try {
      return this.child.kill(sig);
    } catch {
      return false;
    }
  }
}

export interface PoolOptions {
  count: number;
  dir: string;
  env: Record<string, string>;
  restartDelayMs: number;
  /** Slot numbers start here (two pools in one run get distinct names). Default 1. */
  firstSlot?: number;
}

export class WorkerPool {
  /** Current incarnation per slot. */
  readonly slots: WorkerProcess[] = [];
  /** Every incarnation ever started, in order. */
  readonly all: WorkerProcess[] = [];
  private readonly incarnations = new Map<number, number>();
  private stopping = false;
  private readonly restartWaiters = new Set<() => void>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: PoolOptions) {}

  /** Starts every slot and waits until each worker is ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    const first = this.options.firstSlot ?? 1;
    for (let i = 0; i < this.options.count; i++) this.spawn(first + i, i);
    await withTimeout(Promise.all(this.slots.map((w) => w.ready)), timeoutMs, 'worker processes to start');
  }

  /** Live, running (not paused) workers. */
  live(): WorkerProcess[] {
    return this.slots.filter((w) => w.alive && !w.paused);
  }

  /** Incarnations that have exited (killed, crashed or stopped), in start order. */
  exits(): WorkerProcess[] {
    return this.all.filter((w) => w.exit !== null);
  }

  /** Resolves when `slot`'s incarnation is no longer `previous` (it was restarted). */
  async restarted(previous: WorkerProcess, timeoutMs = 30_000): Promise<WorkerProcess> {
    const index = this.slots.findIndex((w) => w.slot === previous.slot);
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.stopping || this.slots[index] !== previous) {
            this.restartWaiters.delete(check);
            resolve();
          }
        };
        this.restartWaiters.add(check);
        check();
      }),
      timeoutMs,
      `${previous.proc} to be restarted`,
    );
    return this.slots[index]!;
  }

  /** Graceful stop: continue paused children, SIGTERM all, SIGKILL those still there after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    for (const w of this.slots) {
      if (w.paused) w.signal('SIGCONT');
      w.paused = false;
      w.signal('SIGTERM');
    }
    const all = Promise.all(this.all.map((w) => w.exited));
    const timedOut = await Promise.race([all.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) await this.killAll();
  }

  /** Kills every child at once and waits for them (cleanup on any path). */
  async killAll(): Promise<void> {
    this.stopping = true;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    for (const w of this.all) {
      w.signal('SIGCONT');
      w.signal('SIGKILL');
    }
    await Promise.all(this.all.map((w) => w.exited));
  }

  private spawn(slot: number, index: number): WorkerProcess {
    const n = (this.incarnations.get(slot) ?? 0) + 1;
    this.incarnations.set(slot, n);
    const w = new WorkerProcess(slot, `w${slot}.${n}`, this.options.dir, this.options.env);
    this.slots[index] = w;
    this.all.push(w);
    for (const check of [...this.restartWaiters]) check();
    void w.exited.then(() => {
      if (this.stopping || this.slots[index] !== w) return;
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        if (!this.stopping && this.slots[index] === w) this.spawn(slot, index);
      }, this.options.restartDelayMs);
      this.restartTimers.add(timer);
    });
    return w;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
