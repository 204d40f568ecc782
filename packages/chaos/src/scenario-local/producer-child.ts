/**
 * A producer process of C7 (SQLite busy) and C8 (disk full): one recorded Client on its own
 * backend (SQLite with a short busy timeout, so a held lock shows up as an error rather than a
 * wait), an in-process HTTP API server (packages/server) in front of that Client, and two paced
 * producers — one through the library, one over HTTP to that server — each retrying a refused
 * batch with the same job ids until it is acknowledged. Optionally polls the server's /readyz.
 *
 * Protocol: env CHAOS_PRODUCER (JSON, see `ChildConfig`) + the backends.ts variables + CHAOS_DIR;
 * stdout lines `{"ev":"ready","url"}`, then after a `go` line on stdin the run, then
 * `{"ev":"done","lib":…,"http":…,"ready":…}`; it exits 0 after that.
 *
 * Invariants:
 * - The history of everything this process writes goes to `<CHAOS_DIR>/<proc>.jsonl` (the
 *   Recorder sits under the Client, so the server's inserts are recorded too).
 * - worker-hooks.ts applies here as in a worker (error log always on; page cap when
 *   CHAOS_PAGE_LIMIT_FILE is set), so every writer of the file can be made full.
 * - An HTTP answer is judged only by status and headers: 2xx acknowledged; 503 must carry
 *   Retry-After (then waited for, capped); any other status, a 5xx other than 503/507 above all,
 *   is counted as bad and the batch is retried.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client, type Logger } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { Recorder } from '../recorder.js';
import { openBackend, targetFromEnv } from '../scenario/backends.js';
import type { JobPayload } from '../scenario/settings.js';
import { newProducerStats, produce, storedIn, type ProducerItem } from './common.js';
import { localWorkerHooks } from './worker-hooks.js';
import { SpindleServer } from '@spindle/server';

export interface ChildConfig {
  proc: string;
  queue: string;
  itemsFile: string;
  overMs: number;
  busyTimeoutMs: number;
  maxRetries: number;
  backoff: unknown;
  /** Poll /readyz this often (0: never). */
  readyPollMs: number;
}

export interface ChildItem extends ProducerItem {
  via: 'lib' | 'http';
}

export interface HttpStats {
  requests: number;
  acked: number;
  status: Record<string, number>;
  /** 503 answers without a Retry-After header. */
  retryAfterMissing: number;
  /** Answers other than 2xx, 503 and 507 (a 500 above all). */
  bad: number;
  badSamples: string[];
  networkErrors: number;
  gaveUp: number;
  maxCallMs: number;
  /** Jobs of a batch answered 503/507 found stored right after (a partial write). */
  partialWrites: number;
}

const cfg = JSON.parse(process.env.CHAOS_PRODUCER ?? '{}') as ChildConfig;
const dir = process.env.CHAOS_DIR ?? '.';
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error(obj, msg) {
    process.stderr.write(`${new Date().toISOString()} error ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}\n`);
  },
};
const emit = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const target = targetFromEnv(process.env);
const opened = target.kind === 'sqlite' ? new SqliteBackend({ path: target.path, busyTimeoutMs: cfg.busyTimeoutMs }) : openBackend(target, 4);
const hooks = localWorkerHooks({ proc: cfg.proc, dir, backend: opened, env: { ...process.env, CHAOS_DB_ERRORS: '1' } });
const recorder = new Recorder({ proc: cfg.proc, file: join(dir, `${cfg.proc}.jsonl`) });
const client = new Client({
  backend: recorder.wrap(hooks.backend), maintenance: false, autoMigrate: false,
  retention: { completedMs: null, cancelledMs: null, deadMs: null }, telemetry: false, tracing: false, logger,
});
await client.start();
const server = new SpindleServer(client, { port: 0, dashboard: false, logger: false, alerts: { builtin: false } });
const url = await server.start();
const items = JSON.parse(readFileSync(cfg.itemsFile, 'utf8')) as ChildItem[];
emit({ ev: 'ready', url, pid: process.pid });

