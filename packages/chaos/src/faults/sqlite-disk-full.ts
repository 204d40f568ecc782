/**
 * Fault driver: a full disk under SQLite (reliability.md §5.1 "Disk full", scenario C8), made
 * with `PRAGMA max_page_count` on the writing connection: once the database may not grow, every
 * write that needs a new page fails with SQLITE_FULL — what a full disk does — while the file
 * and the disk stay untouched.
 *
 * It owns nothing but the limit it set: the pragma is per connection, so the target is whatever
 * can set it on the system's own connection — a SqliteBackend (its `maxPageCount` test seam),
 * or a scenario's stand-in that forwards the call to a server process (hence the async form).
 *
 * Invariants:
 * - `fillDisk` records the limit in force before it, then caps the file at its current size
 *   (plus `headroomPages`); SQLite never lowers the cap below the pages already used.
 * - `heal` puts back exactly the limit that was in force before (idempotent).
 * - The fault writes nothing to the database.
 */
import { type FaultRecorder, recordFault } from './nemesis.js';

/** What can set max_page_count on the connection that writes (SqliteBackend has it). */
export interface PageLimitTarget {
  /** Reads, or sets when `pages` is given, max_page_count; returns the limit in force. */
  maxPageCount(pages?: number): number | Promise<number>;
}

export interface DiskFullOptions {
  /** Pages the database may still grow by. Default 0: full now. */
  headroomPages?: number;
  recorder?: FaultRecorder;
  /** Names the target in the fault record (e.g. the file). */
  target?: string;
}

export interface DiskFull {
  /** The cap in force during the fault (pages). */
  readonly limitPages: number;
  /** The limit before the fault, put back by `heal`. */
  readonly previousLimit: number;
  heal(): Promise<void>;
}

export async function fillDisk(target: PageLimitTarget, options: DiskFullOptions = {}): Promise<DiskFull> {
  const headroom = options.headroomPages ?? 0;
  if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError('headroomPages must be a non-negative integer');
  const previousLimit = await target.maxPageCount();
  const healed = recordFault(options.recorder, { fault: 'disk_full', target: options.target, headroomPages: headroom });
  // Asking for 1 page yields the smallest cap SQLite allows: the pages in use right now.
  let limitPages = await target.maxPageCount(1);
  if (headroom > 0) limitPages = await target.maxPageCount(limitPages + headroom);
  let done = false;
  return {
    limitPages,
    previousLimit,
    async heal() {
      if (done) return;
      await target.maxPageCount(previousLimit);
      done = true;
      healed();
    },
  };
}
