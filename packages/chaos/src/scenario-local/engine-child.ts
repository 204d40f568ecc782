/**
 * The rest of the engine of a C6 run on SQLite, as a child process that can run under
 * libfaketime with the workers: the maintenance leader (rescuer every `sweepMs`, promoter) and
 * the producer. On one host every process reads the same wall clock, so a clock step moves them
 * all at once; with this child and the worker pool faked together (one FakeClock file), every
 * process that writes the SQLite file sees the step, as on a real host — only the runner, which
 * then just reads, stays on the real clock.
 *
 * Protocol: env CHAOS_ENGINE (JSON, `EngineConfig`) + the backends.ts variables + CHAOS_DIR +
 * worker-hooks.ts switches; stdout `{"ev":"ready"}`, `{"ev":"leader"}` once it leads
 * maintenance, `{"ev":"produced",stats}` once every item is acknowledged (after a `go` line on
 * stdin; `pause` / `resume` hold and release the producer). SIGTERM closes the client (leadership released) and exits 0.
 *
 * Invariants: the Recorder sits under the Client (every rescue, promotion and enqueue is in the
 * history, timed on the real clock when CHAOS_REAL_CLOCK_ANCHOR is set); retention is off.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, type Logger } from '@spindle/core';
import { Recorder } from '../recorder.js';
import { openBackend, targetFromEnv } from '../scenario/backends.js';
import type { JobPayload } from '../scenario/settings.js';
import { produce, type ProducerItem } from './common.js';
import { localWorkerHooks } from './worker-hooks.js';

export interface EngineConfig {
  proc: string;
  queue: string;
  itemsFile: string;
  overMs: number;
  sweepMs: number;
  maxRetries: number;
  backoff: unknown;
}

const cfg = JSON.parse(process.env.CHAOS_ENGINE ?? '{}') as EngineConfig;
const dir = process.env.CHAOS_DIR ?? '.';
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error(obj, msg) {
    process.stderr.write(`error ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}\n`);
  },
};
const emit = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const hooks = localWorkerHooks({ proc: cfg.proc, dir, backend: openBackend(targetFromEnv(process.env)) });
const recorder = new Recorder({ proc: cfg.proc, file: join(dir, `${cfg.proc}.jsonl`), ...hooks.recorder });
const client = new Client({
  backend: hooks.clientSide(recorder.wrap(hooks.backend)), autoMigrate: false, telemetry: false, tracing: false, logger,
  maintenance: { rescueIntervalMs: cfg.sweepMs, promoteIntervalMs: 250, leaderTtlMs: 10_000 },
  retention: { completedMs: null, cancelledMs: null, deadMs: null },
});
await client.start();
emit({ ev: 'ready', pid: process.pid });
process.once('SIGTERM', () => {
  void client.close({ graceMs: 1000 }).catch(() => {}).finally(() => {
    recorder.close();
    process.exit(0);
  });
});
void (async () => {
  while (!client.isLeader) await new Promise((r) => setTimeout(r, 20));
  emit({ ev: 'leader' });
})();
// stdin: `go` starts the producer; `pause` holds it before its next batch (acknowledged with
// {"ev":"paused"} once no call is in flight), `resume` lets it go on.
let started!: () => void;
const go = new Promise<void>((r) => (started = r));
let held: { release: Promise<void>; resolve: () => void } | null = null;
let inGate = false;
createInterface({ input: process.stdin }).on('line', (l) => {
  const cmd = l.trim();
  if (cmd === 'go') started();
  else if (cmd === 'pause' && !held) {
    let resolve!: () => void;
    held = { release: new Promise<void>((r) => (resolve = r)), resolve };
    if (inGate) emit({ ev: 'paused' });
  } else if (cmd === 'resume' && held) {
    held.resolve();
    held = null;
  }
});
const gate = async (): Promise<void> => {
  if (!held) return;
  inGate = true;
  emit({ ev: 'paused' });
  while (held) await held.release;
  inGate = false;
};
await go;
const items = JSON.parse(readFileSync(cfg.itemsFile, 'utf8')) as ProducerItem[];
const stats = await produce(client.queue<JobPayload>(cfg.queue), items, { overMs: cfg.overMs, maxTries: 100, gate, maxOpts: { maxRetries: cfg.maxRetries, backoff: cfg.backoff as never } });
inGate = true; // nothing left to produce: a later pause is immediate
if (held) emit({ ev: 'paused' });
emit({ ev: 'produced', stats });
