/**
 * Drain: N jobs are enqueued first (not timed), then `processes` worker processes at
 * `concurrency` each are started together; the clock runs from the start command until the
 * store reports no pending job (polled every 10 ms). Throughput = N / that time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SystemAdapter } from '../lib/adapter.js';
import { now } from '../lib/adapter.js';
import { WorkerProcess } from '../lib/processes.js';
import { BULK_CHUNK } from './enqueue.js';

export interface DrainOptions {
  jobs: number;
  concurrency: number;
  processes: number;
  /** Give up after this long (a stuck system must not hang the run). */
  timeoutMs?: number;
}

export interface DrainResult {
  jobsPerSec: number;
  seconds: number;
  workerRssPeakMiB: number;
}

export async function fill(adapter: SystemAdapter, config: Record<string, string | number | boolean>, jobs: number): Promise<void> {
  const producer = await adapter.producer(config);
  try {
    for (let i = 0; i < jobs; i += BULK_CHUNK) {
      await producer.addBulk(Array.from({ length: Math.min(BULK_CHUNK, jobs - i) }, (_, k) => ({ i: i + k })));
    }
  } finally {
    await producer.close();
  }
}

/** Starts workers, waits until `pending` drops to `until`, returns elapsed ms and the workers. */
export async function timeDrain(
  adapter: SystemAdapter,
  config: Record<string, string | number | boolean>,
  options: { concurrency: number; processes: number; until: number; timeoutMs: number },
): Promise<{ ms: number; workers: WorkerProcess[] }> {
  const workers = Array.from({ length: options.processes }, () => new WorkerProcess());
  await Promise.all(workers.map((w) => w.init(adapter.name, config, options.concurrency)));
  const t0 = now();
  await Promise.all(workers.map((w) => w.start()));
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const pending = await adapter.pending(config);
    if (pending <= options.until) break;
    if (Date.now() > deadline) {
      await Promise.all(workers.map((w) => w.stop()));
      throw new Error(`${adapter.name}: drain did not finish within ${options.timeoutMs} ms (${pending} pending)`);
    }
    await sleep(10);
  }
  return { ms: now() - t0, workers };
}

export async function drain(adapter: SystemAdapter, options: DrainOptions): Promise<DrainResult> {
  const config = await adapter.prepare();
  let workers: WorkerProcess[] = [];
  try {
    await fill(adapter, config, options.jobs);
    const timed = await timeDrain(adapter, config, { ...options, until: 0, timeoutMs: options.timeoutMs ?? 600_000 });
    workers = timed.workers;
    const collected = await Promise.all(workers.map((w) => w.collect()));
    return {
      jobsPerSec: Math.round((options.jobs / timed.ms) * 1000),
      seconds: timed.ms / 1000,
      workerRssPeakMiB: Math.max(...collected.map((c) => c.rssPeakMiB)),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await adapter.dispose(config);
  }
}
