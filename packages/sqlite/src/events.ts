/**
 * State-change events (job, queue and topic events): the in-process emitter, and the outbox that
 * carries events to other processes sharing the database file.
 *
 * Invariants:
 * - Local subscribers receive a transaction's events only after it committed, on a later tick
 *   (`process.nextTick`), never from inside the transaction; one listener call per transaction.
 * - Other processes: each write transaction that produced events inserts ONE `spindle_events`
 *   row (body = JSON array, origin = this instance's random id) inside that same transaction,
 *   so the row exists if and only if the changes committed. SQLite serialises writers, so `seq`
 *   order is commit order.
 * - The poller runs only while someone is subscribed (and the timer is unref'ed). It starts at
 *   the newest row present when polling begins, reads only when `PRAGMA data_version` moved
 *   (another connection committed), and skips rows of its own origin (already delivered
 *   locally). Delivery is best effort: a poller that falls more than a minute behind may miss
 *   rows the pruner deleted.
 * - Wake-ups across processes: besides the timer, the poller watches the database's WAL file
 *   (inotify on Linux): another process's commit writes to it, so the poll runs within about a
 *   millisecond instead of up to `pollMs` later. Watching is only an accelerator — when it is
 *   unavailable (no WAL file yet, a file system without notifications) the timer still polls;
 *   several notifications coalesce into one poll per turn of the event loop.
 * - The newest outbox row is never pruned, so `seq` (a rowid) never goes backwards.
 * - Outbox body (`encodeOutbox`): `{"v":2,"e":[…]}`, each entry either an event as is, or a run
 *   of consecutive job events without data that share type, queue, name, state, attempt and
 *   time, written `[type, queue, name, state, attempt, at, jobId, jobId, …]` — a bulk insert,
 *   claim or completion of 1,000 jobs is one run (~40 bytes a job instead of ~140). Readers also
 *   accept the first format, a plain array of events. (An older process sharing the file reads
 *   an object where it expects an array: its listener throws, reported as a warning, and it misses
 *   those events — best effort, as events are; its polling still finds the jobs.)
 * - Topic events (`published`, ADR 0017 "Wake-ups": a publish transaction pushes one, so the
 *   row of its transaction carries it and exists iff the messages committed) go under their own
 *   key, `"t":[[topic, [partition, …], at], …]`, one entry per topic (several events of one topic
 *   in a transaction are merged: their partitions united, the latest time), delivered after the
 *   row's `e` events. A process that predates them reads only `e` (empty for a publish) and so
 *   never mistakes them for job or queue events; it wakes no consumer, which polls.
 * - Cost per publish transaction: that one outbox INSERT (a body of 43 bytes plus the topic name
 *   and partition numbers), and one more row for other processes' pollers to read.
 */
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import type { EventListener, JobEvent, JobEventType, JobState, SpindleEvent, TopicEvent } from '@spindle/core';
import type { Connection, Stmt } from './connection.js';

/** Outbox rows older than this are deleted by pruneJobs. */
export const OUTBOX_RETENTION_MS = 60_000;

const POLL_BATCH = 500;
/** Extra looks after a WAL notification whose commit was not visible yet (ms after it). */
const SETTLE_RETRY_MS = [1, 4];

interface Subscription {
  listener: EventListener;
}

interface OutboxRow {
  seq: number;
  origin: string;
  body: string;
}

export class EventHub {
  /** Identifies this backend instance's rows in the outbox. */
  readonly origin = randomBytes(12).toString('hex');
  private readonly subscriptions = new Set<Subscription>();
  private timer: NodeJS.Timeout | null = null;
  private lastSeq = 0;
  private lastDataVersion: number | null = null;
  private versionStmt: Stmt | null = null;
  private watcher: FSWatcher | null = null;
  private pollQueued = false;

  /** `crossProcess`: write and poll the outbox (false for a private in-memory database). */
  constructor(
    private readonly conn: Connection,
    private readonly pollMs: number,
    private readonly crossProcess: boolean,
    /** The WAL file to watch for other processes' commits (null: timer only). */
    private readonly walPath: string | null = null,
  ) {}

  subscribe(listener: EventListener): () => void {
    const subscription: Subscription = { listener };
    this.subscriptions.add(subscription);
    if (this.crossProcess && this.timer === null) this.startPolling();
    return () => {
      if (!this.subscriptions.delete(subscription)) return;
      if (this.subscriptions.size === 0) this.stopPolling();
    };
  }

  /** Inside a write transaction: records its events for other processes. */
  writeOutbox(events: SpindleEvent[]): void {
    if (!this.crossProcess) return;
    this.conn
      .stmt('INSERT INTO spindle_events (origin, at, body) VALUES (?, ?, ?)')
      .run(this.origin, Date.now(), encodeOutbox(events));
  }

  /** After a commit: hands the transaction's events to local subscribers on the next tick. */
  publishLocal(events: SpindleEvent[]): void {
    if (this.subscriptions.size === 0) return;
    process.nextTick(() => this.deliver(events));
  }

  close(): void {
    this.stopPolling();
    this.subscriptions.clear();
  }

