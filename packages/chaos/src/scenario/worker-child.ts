/**
 * A chaos worker process (one incarnation). Opens the run's database from the environment,
 * wraps the backend in a Recorder writing `<CHAOS_DIR>/<CHAOS_PROC>.jsonl`, and runs one Spindle
 * worker with the scenario's settings and the chaos handler (handler.ts).
 *
 * Environment: CHAOS_BACKEND + CHAOS_SQLITE_PATH | CHAOS_PG_URL + CHAOS_PG_SCHEMA (backends.ts),
 * CHAOS_PROC (unique per incarnation), CHAOS_DIR, CHAOS_WORKER (JSON: queue, concurrency,
 * leaseMs, heartbeatMs, pollIntervalMs).
 * Stdout (JSON lines, read by workers.ts): {ev:'ready'} once the worker claims, then
 * {ev:'active',n} whenever the number of running handlers changes.
 *
 * Invariants: no maintenance and no migration here (the runner leads both); retention is off so
 * finished jobs stay for the final state; SIGTERM closes the worker gracefully and exits 0.
 */
import { join } from 'node:path';
import { Client, type Logger } from '@spindle/core';
import { Recorder } from '../recorder.js';
import { openBackend, targetFromEnv } from './backends.js';
import { indexLeaseTokens, makeHandler } from './handler.js';
import { localWorkerHooks } from '../scenario-local/worker-hooks.js';
import type { JobPayload } from './settings.js';

interface WorkerEnv {
  queue: string;
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
}

const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

// Lease losses and refused writes are expected here (they are what the history records);
// only errors go to stderr, which the runner keeps in `<proc>.log`.
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error(obj, msg) {
    process.stderr.write(`${new Date().toISOString()} error ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}\n`);
  },
};

const proc = process.env.CHAOS_PROC ?? `worker-${process.pid}`;
const dir = process.env.CHAOS_DIR ?? '.';
const cfg = JSON.parse(process.env.CHAOS_WORKER ?? '{}') as WorkerEnv;
// Opt-in hooks of scenario-local (C6 real-time history / explicit now, C7+C8 error log, C8 page cap, C14 grace): inert without their env vars.
const hooks = localWorkerHooks({ proc, dir, backend: openBackend(targetFromEnv(process.env)) });
const raw = hooks.backend;
const recorder = new Recorder({ proc, file: join(dir, `${proc}.jsonl`), ...hooks.recorder });
const tokens = new Map<string, string>();
const client = new Client({
  backend: hooks.clientSide(indexLeaseTokens(recorder.wrap(raw), tokens)),
  maintenance: false,
  autoMigrate: false,
  retention: { completedMs: null, cancelledMs: null, deadMs: null },
  telemetry: false,
  tracing: false,
  logger,
});
await client.start();
client.queue<JobPayload>(cfg.queue).process(
  makeHandler({ proc, recorder, tokens, onActive: (n) => emit({ ev: 'active', n }) }),
  { concurrency: cfg.concurrency, leaseMs: cfg.leaseMs, heartbeatMs: cfg.heartbeatMs, pollIntervalMs: cfg.pollIntervalMs, workerId: proc },
);
emit({ ev: 'ready', pid: process.pid });

process.once('SIGTERM', () => {
  void client
    .close({ graceMs: hooks.graceMs ?? 3000 })
    .catch((err: unknown) => process.stderr.write(`close failed: ${String(err)}\n`))
    .finally(() => {
      recorder.close();
      process.exit(0);
    });
});
