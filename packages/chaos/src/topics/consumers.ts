/**
 * The consumer processes of a C12 run: K slots, each running one incarnation of
 * consumer-child.ts at a time, started again by the nemesis after it kills one.
 *
 * Owns: spawning (`process.execPath --conditions=source --import tsx consumer-child.ts`, or the
 * compiled .js), the `ready` line of each child, member ids, and stopping every child.
 *
 * Invariants:
 * - proc names are `c<slot>.<incarnation>`: unique per process incarnation, as the recorder needs.
 * - A slot's member id is `m<slot>` (a restarted member rejoining under the same id: it finds
 *   its old session, same generation) unless the restart asks for a fresh one, `m<slot>.<n>`
 *   (a new member: a new generation, and the dead member's partitions wait for its session to
 *   expire). Both paths are what a crashed consumer meets in production.
 * - `killAll()` leaves no child behind (SIGKILL, awaited); the runner calls it in `finally`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep, withTimeout } from '../scenario/workers.js';
import type { ConsumerChildConfig } from './settings.js';

const here = fileURLToPath(import.meta.url);
const compiled = here.endsWith('.js');
export const CONSUMER_SCRIPT = join(here, '..', compiled ? 'consumer-child.js' : 'consumer-child.ts');

export class ConsumerProcess {
  readonly child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  readonly startedAt = Date.now();
  readyAt: number | null = null;

  constructor(readonly slot: number, readonly proc: string, readonly memberId: string, dir: string, env: Record<string, string>) {
    const log = openSync(join(dir, `${proc}.log`), 'a');
    const args = compiled ? [CONSUMER_SCRIPT] : ['--conditions=source', '--import', 'tsx', CONSUMER_SCRIPT];
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
      try {
        if ((JSON.parse(line) as { ev?: string }).ev !== 'ready') return;
      } catch {
        return;
      }
      this.readyAt = Date.now();
      onReady();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** Alive and joined. */
  get serving(): boolean {
    return this.alive && this.readyAt !== null;
  }
}

export interface ConsumerPoolOptions {
  count: number;
  dir: string;
  /** The database's environment (backends.ts targetEnv). */
  env: Record<string, string>;
  /** The child config, without the member id (set per slot). */
  config: Omit<ConsumerChildConfig, 'memberId'>;
}

export class ConsumerPool {
  /** Current incarnation per slot (index = slot − 1). */
  readonly slots: ConsumerProcess[] = [];
  /** Every incarnation ever started, in order. */
  readonly all: ConsumerProcess[] = [];
  private readonly incarnations = new Map<number, number>();

  constructor(private readonly options: ConsumerPoolOptions) {}

  /** Starts every slot and waits until each consumer has joined. */
  async start(timeoutMs = 60_000): Promise<void> {
    for (let slot = 1; slot <= this.options.count; slot++) this.spawn(slot, false);
    await withTimeout(Promise.all(this.slots.map((c) => c.ready)), timeoutMs, 'consumer processes to join');
  }

  /** Starts `slot`'s next incarnation (a fresh member id, or the slot's own). */
  spawn(slot: number, freshMember: boolean): ConsumerProcess {
    const n = (this.incarnations.get(slot) ?? 0) + 1;
    this.incarnations.set(slot, n);
    const memberId = freshMember ? `m${slot}.${n}` : `m${slot}`;
    const config: ConsumerChildConfig = { ...this.options.config, memberId };
    const c = new ConsumerProcess(slot, `c${slot}.${n}`, memberId, this.options.dir, { ...this.options.env, CHAOS_TOPIC: JSON.stringify(config) });
    this.slots[slot - 1] = c;
    this.all.push(c);
    return c;
  }

  serving(): ConsumerProcess[] {
    return this.slots.filter((c) => c.serving);
  }

  /** Graceful stop: SIGTERM every live child (it commits and leaves), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    for (const c of this.slots) if (c.alive) c.child.kill('SIGTERM');
    const all = Promise.all(this.all.map((c) => c.exited));
    const timedOut = await Promise.race([all.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) await this.killAll();
  }

  /** Kills every child at once and waits for them (cleanup on any path). */
  async killAll(): Promise<void> {
    for (const c of this.all) {
      if (!c.alive) continue;
      try {
        c.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(this.all.map((c) => c.exited));
  }
}
