/**
 * The API server of an HTTP scenario as a child process (server-child.ts), on one fixed port for
 * the whole run: started, SIGKILLed by the nemesis and started again on the same port.
 *
 * Owns: spawning each incarnation (`process.execPath --conditions=source --import tsx
 * server-child.ts`, or the compiled .js), waiting for its ready line, the kill → restart cycle
 * (recorded as a `SIGKILL` fault op by scenario/faults-process.ts, healed once the new
 * incarnation answers), graceful stop and cleanup.
 *
 * Invariants:
 * - proc names are `server.<n>`, one per incarnation; at most one incarnation runs at a time
 *   (the next starts only after the previous one's exit was observed).
 * - `killAll()` leaves no child behind; the harness calls it in `finally`.
 * - stdout is the ready protocol; stderr goes to `<dir>/server.<n>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Recorder } from '../recorder.js';
import { sigkill } from '../scenario/faults-process.js';
import { sleep, withTimeout } from '../scenario/workers.js';

const here = fileURLToPath(import.meta.url);
const compiled = here.endsWith('.js');
export const SERVER_SCRIPT = join(here, '..', compiled ? 'server-child.js' : 'server-child.ts');

class Incarnation {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(readonly proc: string, dir: string, env: Record<string, string>) {
    const log = openSync(join(dir, `${proc}.log`), 'a');
    const args = compiled ? [SERVER_SCRIPT] : ['--conditions=source', '--import', 'tsx', SERVER_SCRIPT];
    this.child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    let onReady!: () => void;
    let onFail!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    this.ready.catch(() => {});
    this.exited = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        onFail(new Error(`${proc} exited (code ${String(code)}, signal ${String(signal)}) before it was ready (see ${proc}.log)`));
        resolve();
      });
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line.includes('"ev":"ready"')) onReady();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
}

export interface ApiServerOptions {
  dir: string;
  /** The database's environment (scenario/backends.ts targetEnv). */
  env: Record<string, string>;
  port: number;
  /** Records the kills. */
  nemesis: Recorder;
  /** Wait between a kill and the restart; default 200 ms. */
  restartDelayMs?: number;
}

export class ApiServerProcess {
  readonly all: Incarnation[] = [];
  /** Time from each kill to the new incarnation's ready line (ms). */
  readonly downtimesMs: number[] = [];
  private current: Incarnation | null = null;

  constructor(private readonly options: ApiServerOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get kills(): number {
    return this.downtimesMs.length;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const inc = new Incarnation(`server.${this.all.length + 1}`, this.options.dir, { ...this.options.env, CHAOS_HTTP_PORT: String(this.options.port) });
    this.all.push(inc);
    this.current = inc;
    await withTimeout(inc.ready, timeoutMs, `${inc.proc} to listen on ${this.options.port}`);
  }

  /** SIGKILL the running incarnation, wait `restartDelayMs`, start the next one on the same port. */
  async killAndRestart(): Promise<void> {
    const inc = this.current;
    if (!inc) throw new Error('no server running');
    const t0 = Date.now();
    const fault = sigkill(this.options.nemesis, { proc: inc.proc, pid: inc.pid });
    await inc.exited;
    await sleep(this.options.restartDelayMs ?? 200);
    await this.start();
    fault.healed();
    this.downtimesMs.push(Date.now() - t0);
  }

  /** Graceful stop (SIGTERM), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    const inc = this.current;
    if (!inc || inc.exit) return;
    inc.child.kill('SIGTERM');
    const stopped = await withTimeout(inc.exited, graceMs, `${inc.proc} to stop`).then(() => true, () => false);
    if (!stopped) await this.killAll();
  }

  async killAll(): Promise<void> {
    for (const inc of this.all) if (!inc.exit) inc.child.kill('SIGKILL');
    await Promise.all(this.all.map((i) => i.exited));
  }
}
