/**
 * Backlog scaling: does claiming slow down, or worker memory grow, when the store is large?
 * For systems that can `seed` rows directly, three stores are measured:
 *  - small:   `work` queued jobs;
 *  - big:     `big` queued jobs (e.g. 1,000,000);
 *  - history: `work` queued jobs plus `completed` finished, `dead` dead and `scheduled` future rows.
 * In each, one worker process (concurrency 50) drains `work` jobs; throughput is `work` divided by
 * the time until its handler had started `work` jobs (polled from the worker), and the worker's
 * peak RSS is sampled every 100 ms. Each run drains a fresh `work` jobs (small/history are
 * refilled; big keeps ~1,000,000 queued).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SeedRows, SystemAdapter } from '../lib/adapter.js';
import { now } from '../lib/adapter.js';
import { WorkerProcess } from '../lib/processes.js';
import { median, round } from '../lib/stats.js';

export interface BacklogSizes {
  work: number;
  big: number;
  completed: number;
  dead: number;
  scheduled: number;
}

interface Measure {
  jobsPerSec: number;
  rssPeakMiB: number;
}

async function measure(adapter: SystemAdapter, config: Record<string, string | number | boolean>, work: number): Promise<Measure> {
  const worker = new WorkerProcess();
  try {
    await worker.init(adapter.name, config, 50);
    const t0 = now();
    await worker.start();
    let collected = await worker.collect();
    const deadline = Date.now() + 600_000;
    while (collected.handled < work) {
      if (Date.now() > deadline) throw new Error(`${adapter.name}: backlog drain stalled at ${collected.handled}`);
      await sleep(10);
      collected = await worker.collect();
    }
    const ms = now() - t0;
    return { jobsPerSec: Math.round((work / ms) * 1000), rssPeakMiB: round(collected.rssPeakMiB, 1) };
  } finally {
    await worker.stop();
  }
}

export async function backlog(adapter: SystemAdapter, sizes: BacklogSizes, runs: number) {
  if (!adapter.seed) return null;
  const stores: Array<{ id: 'small' | 'big' | 'history'; rows: SeedRows; refill: boolean }> = [
    { id: 'small', rows: { queued: sizes.work }, refill: true },
    { id: 'big', rows: { queued: sizes.big }, refill: false },
    { id: 'history', rows: { queued: sizes.work, completed: sizes.completed, dead: sizes.dead, scheduled: sizes.scheduled }, refill: true },
  ];
  const out: Record<string, { runs: Measure[]; median: Measure }> = {};
  for (const store of stores) {
    const config = await adapter.prepare();
    try {
      await adapter.seed(config, store.rows);
      const measures: Measure[] = [];
      for (let r = 0; r < runs; r++) {
        if (r > 0 && store.refill) await adapter.seed(config, { queued: sizes.work });
        measures.push(await measure(adapter, config, sizes.work));
      }
      out[store.id] = {
        runs: measures,
        median: { jobsPerSec: median(measures.map((m) => m.jobsPerSec)), rssPeakMiB: median(measures.map((m) => m.rssPeakMiB)) },
      };
    } finally {
      await adapter.dispose(config);
    }
  }
  const small = out.small!.median;
  return {
    stores: out,
    summary: {
      smallJobsPerSec: small.jobsPerSec,
      bigJobsPerSec: out.big!.median.jobsPerSec,
      historyJobsPerSec: out.history!.median.jobsPerSec,
      bigVsSmall: round(out.big!.median.jobsPerSec / small.jobsPerSec, 3),
      historyVsSmall: round(out.history!.median.jobsPerSec / small.jobsPerSec, 3),
      rssGrowthBigMiB: round(out.big!.median.rssPeakMiB - small.rssPeakMiB, 1),
      rssGrowthHistoryMiB: round(out.history!.median.rssPeakMiB - small.rssPeakMiB, 1),
    },
  };
}
