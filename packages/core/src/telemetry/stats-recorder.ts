/**
 * StatsRecorder: a client's per-minute throughput counters (stores.ts `recordStats`). It counts
 * the outcomes THIS client committed — jobs its enqueuer inserted, attempts its workers
 * finalized, expired leases its rescuer (as maintenance leader) moved — in memory, and adds them to the stored
 * rows every `flushMs` (and on close) with ONE statement.
 *
 * Invariants:
 * - The hot path only increments a number in a Map (keyed by queue, for the current minute);
 *   no I/O, no timer per job. Minutes are the host clock's (UTC), taken when counting.
 * - Counts come from write results, never from events: an event may come from another process,
 *   which counts its own commits (counting events would count them twice).
 * - Approximate by design: a crash loses at most the counts of the unflushed interval; a failed
 *   flush keeps its rows for the next one (beyond MAX_PENDING_ROWS the oldest are dropped, with
 *   a warning); a flush that committed but whose answer was lost may be added twice.
 */
import type { Backend, FinalizeAction, FinalizeItem, InsertOutcome, JobInsert, LeaseOutcome, RescueResult } from '../backend/backend.js';
import { minuteStart, MAX_STATS_ROWS } from '../backend/store-checks.js';
import type { StatsCounts, StatsDelta, StatsField } from '../backend/stores.js';
import type { Logger } from '../logger.js';
import { Loop, type Service } from '../services/loop.js';

/** Rows kept for later flushes while the database is unreachable. */
const MAX_PENDING_ROWS = MAX_STATS_ROWS / 2;

/** The counter a finalize action adds to (snooze and release end no attempt: not counted). */
const FINALIZE_FIELD: Record<FinalizeAction['kind'], StatsField | null> = {
  complete: 'completed',
  retry: 'retried',
  dead: 'dead',
  cancel: 'cancelled',
  snooze: null,
  release: null,
};

type Row = StatsCounts & { queue: string; minute: Date };

export interface StatsRecorderOptions {
  backend: Backend;
  flushMs: number;
  logger: Logger;
}

export class StatsRecorder implements Service {
  /** Minute (epoch ms) the `current` rows count. */
  private minute = -1;
  private current = new Map<string, Row>();
  /** Rows of past minutes (or of failed flushes) waiting for the next flush. */
  private pending: Row[] = [];
  private readonly loop: Loop;
  private flushing: Promise<void> | null = null;

  constructor(private readonly options: StatsRecorderOptions) {
    this.loop = new Loop({ name: 'stats flush', intervalMs: options.flushMs, logger: options.logger, tick: () => this.flush() });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops the timer and writes what is left (a failure is logged, not thrown). */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.flush().catch((err: unknown) => this.options.logger.warn({ err }, 'spindle: writing throughput counters at close failed; they are lost'));
  }

  /** Adds `n` to a counter of `queue` for the current minute. */
  add(queue: string, field: StatsField, n = 1): void {
    if (n <= 0) return;
    const minute = minuteStart(Date.now());
    if (minute !== this.minute) this.rotate(minute);
    let row = this.current.get(queue);
    if (row === undefined) {
      row = { queue, minute: new Date(minute), enqueued: 0, completed: 0, retried: 0, dead: 0, cancelled: 0 };
      this.current.set(queue, row);
    }
    row[field] += n;
  }

  /** Counts the jobs an insert call really inserted (duplicates are not new jobs). */
  countInserted(jobs: readonly JobInsert[], outcomes: readonly InsertOutcome[]): void {
    let queue: string | null = null;
    let n = 0;
    for (let i = 0; i < outcomes.length; i++) {
      if (!outcomes[i]!.inserted) continue;
      const q = jobs[i]!.queue;
      if (q !== queue) {
        if (queue !== null) this.add(queue, 'enqueued', n);
        queue = q;
        n = 0;
      }
      n += 1;
    }
    if (queue !== null) this.add(queue, 'enqueued', n);
  }

  /** Counts one outcome the backend accepted for a job of `queue`. */
  countFinalized(queue: string, kind: FinalizeAction['kind']): void {
    const field = FINALIZE_FIELD[kind];
    if (field !== null) this.add(queue, field, 1);
  }

  /**
   * Counts the jobs this client's rescuer moved (as maintenance leader): requeued → retried,
   * dead, cancelled. The result names ids only, so their queues are read back (one listing per
   * 1000 ids; rescues are rare). A job deleted meanwhile is not counted.
   */
  async countRescued(result: RescueResult): Promise<void> {
    const fields = new Map<string, StatsField>();
    for (const id of result.requeued) fields.set(id, 'retried');
    for (const id of result.dead) fields.set(id, 'dead');
    for (const id of result.cancelled) fields.set(id, 'cancelled');
    const ids = [...fields.keys()];
    for (let i = 0; i < ids.length; i += 1000) {
      const page = await this.options.backend.listJobs({ filter: { ids: ids.slice(i, i + 1000) }, limit: 1000 });
      for (const job of page.jobs) this.add(job.queue, fields.get(job.id)!, 1);
    }
  }

  /** Writes everything counted so far (one statement). Concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private rotate(minute: number): void {
    for (const row of this.current.values()) this.pending.push(row);
    this.current = new Map();
    this.minute = minute;
  }

  private async write(): Promise<void> {
    this.rotate(minuteStart(Date.now()));
    const rows = this.pending;
    this.pending = [];
    if (rows.length === 0) return;
    let written = 0;
    try {
      while (written < rows.length) {
        const chunk: StatsDelta[] = rows.slice(written, written + MAX_STATS_ROWS);
        await this.options.backend.recordStats({ rows: chunk });
        written += chunk.length;
      }
    } catch (err) {
      // Keep the unwritten rows for the next flush (rows of one minute add up in the statement).
      this.pending = [...rows.slice(written), ...this.pending];
      if (this.pending.length > MAX_PENDING_ROWS) {
        const dropped = this.pending.splice(0, this.pending.length - MAX_PENDING_ROWS);
        this.options.logger.warn({ dropped: dropped.length }, 'spindle: dropped the oldest unwritten throughput counters');
      }
      throw err;
    }
  }
}
