/**
 * What the two Spindle adapters share: a producer and a worker over a Client, and `pending()`
 * through a cached client per store. Each adapter supplies how to open its backend.
 */
import { Client, silentLogger, type Backend } from '@spindle/core';
import type { Producer, StoreConfig, WorkerHandle, WorkerOptions } from '../lib/adapter.js';

export const QUEUE = 'bench';

export function spindleProducer(backend: Backend): Producer {
  return producerOf(new Client({ backend, logger: silentLogger, maintenance: false }), true);
}

/**
 * The fastest documented settings, matching what the peers run with: completed jobs are not
 * retained (`removeOnComplete: true`, as BullMQ's adapter and graphile-worker do), and workers
 * claim up to 500 jobs at a time (`prefetch`), like graphile-worker's local queue of 500.
 */
export const JOB_OPTIONS = { removeOnComplete: true } as const;
export const CLAIM_BATCH = 500;

function producerOf(client: Client, owned: boolean): Producer {
  const queue = client.queue(QUEUE, { defaultJobOptions: JOB_OPTIONS });
  return {
    async addBulk(payloads) {
      await queue.addBulk(payloads.map((payload) => ({ name: 'noop', payload })));
    },
    async add(payload) {
      await queue.add('noop', payload);
    },
    close: async () => {
      if (owned) await client.close();
    },
  };
}

export async function spindleWorker(backend: Backend, options: WorkerOptions): Promise<WorkerHandle> {
  const client = new Client({ backend, logger: silentLogger });
  await client.start();
  const queue = client.queue(QUEUE, { defaultJobOptions: JOB_OPTIONS });
  let worker: ReturnType<typeof queue.process> | null = null;
  return {
    async start() {
      worker = queue.process(
        async (job) => {
          options.onJob(job.payload as { i: number; t?: number });
        },
        { concurrency: options.concurrency, prefetch: Math.max(0, CLAIM_BATCH - options.concurrency) },
      );
    },
    async producer() {
      return producerOf(client, false);
    },
    async close() {
      await worker?.close();
      await client.close();
    },
  };
}

/** `pending()` for Spindle: queued + running + scheduled + retrying jobs of the bench queue. */
export function pendingCounter(open: (config: StoreConfig) => Backend): { pending(config: StoreConfig): Promise<number>; forget(config: StoreConfig): Promise<void> } {
  const clients = new Map<string, Client>();
  return {
    async pending(config) {
      const key = JSON.stringify(config);
      let client = clients.get(key);
      if (!client) {
        client = new Client({ backend: open(config), logger: silentLogger, maintenance: false });
        clients.set(key, client);
      }
      const counts = (await client.counts({ queue: QUEUE }))[QUEUE];
      return counts ? counts.queued + counts.running + counts.scheduled + counts.retrying : 0;
    },
    async forget(config) {
      const key = JSON.stringify(config);
      await clients.get(key)?.close();
      clients.delete(key);
    },
  };
}
