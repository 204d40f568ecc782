/**
 * How long a queue's longest-waiting due job has waited (ms, database clock), 0 when none
 * waits: from the earliest `runAt` among its queued jobs (a job promoted from a delay or a
 * retry waits since it became due, not since it was inserted).
 */
import type { Client } from '@spindle/core';

export async function oldestQueuedAgeMs(client: Client, queue: string, now: Date): Promise<number> {
  const at = await client.oldestQueuedAt(queue);
  return at ? Math.max(0, now.getTime() - at.getTime()) : 0;
}