  private deliver(events: SpindleEvent[]): void {
    for (const subscription of [...this.subscriptions]) {
      try {
        subscription.listener(events);
      } catch (err) {
        process.emitWarning(`spindle: an event listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private startPolling(): void {
    try {
      this.lastDataVersion = this.dataVersion();
      const row = this.conn.stmt('SELECT max(seq) AS seq FROM spindle_events').get() as { seq: number | null };
      this.lastSeq = row.seq ?? 0;
    } catch {
      // Not migrated yet: every row that will appear is new.
      this.lastSeq = 0;
      this.lastDataVersion = null;
    }
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
    this.watchWal();
  }

  private watchWal(): void {
    if (this.walPath === null) return;
    try {
      this.watcher = watch(this.walPath, { persistent: false }, () => this.queuePoll());
      this.watcher.on('error', () => this.unwatchWal());
    } catch {
      this.watcher = null; // no WAL file yet, or no notifications here: the timer polls
    }
  }

  private unwatchWal(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  /**
   * One poll per turn of the event loop, however many notifications arrived. The WAL is written
   * before the commit becomes visible (the wal-index in shared memory is updated after, and that
   * mmap write notifies nobody), so a poll that finds nothing new looks again a little later.
   */
  private queuePoll(): void {
    if (this.pollQueued) return;
    this.pollQueued = true;
    setImmediate(() => {
      this.pollQueued = false;
      if (this.timer === null || this.poll()) return;
      for (const ms of SETTLE_RETRY_MS) setTimeout(() => this.timer !== null && this.poll(), ms).unref();
    });
  }

  private stopPolling(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unwatchWal();
  }

  /** Through one prepared statement: db.pragma() compiles one per call (7 µs instead of 2). */
  private dataVersion(): number {
    this.versionStmt ??= this.conn.db.prepare('PRAGMA data_version').pluck();
    return Number(this.versionStmt.get());
  }

  /** Reads new outbox rows; false when no other connection committed since the last poll. */
  private poll(): boolean {
    if (!this.conn.db.open) return false;
    try {
      // Read the counter before the rows: a commit landing in between changes it again, so the
      // next tick reads once more and nothing is missed.
      const version = this.dataVersion();
      if (version === this.lastDataVersion) return false;
      const select = this.conn.stmt('SELECT seq, origin, body FROM spindle_events WHERE seq > ? ORDER BY seq LIMIT ?');
      for (;;) {
        const rows = select.all(this.lastSeq, POLL_BATCH) as OutboxRow[];
        for (const row of rows) {
          this.lastSeq = row.seq;
          if (row.origin === this.origin || this.subscriptions.size === 0) continue;
          let events: SpindleEvent[];
          try {
            events = decodeOutbox(row.body);
          } catch {
            continue;
          }
          if (events.length > 0) this.deliver(events);
        }
        if (rows.length < POLL_BATCH) break;
      }
      this.lastDataVersion = version;
      return true;
    } catch {
      // Best effort (e.g. the table does not exist yet): the next tick tries again.
      return false;
    }
  }
}

/** A run of job events: `[type, queue, name, state, attempt, at, ...jobIds]`. */
type Run = [JobEventType, string, string, JobState, number, number, ...string[]];

const OUTBOX_VERSION = 2;

/** A topic's events of one transaction: `[topic, partitions, at]`. */
type TopicEntry = [string, number[], number];

/** The outbox body of a transaction's events (format in the invariants above). */
export function encodeOutbox(events: SpindleEvent[]): string {
  const entries: Array<SpindleEvent | Run> = [];
  let topics: Map<string, TopicEntry> | null = null;
  let run: Run | null = null;
  for (const event of events) {
    if (event.type === 'published') {
      topics ??= new Map();
      const seen = topics.get(event.topic);
      if (seen === undefined) topics.set(event.topic, [event.topic, [...event.partitions], event.at]);
      else {
        seen[1] = [...new Set([...seen[1], ...event.partitions])].sort((a, b) => a - b);
        seen[2] = Math.max(seen[2], event.at);
      }
    } else if (!('jobId' in event) || event.data !== undefined) {
      entries.push(event);
      run = null;
    } else if (
      run !== null &&
      run[0] === event.type &&
      run[1] === event.queue &&
      run[2] === event.name &&
      run[3] === event.state &&
      run[4] === event.attempt &&
      run[5] === event.at
    ) {
      run.push(event.jobId);
    } else {
      run = [event.type, event.queue, event.name, event.state, event.attempt, event.at, event.jobId];
      entries.push(run);
    }
  }
  return JSON.stringify(topics === null ? { v: OUTBOX_VERSION, e: entries } : { v: OUTBOX_VERSION, e: entries, t: [...topics.values()] });
}

/** The events of an outbox body (either format); throws on anything else. */
export function decodeOutbox(body: string): SpindleEvent[] {
  const parsed = JSON.parse(body) as unknown;
  if (Array.isArray(parsed)) return parsed as SpindleEvent[];
  const { v, e, t } = parsed as { v?: unknown; e?: unknown; t?: unknown };
  if (v !== OUTBOX_VERSION || !Array.isArray(e)) throw new Error(`unknown outbox body format (v = ${String(v)})`);
  const events: SpindleEvent[] = [];
  for (const entry of e as Array<SpindleEvent | Run>) {
    if (!Array.isArray(entry)) {
      events.push(entry);
      continue;
    }
    const [type, queue, name, state, attempt, at] = entry;
    for (let i = 6; i < entry.length; i++) {
      const event: JobEvent = { type, jobId: entry[i] as string, queue, name, state, attempt, at };
      events.push(event);
    }
  }
  if (Array.isArray(t)) {
    for (const [topic, partitions, at] of t as TopicEntry[]) {
      const event: TopicEvent = { type: 'published', topic, partitions, at };
      events.push(event);
    }
  }
  return events;
}

/** Deletes outbox rows older than a minute, always keeping the newest row (see invariants). */
export function pruneOutbox(conn: Connection): void {
  conn
    .stmt('DELETE FROM spindle_events WHERE at < ? AND seq < (SELECT max(seq) FROM spindle_events)')
    .run(Date.now() - OUTBOX_RETENTION_MS);
}
