/**
 * Access checks for routes that name jobs by id: the queue a key may act on is the job's, known
 * only once the job is read. A job of a queue the key may not touch answers exactly like a job
 * that does not exist (404), so ids cannot be probed (reliability S11).
 */
import type { Client, JobRecord } from '@spindle/core';
import type { Action, Grant } from '../auth/api-keys.js';
import { ApiProblem } from './problem.js';

/** The job, or 404 when it does not exist or the key may not `action` its queue. */
export async function loadJob(client: Client, id: string, grant: Grant, action: Action): Promise<JobRecord> {
  const job = await client.getJob(id);
  if (!job || !grant.allows(action, job.queue)) throw new ApiProblem(404, 'not_found', `No job ${id}.`);
  return job;
}

/**
 * The ids among `ids` (≤ 1,000) of existing jobs whose queue the key may not `action`. A bulk
 * action answers those `not_found` and leaves them alone, exactly as for ids that do not exist,
 * so a key confined to some queues cannot learn whether an id exists elsewhere.
 */
export async function hiddenJobIds(client: Client, ids: string[], grant: Grant, action: Action): Promise<Set<string>> {
  if (grant.allowsAllQueues(action)) return new Set();
  const page = await client.listJobs({ filter: { ids }, limit: 1000 });
  return new Set(page.jobs.filter((j) => !grant.allows(action, j.queue)).map((j) => j.id));
}
