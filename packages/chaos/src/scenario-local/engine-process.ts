/**
 * Starting and steering engine-child.ts (C6 on SQLite): writes its items file, spawns it with
 * the given extra environment (libfaketime, worker-hooks.ts switches), waits for its ready line;
 * `leader` resolves once it leads maintenance, `produced` once its items are acknowledged.
 *
 * Owns the child process. Invariant: `stop()` is graceful (SIGTERM: the child closes its client,
 * releasing leadership), then SIGKILL after 10 s; it is awaited and safe to call twice.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { childCommand } from '../faults/sqlite-busy.js';
import { targetEnv } from '../scenario/backends.js';
import type { RunContext } from '../scenario/runner.js';
import { withTimeout } from '../scenario/workers.js';
import { type ProducerItem, type ProducerStats, runTarget } from './common.js';
import type { EngineConfig } from './engine-child.js';

const here = fileURLToPath(import.meta.url);
const SCRIPT = join(here, '..', here.endsWith('.js') ? 'engine-child.js' : 'engine-child.ts');

export interface EngineProcess {
  readonly pid: number;
  readonly leader: Promise<void>;
  readonly produced: Promise<ProducerStats>;
  go(): void;
  /** Holds the producer before its next batch; resolves once no enqueue is in flight. */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

export async function startEngineChild(ctx: RunContext, o: { proc: string; items: ProducerItem[]; overMs: number; env: Record<string, string> }): Promise<EngineProcess> {
  const itemsFile = join(ctx.dir, `${o.proc}.items.json`);
  writeFileSync(itemsFile, JSON.stringify(o.items));
  const cfg: EngineConfig = { proc: o.proc, queue: ctx.settings.queue, itemsFile, overMs: o.overMs, sweepMs: ctx.settings.sweepMs, maxRetries: ctx.settings.maxAttempts - 1, backoff: ctx.settings.backoff };
  const log = openSync(join(ctx.dir, `${o.proc}.log`), 'a');
  const child = spawn(process.execPath, childCommand(SCRIPT), {
    env: { ...process.env, ...targetEnv(runTarget(ctx)), CHAOS_DIR: ctx.dir, CHAOS_ENGINE: JSON.stringify(cfg), ...o.env },
    stdio: ['pipe', 'pipe', log],
  });
  closeSync(log);
  child.stdin!.on('error', () => {});
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waiters: Record<string, Array<(v: unknown) => void>> = { ready: [], leader: [], produced: [], paused: [] };
  const failers: Array<(e: Error) => void> = [];
  const once = <T>(ev: string): Promise<T> => {
    const p = new Promise<T>((resolve, reject) => {
      waiters[ev]!.push(resolve as (v: unknown) => void);
      failers.push(reject);
    });
    p.catch(() => {});
    return p;
  };
  const ready = once<void>('ready');
  const leader = once<void>('leader');
  const produced = once<ProducerStats>('produced');
  child.once('exit', (code, signal) => failers.forEach((f) => f(new Error(`${o.proc} exited (${String(code ?? signal)}); see ${o.proc}.log`))));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg: { ev?: string; stats?: ProducerStats };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    const list = waiters[msg.ev ?? ''] ?? [];
    if (msg.ev === 'paused') waiters.paused = [];
    for (const w of list) w(msg.ev === 'produced' ? msg.stats : undefined);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await withTimeout(ready, 60_000, `${o.proc} to start`);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  const pause = async (): Promise<void> => {
    const paused = new Promise<void>((resolve) => waiters.paused!.push(() => resolve()));
    child.stdin!.write('pause\n');
    await withTimeout(paused, 30_000, `${o.proc} to pause its producer`);
  };
  return { pid: child.pid ?? -1, leader, produced, go: () => void child.stdin!.write('go\n'), pause, resume: () => void child.stdin!.write('resume\n'), stop };
}
