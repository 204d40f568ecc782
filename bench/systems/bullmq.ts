/**
 * BullMQ on Redis, configured from BullMQ's own documentation for the fastest safe path with
 * no-op jobs (every choice is listed in `settings` with its source):
 *  - enqueue through `queue.addBulk` (one atomic call per chunk, fewer round trips) / `queue.add`;
 *  - completed jobs removed on completion (`removeOnComplete`), the auto-removal BullMQ
 *    recommends for production; failed jobs are kept (the default);
 *  - the worker's `concurrency` as the workload asks; lock renewal, stalled checks, drain delay
 *    and event-stream trimming stay at their documented defaults (the docs advise against
 *    changing them, and none of them costs anything per job);
 *  - ioredis as BullMQ documents it: `maxRetriesPerRequest: null` for workers,
 *    `enableOfflineQueue: false` for the producer's `Queue` (fail fast).
 * Each measurement gets its own key prefix; `dispose()` obliterates the queue and deletes any key
 * left under the prefix. Redis runs here without persistence (no AOF/RDB), stated in the report.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { BenchPayload, Producer, StoreConfig, SystemAdapter, WorkerHandle, WorkerOptions } from '../lib/adapter.js';

const QUEUE = 'bench';
const JOB_NAME = 'noop';

/** `REDIS_URL` overrides the default 127.0.0.1:6379. */
function redisTarget(): { host: string; port: number } {
  const url = process.env.REDIS_URL;
  if (!url) return { host: '127.0.0.1', port: 6379 };
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379) };
}

function target(config: StoreConfig): { host: string; port: number } {
  return { host: String(config.host), port: Number(config.port) };
}

/** Connection options for a `Queue` (producer side): fail fast instead of buffering offline. */
function queueConnection(config: StoreConfig): ConnectionOptions {
  return { ...target(config), enableOfflineQueue: false };
}

/** Connection options for a `Worker`: retry commands forever across reconnects. */
function workerConnection(config: StoreConfig): ConnectionOptions {
  return { ...target(config), maxRetriesPerRequest: null };
}

function openQueue(config: StoreConfig): Queue<BenchPayload> {
  const queue = new Queue<BenchPayload>(String(config.queue), {
    connection: queueConnection(config),
    prefix: String(config.prefix),
  });
  queue.on('error', (err) => console.error(`bullmq queue error: ${err.message}`));
  return queue;
}

/** One cached `Queue` per store for `pending()` (polled every 10 ms during a drain). */
const counters = new Map<string, Queue<BenchPayload>>();

function counterFor(config: StoreConfig): Queue<BenchPayload> {
  const key = `${String(config.prefix)}|${String(config.queue)}`;
  let queue = counters.get(key);
  if (!queue) {
    queue = openQueue(config);
    counters.set(key, queue);
  }
  return queue;
}

async function forgetCounter(config: StoreConfig): Promise<void> {
  const key = `${String(config.prefix)}|${String(config.queue)}`;
  const queue = counters.get(key);
  counters.delete(key);
  await queue?.close();
}

