/** How long a queue's oldest due job has waited (ms, database clock), 0 when none waits. */
import type { Client } from '@spindle/core';

export async function oldestQueuedAgeMs(client: Client, queue: string, now: Date): Promise<number> {
  const page = await client.listJobs({ filter: { queue, states: ['queued'] }, order: 'oldest', limit: 1 });
  const job = page.jobs[0];
  return job ? Math.max(0, now.getTime() - job.runAt.getTime()) : 0;
}
