/**
 * Starting and steering producer-child.ts from a scenario: writes its items file, spawns it on
 * the run's database, waits for its ready line, starts it (`go`) and collects its final stats.
 *
 * Owns the child process. Invariants: `stop()` leaves no child behind (SIGKILL after a grace,
 * awaited) and is safe to call twice; the child's stderr goes to `<dir>/<proc>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { childCommand } from '../faults/sqlite-busy.js';
import { targetEnv } from '../scenario/backends.js';
import type { RunContext } from '../scenario/runner.js';
import { withTimeout } from '../scenario/workers.js';
import { runTarget, type ProducerStats } from './common.js';
import type { ChildConfig, ChildItem, HttpStats } from './producer-child.js';

const here = fileURLToPath(import.meta.url);
const SCRIPT = join(here, '..', here.endsWith('.js') ? 'producer-child.js' : 'producer-child.ts');

export interface ProducerResult {
  lib: ProducerStats;
  http: HttpStats;
  /** [time, status] of each /readyz poll (0: no answer). */
  ready: Array<[number, number]>;
}

export interface ProducerProcess {
  readonly url: string;
  readonly pid: number;
  go(): void;
  /** Resolves with the child's stats once it has produced everything. */
  readonly done: Promise<ProducerResult>;
  stop(): Promise<void>;
}

export async function startProducerChild(
  ctx: RunContext,
  o: { proc: string; items: ChildItem[]; overMs: number; busyTimeoutMs: number; readyPollMs?: number; env?: Record<string, string> },
): Promise<ProducerProcess> {
  const itemsFile = join(ctx.dir, `${o.proc}.items.json`);
  writeFileSync(itemsFile, JSON.stringify(o.items));
  const cfg: ChildConfig = {
    proc: o.proc, queue: ctx.settings.queue, itemsFile, overMs: o.overMs, busyTimeoutMs: o.busyTimeoutMs,
    maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff, readyPollMs: o.readyPollMs ?? 0,
  };
  const log = openSync(join(ctx.dir, `${o.proc}.log`), 'a');
  const child: ChildProcess = spawn(process.execPath, childCommand(SCRIPT), {
    env: { ...process.env, ...targetEnv(runTarget(ctx)), CHAOS_DIR: ctx.dir, CHAOS_PRODUCER: JSON.stringify(cfg), ...o.env },
    stdio: ['pipe', 'pipe', log],
  });
  closeSync(log);
  child.stdin!.on('error', () => {});
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let onReady!: (url: string) => void;
  let onDone!: (r: ProducerResult) => void;
  let fail!: (e: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    onReady = resolve;
    fail = reject;
  });
  const done = new Promise<ProducerResult>((resolve, reject) => {
    onDone = resolve;
    const prev = fail;
    fail = (e) => {
      prev(e);
      reject(e);
    };
  });
  ready.catch(() => {});
  done.catch(() => {});
  child.once('exit', (code, signal) => fail(new Error(`${o.proc} exited (${String(code ?? signal)}) before it was done (see ${o.proc}.log)`)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: { ev?: string; url?: string } & Partial<ProducerResult>;
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.ev === 'ready' && msg.url) onReady(msg.url);
    if (msg.ev === 'done') onDone({ lib: msg.lib!, http: msg.http!, ready: msg.ready ?? [] });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  let url: string;
  try {
    url = await withTimeout(ready, 60_000, `${o.proc} to start`);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return { url, pid: child.pid ?? -1, go: () => void child.stdin!.write('go\n'), done, stop };
}