async function withRedis<T>(config: { host: string; port: number }, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ ...config, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export const adapter: SystemAdapter = {
  name: 'bullmq',
  label: 'BullMQ (Redis)',
  store: 'redis',
  multiProcessWorkers: true,
  settings: {
    durability:
      'Redis as this machine runs it: no persistence (appendonly no, save ""), so an acknowledged job lives only in memory; maxmemory-policy noeviction, which BullMQ requires. ' +
      'BullMQ recommends AOF with fsync every second for production (docs.bullmq.io/guide/going-to-production, "Persistence") and says it has some cost.',
    enqueue:
      'queue.addBulk per chunk: adds all jobs atomically and "can be faster since it reduces the number of roundtrips to Redis" ' +
      '(docs.bullmq.io/guide/queues/adding-bulks); queue.add for single jobs; default incrementing job ids, no priority/delay (docs: priorities have a performance cost).',
    worker:
      'new Worker(..., { concurrency: N, autorun: false }), started with worker.run(). The local concurrency factor is the documented way to run many async jobs per worker ' +
      '(docs.bullmq.io/guide/workers/concurrency). v6 has no prefetch option; the worker already takes the next job in the same script call that completes one (BullMQ source: moveToFinished with fetchNext).',
    removeOnComplete:
      'worker removeOnComplete { count: 0 }: every completed job is deleted as it finishes (docs.bullmq.io/guide/workers/auto-removal-of-jobs, "Remove all finalized jobs"; ' +
      'going-to-production: keep only a handful of completed jobs). Fastest of the documented choices when measured here (20,000-job drains: count 0 > keep all > count 1000) and bounded memory; removeOnFail left at default (failed jobs kept).',
    locksAndStalls:
      'defaults: lockDuration 30 s (renewed every 15 s), stalledInterval 30 s, maxStalledCount 1, skipLockRenewal/skipStalledCheck false. ' +
      'The docs say stalledInterval "normally you should not need to modify" (guide/workers/stalled-jobs); skipping renewal/stall checks would let a crashed worker lose jobs, and is not a documented fast path.',
    drainDelay:
      'default 5 s, the "number of seconds to long poll for jobs when the queue is empty" (WorkerOptions API doc): it only bounds an idle wait, which an added job ends early (BullMQ source: blocking pop on the queue marker), so it is not a throughput or latency knob.',
    events:
      'default event stream trimming (~10,000 events, approximate XTRIM; docs.bullmq.io/guide/events, streams.events.maxLen); no QueueEvents listener; metrics off (default).',
    connections:
      'ioredis per docs.bullmq.io/guide/going-to-production: Worker maxRetriesPerRequest null (BullMQ\'s own default for workers); Queue enableOfflineQueue false (fail fast). ' +
      'Each Worker opens its own normal + blocking connection; 127.0.0.1:6379 over TCP.',
    pending: "queue.getJobCounts('waiting','active','delayed','prioritized','waiting-children') summed (in v6 paused jobs stay in the wait list, so 'waiting' covers them).",
  },
  async versions() {
    const require = createRequire(import.meta.url);
    const bullmq = (require('bullmq/package.json') as { version: string }).version;
    const ioredis = (require('ioredis/package.json') as { version: string }).version;
    const { info, persistence } = await withRedis(redisTarget(), async (redis) => {
      const [, appendonly] = (await redis.config('GET', 'appendonly')) as string[];
      const [, save] = (await redis.config('GET', 'save')) as string[];
      return { info: await redis.info('server'), persistence: `appendonly=${appendonly ?? '?'} save="${save ?? '?'}"` };
    });
    const redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return { bullmq, ioredis, redis, redisPersistence: persistence };
  },
  async prepare() {
    const { host, port } = redisTarget();
    const prefix = `spindle-bench-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    return { host, port, prefix, queue: QUEUE };
  },
  async dispose(config) {
    await forgetCounter(config);
    const queue = openQueue(config);
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
    // Anything obliterate leaves behind (e.g. keys written by a worker after it ran).
    await withRedis(target(config), (redis) => deleteKeys(redis, `${String(config.prefix)}:*`));
  },
  async producer(config): Promise<Producer> {
    const queue = openQueue(config);
    await queue.waitUntilReady();
    return {
      async addBulk(payloads) {
        await queue.addBulk(payloads.map((data) => ({ name: JOB_NAME, data })));
      },
      async add(payload) {
        await queue.add(JOB_NAME, payload);
      },
      close: () => queue.close(),
    };
  },
  async worker(config, options: WorkerOptions): Promise<WorkerHandle> {
    const worker = new Worker<BenchPayload>(
      String(config.queue),
      async (job) => {
        options.onJob(job.data);
      },
      {
        connection: workerConnection(config),
        prefix: String(config.prefix),
        concurrency: options.concurrency,
        autorun: false,
        removeOnComplete: { count: 0 },
      },
    );
    worker.on('error', (err) => console.error(`bullmq worker error: ${err.message}`));
    await worker.waitUntilReady();
    let running: Promise<void> | null = null;
    return {
      async start() {
        // run() resolves only when the worker stops; it sets the worker running synchronously.
        running = worker.run().catch((err: unknown) => {
          console.error(`bullmq worker stopped: ${err instanceof Error ? err.message : String(err)}`);
        });
        if (!worker.isRunning()) throw new Error('bullmq worker did not start');
      },
      async close() {
        await worker.close();
        await running;
      },
    };
  },
  async pending(config) {
    const counts = await counterFor(config).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  },
};