await new Promise<void>((resolve) => {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() === 'go') {
      rl.close();
      resolve();
    }
  });
});

const opts = { maxRetries: cfg.maxRetries, backoff: cfg.backoff as never };
const libStats = newProducerStats();
const httpStats: HttpStats = { requests: 0, acked: 0, status: {}, retryAfterMissing: 0, bad: 0, badSamples: [], networkErrors: 0, gaveUp: 0, maxCallMs: 0, partialWrites: 0 };
const ready: Array<[number, number]> = [];
let running = true;

async function httpProducer(list: ChildItem[]): Promise<void> {
  const batchMs = 100;
  const batches = Math.max(1, Math.ceil(cfg.overMs / batchMs));
  const per = Math.max(1, Math.ceil(list.length / batches));
  const t0 = Date.now();
  for (let b = 0; b * per < list.length; b++) {
    await sleep(Math.max(0, t0 + b * batchMs - Date.now()));
    const batch = list.slice(b * per, (b + 1) * per);
    const body = JSON.stringify({ jobs: batch.map((it) => ({ name: it.payload.k, payload: it.payload, opts: { ...opts, ...it.opts, id: it.id } })) });
    for (let attempt = 1; ; attempt++) {
      httpStats.requests += 1;
      const c0 = Date.now();
      let wait = Math.min(1000, 25 * 2 ** Math.min(attempt, 6));
      try {
        const res = await fetch(`${url}/api/v1/queues/${encodeURIComponent(cfg.queue)}/jobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await res.text();
        httpStats.maxCallMs = Math.max(httpStats.maxCallMs, Date.now() - c0);
        httpStats.status[res.status] = (httpStats.status[res.status] ?? 0) + 1;
        if (res.status === 200 || res.status === 201) {
          httpStats.acked += batch.length;
          break;
        }
        if (res.status === 503 || res.status === 507) httpStats.partialWrites += await storedIn(opened)(batch.map((it) => it.id)).catch(() => 0);
        if (res.status === 503) {
          const after = res.headers.get('retry-after');
          if (after === null) httpStats.retryAfterMissing += 1;
          else wait = Math.min(1000, Math.max(50, Number(after) * 1000 || 0));
        } else if (res.status !== 507) {
          httpStats.bad += 1;
          if (httpStats.badSamples.length < 5) httpStats.badSamples.push(`${res.status} ${text.slice(0, 200)}`);
        }
      } catch (err) {
        httpStats.maxCallMs = Math.max(httpStats.maxCallMs, Date.now() - c0);
        httpStats.networkErrors += 1;
        if (httpStats.badSamples.length < 5) httpStats.badSamples.push(`network: ${String(err)}`);
      }
      if (attempt >= 60) {
        httpStats.gaveUp += 1;
        break;
      }
      await sleep(wait);
    }
  }
}

async function readyPoller(): Promise<void> {
  if (cfg.readyPollMs <= 0) return;
  while (running) {
    try {
      const res = await fetch(`${url}/readyz`);
      await res.text();
      ready.push([Date.now(), res.status]);
    } catch {
      ready.push([Date.now(), 0]);
    }
    await sleep(cfg.readyPollMs);
  }
}

const poller = readyPoller();
await Promise.all([
  produce(client.queue<JobPayload>(cfg.queue), items.filter((i) => i.via === 'lib'), { overMs: cfg.overMs, stats: libStats, maxOpts: opts, maxTries: 60, storedOf: storedIn(opened) }),
  httpProducer(items.filter((i) => i.via === 'http')),
]);
running = false;
await poller;
emit({ ev: 'done', lib: libStats, http: httpStats, ready });
await server.stop().catch(() => {});
await client.close({ graceMs: 1000 }).catch(() => {});
recorder.close();
process.exit(0);
