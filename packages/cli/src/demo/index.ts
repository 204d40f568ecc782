/**
 * `spindle demo`: the seed's video platform on the caller's client — bursts of uploads
 * (`process_video` jobs in video.paid / video.free, one transcoder pool weighted paid first),
 * each good upload starting a flow (renditions and a thumbnail in video.transcode, content
 * moderation on its own critical queue; the notification, the flow's parent, runs when they are
 * all done), corrupt files dead-lettered, a flaky email service retried with backoff. See
 * docs/demo.md.
 *
 * Lifecycle: startDemo() declares the queues, starts the workers, the producer and the summary
 * refresher, and returns. stop() stops the producer, lets the transcoders finish (up to
 * `graceMs`), then closes the workers (jobs still held are released to their queue; nothing is
 * left `running`) and takes a last reading. It never closes the client: the caller owns it.
 */
import type { Client } from '@spindle/core';
import { resolveDemoOptions, scaled, type DemoOptions } from './options.js';
import { Producer } from './producer.js';
import { SummaryTracker, type DemoSummary } from './summary.js';
import { declareQueues, newCounters, startWorkers } from './workers.js';

export type { DemoOptions } from './options.js';
export { renderDemoSummary, type DemoSummary, type DemoQueueSummary } from './summary.js';
export { planUpload, QUEUES, type UploadPlan } from './scenario.js';

export interface DemoHandle {
  /** Stops producing, finishes or releases in-flight jobs, closes the demo's workers. Idempotent. */
  stop(): Promise<void>;
  /** The latest snapshot (counts refreshed every 500 ms ÷ speed, at least every 100 ms). */
  summary(): DemoSummary;
}

export async function startDemo(client: Client, options: DemoOptions = {}): Promise<DemoHandle> {
  const o = resolveDemoOptions(options);
  const queues = declareQueues(client, o);
  const counters = newCounters();
  const producer = new Producer(client, queues, o);
  await client.start(); // fail here (closed client, unreachable database) rather than in a timer
  const workers = startWorkers(client, queues, o, counters);
  const tracker = new SummaryTracker(client, o, { producer, counters, pool: workers.pool });
  tracker.start(Math.max(100, scaled(500, o.speed)));
  o.log(`start  seed ${o.seed}, speed ${o.speed}x: ${o.transcoders} transcoders (paid ${o.paidWeight}:1 free), ${o.moderators} moderators, ${o.notifiers} notifiers`);
  try {
    await producer.start();
  } catch (err) {
    await shutdown();
    throw err;
  }
  if (producer.firstSeq > 1) o.log(`resume uploads continue at #${producer.firstSeq}; jobs left by an earlier run are picked up`);

  let stopping: Promise<void> | null = null;
  async function shutdown(): Promise<void> {
    await producer.stop();
    workers.pool.close();
    // Transcodes in flight may finish; jobs claimed but waiting for a slot are released at once.
    await workers.pool.idle(o.graceMs);
    await Promise.all(workers.video.map((w) => w.close({ graceMs: 0 })));
    await Promise.all(workers.downstream.map((w) => w.close({ graceMs: o.graceMs })));
    await tracker.stop();
  }

  return {
    stop() {
      stopping ??= shutdown().then(() => o.log('stop   demo workers closed'));
      return stopping;
    },
    summary: () => tracker.snapshot(),
  };
}
