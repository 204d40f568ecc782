/**
 * The enqueue path of a client. Enqueues are group-committed: `add` calls made while an insert
 * is in flight go together in the next one (one transaction), and each call still resolves only
 * after its own jobs commit. On the way, jobs for a queue that has an idle worker in this
 * process are dispatched to it directly: the backend inserts them already claimed by that
 * worker (one transaction instead of insert + claim), and the worker starts them at once.
 *
 * Invariants: an insert failure rejects exactly the calls of that batch (nothing of it was
 * written); a dispatched job is handed to the worker it was claimed for, or, if that worker
 * closed meanwhile, released by it (fenced) — it never waits unseen for lease expiry.
 */
import type { Backend, ClaimedJob, DispatchRequest, InsertOutcome, JobInsert } from './backend/backend.js';
import { GroupCommit } from './group-commit.js';
import type { Logger } from './logger.js';
import type { Worker } from './worker/worker.js';
import type { StatsRecorder } from './telemetry/stats-recorder.js';

export interface EnqueuerOptions {
  /** Runs a backend operation once the client is started. */
  run: <T>(op: (backend: Backend) => Promise<T>) => Promise<T>;
  /** The client's live workers (read at each flush). */
  workers: ReadonlySet<Worker<any, any>>;
  logger: Logger;
  /** Counts the jobs inserted (throughput counters); null when telemetry is off. */
  stats?: StatsRecorder | null;
}

export class Enqueuer {
  private readonly batches: GroupCommit<JobInsert[], InsertOutcome[]>;

  constructor(private readonly options: EnqueuerOptions) {
    this.batches = new GroupCommit({
      name: 'enqueue',
      gather: 'io',
      maxBatch: 5000,
      weight: (jobs) => jobs.length,
      onFailure: 'reject',
      logger: options.logger,
      write: (calls) => this.write(calls),
    });
  }

  /** Inserts one call's jobs (validated); resolves with their outcomes after the commit. */
  submit(jobs: JobInsert[]): Promise<InsertOutcome[]> {
    return this.batches.submit(jobs);
  }

  /** Resolves when every accepted call has been written. */
  idle(): Promise<void> {
    return this.batches.idle();
  }

  private async write(calls: JobInsert[][]): Promise<InsertOutcome[][]> {
    const jobs = calls.flat();
    const { dispatch, takers } = this.dispatchRequests(jobs);
    const outcomes = await this.options.run((b) => b.insertJobs({ jobs, ...(dispatch.length > 0 ? { dispatch } : {}) }));
    this.options.stats?.countInserted(jobs, outcomes);
    if (dispatch.length > 0) handOver(outcomes, takers);
    let offset = 0;
    return calls.map((call) => outcomes.slice(offset, (offset += call.length)));
  }

  /**
   * For each queue of this batch with due jobs and an idle local worker (its last claim found
   * the queue empty), one request for up to that worker's free slots.
   */
  private dispatchRequests(jobs: JobInsert[]): { dispatch: DispatchRequest[]; takers: Map<string, Worker<any, any>> } {
    const dispatch: DispatchRequest[] = [];
    const takers = new Map<string, Worker<any, any>>();
    if (this.options.workers.size === 0) return { dispatch, takers };
    const due = new Map<string, number>();
    for (const job of jobs) if (job.delayMs === null && job.runAt === null) due.set(job.queue, (due.get(job.queue) ?? 0) + 1);
    for (const worker of this.options.workers) {
      // A worker serving several idle queues takes from the first of them with due jobs (its
      // slots are counted once; the rest waits for its claims).
      for (const queue of worker.queues) {
        const wanted = due.get(queue);
        if (!wanted) continue;
        const slots = worker.dispatchSlots(queue);
        if (slots === 0) break;
        due.delete(queue);
        takers.set(queue, worker);
        dispatch.push({ queue, workerId: worker.id, leaseMs: worker.leaseMs, limit: Math.min(slots, wanted, 1000) });
        break;
      }
    }
    return { dispatch, takers };
  }
}

/** Gives each worker the jobs the backend inserted already claimed for it. */
function handOver(outcomes: InsertOutcome[], takers: Map<string, Worker<any, any>>): void {
  const claimed = new Map<string, ClaimedJob[]>();
  for (const { claimed: job } of outcomes) {
    if (job) claimed.set(job.queue, [...(claimed.get(job.queue) ?? []), job]);
  }
  for (const [queue, jobs] of claimed) takers.get(queue)?.accept(jobs);
}
