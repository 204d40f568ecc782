/**
 * Latency: enqueue → handler start. An idle worker is started; then jobs are sent one by one on
 * a fixed schedule (open loop), each stamped with the time just before its enqueue call; the
 * worker records when each handler starts. `inProcess` puts producer and worker in one process
 * (the embedded case); otherwise the producer is this process and the worker another.
 * Used for both the idle-worker latency test (500 jobs, 10 ms apart) and the steady-state test
 * (a fixed rate, e.g. 2,000/s for 30 s).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SystemAdapter } from '../lib/adapter.js';
import { now } from '../lib/adapter.js';
import { paced } from '../lib/pacing.js';
import { WorkerProcess } from '../lib/processes.js';
import { percentile, round } from '../lib/stats.js';

export interface LatencyOptions {
  count: number;
  intervalMs: number;
  concurrency: number;
  inProcess: boolean;
}

export interface LatencyResult {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Jobs whose handler started. */
  handled: number;
  /** Times the producer hit its in-flight cap (the system could not absorb the rate). */
  producerBehind: number;
}

export async function latency(adapter: SystemAdapter, options: LatencyOptions): Promise<LatencyResult> {
  const config = await adapter.prepare();
  const worker = new WorkerProcess();
  try {
    await worker.init(adapter.name, config, options.concurrency);
    await worker.start();
    await sleep(300); // let the worker settle into its idle wait
    let behind = 0;
    if (options.inProcess) {
      await worker.produce(options.count, options.intervalMs);
    } else {
      const producer = await adapter.producer(config);
      try {
        behind = (await paced(options.count, options.intervalMs, (i) => producer.add({ i, t: now() }))).behind;
      } finally {
        await producer.close();
      }
    }
    const deadline = Date.now() + 60_000;
    let collected = await worker.collect();
    while (collected.handled < options.count && Date.now() < deadline) {
      await sleep(20);
      collected = await worker.collect();
    }
    const l = collected.latencies;
    return {
      p50Ms: round(percentile(l, 0.5)),
      p95Ms: round(percentile(l, 0.95)),
      p99Ms: round(percentile(l, 0.99)),
      maxMs: round(Math.max(...l)),
      handled: collected.handled,
      producerBehind: behind,
    };
  } finally {
    await worker.stop();
    await adapter.dispose(config);
  }
}
