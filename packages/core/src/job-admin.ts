/**
 * `client.jobs`: operator actions on given jobs — retry a finished job (optionally with a new
 * payload), promote a delayed one, delete jobs, edit the payload of a job that has not started. The HTTP API's
 * `POST /jobs/:id/retry`, `/promote`, `DELETE /jobs/:id`, `PATCH /jobs/:id` and their bulk forms.
 *
 * Invariants:
 * - Every method validates its input first (ids like `cancelMany`: 1..10000 valid job ids; a
 *   payload must be JSON within the client's `maxPayloadBytes` and, when this client has a schema
 *   for the job's queue, pass it) and throws ValidationError before anything is written.
 * - Each call is one atomic backend call answering per id, in input order; the backend applies
 *   each action as a compare-and-set on the job's state (backend/job-actions.ts), so concurrent
 *   calls move a job at most once and a running job is never deleted nor edited.
 */
import type { JobActionOutcome, RetryOutcome } from './backend/job-actions.js';
import type { Client } from './client.js';
import { checkJobId, checkKnownKeys, checkPlainObject, Issues, serializeJson } from './validate.js';

const MAX_IDS = 10_000;

/** `ids`: an array of 1..10000 valid job ids (holes of sparse arrays reported too). */
function checkIds(ids: unknown): string[] {
  const issues = new Issues();
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS) issues.add('ids', `must be an array of 1..${MAX_IDS} job ids`);
  else for (let i = 0; i < ids.length; i++) checkJobId(issues, `ids[${i}]`, ids[i]);
  issues.throwIfAny();
  return ids as string[];
}

export class JobAdmin {
  constructor(private readonly client: Client) {}

  /**
   * Puts `completed`, `dead` or `cancelled` jobs back in their queue, due now: attempts reset,
   * round + 1, error history kept (a DLQ replay, for any finished job). `unique_conflict`: a live
   * job of the queue holds the job's unique key. Event `retried`.
   * Edit and retry: `options.payload` replaces the payload in the same write; it needs exactly
   * one id and is checked like `updatePayload`'s (JSON, size, the queue's schema).
   */
  async retry(ids: string[], options?: { payload?: unknown }): Promise<RetryOutcome[]> {
    const checked = checkIds(ids);
    const issues = new Issues();
    if (options !== undefined && checkPlainObject(issues, 'options', options)) checkKnownKeys(issues, 'options', options, ['payload']);
    const edit = issues.ok && options?.payload !== undefined;
    if (edit && checked.length !== 1) issues.add('ids', 'must hold exactly one id when options.payload is given');
    issues.throwIfAny();
    if (!edit) return this.client.run((b) => b.retryJobs({ ids: checked }));
    const id = checked[0]!;
    const job = await this.client.getJob(id);
    if (job === null) return ['not_found'];
    const payload = await this.serializedPayload(job.queue, options!.payload);
    return this.client.run((b) => b.retryJobs({ ids: [id], payload }));
  }

  /** Makes `scheduled` (delayed) or `retrying` (backing off) jobs due now. Event `promoted`. */
  async promote(ids: string[]): Promise<JobActionOutcome[]> {
    const checked = checkIds(ids);
    return this.client.run((b) => b.promoteJobs({ ids: checked }));
  }

  /**
   * Deletes jobs for good, in any state but `running` (`wrong_state`: cancel it first and delete
   * it once it is cancelled). Event `removed`.
   */
  async delete(ids: string[]): Promise<JobActionOutcome[]> {
    const checked = checkIds(ids);
    return this.client.run((b) => b.deleteJobs({ ids: checked }));
  }

  /**
   * Replaces the payload of a job that is `scheduled`, `queued`, `retrying` or `waiting`
   * (`wrong_state` once it runs or finished). When this client has a schema for the job's queue
   * the payload must pass it, and the schema's output is stored (as `queue.add` does).
   * Event `updated`.
   */
  async updatePayload(id: string, payload: unknown): Promise<JobActionOutcome> {
    const issues = new Issues();
    checkJobId(issues, 'id', id);
    if (payload === undefined) issues.add('payload', 'is required (undefined is not JSON; use null for "nothing")');
    issues.throwIfAny();
    // The job's queue chooses the schema. (Only a finished job changes queue — a DLQ replay to
    // another queue — and a finished job is not editable, so the queue read here is the job's
    // queue at the write unless it finished, was replayed elsewhere and queued in between.)
    const job = await this.client.getJob(id);
    const text = await this.serializedPayload(job?.queue, payload);
    if (job === null) return 'not_found';
    const [outcome] = await this.client.run((b) => b.updateJobPayloads({ items: [{ id, payload: text }] }));
    return outcome!;
  }

  /**
   * `payload` checked for a job of `queue` (its schema when this client has one, whose output is
   * stored, as `queue.add` does) and serialized within maxPayloadBytes. Throws ValidationError.
   */
  private async serializedPayload(queueName: string | undefined, payload: unknown): Promise<string> {
    const issues = new Issues();
    if (payload === undefined) issues.add('payload', 'is required (undefined is not JSON; use null for "nothing")');
    issues.throwIfAny();
    const queue = queueName === undefined ? undefined : this.client.registeredQueue(queueName);
    const value = queue === undefined ? payload : await queue.validatePayload(issues, 'payload', payload);
    const text = issues.ok ? serializeJson(issues, 'payload', value, this.client.maxPayloadBytes) : null;
    issues.throwIfAny(); // serializeJson returns null only with an issue
    return text as string;
  }
}
