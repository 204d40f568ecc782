/**
 * Enqueue workloads: `bulk` — N jobs through the system's bulk API in chunks of 1,000 (the same
 * chunk for every system); `single` — jobs added one at a time, each awaited (acknowledged)
 * before the next.
 */
import type { SystemAdapter } from '../lib/adapter.js';

export const BULK_CHUNK = 1000;

export async function bulkEnqueue(adapter: SystemAdapter, jobs: number): Promise<{ jobsPerSec: number }> {
  const config = await adapter.prepare();
  const producer = await adapter.producer(config);
  try {
    const t = performance.now();
    for (let i = 0; i < jobs; i += BULK_CHUNK) {
      await producer.addBulk(Array.from({ length: Math.min(BULK_CHUNK, jobs - i) }, (_, k) => ({ i: i + k })));
    }
    const ms = performance.now() - t;
    return { jobsPerSec: Math.round((jobs / ms) * 1000) };
  } finally {
    await producer.close();
    await adapter.dispose(config);
  }
}

export async function singleEnqueue(adapter: SystemAdapter, jobs: number): Promise<{ jobsPerSec: number; meanMs: number }> {
  const config = await adapter.prepare();
  const producer = await adapter.producer(config);
  try {
    const t = performance.now();
    for (let i = 0; i < jobs; i++) await producer.add({ i });
    const ms = performance.now() - t;
    return { jobsPerSec: Math.round((jobs / ms) * 1000), meanMs: ms / jobs };
  } finally {
    await producer.close();
    await adapter.dispose(config);
  }
}
