/**
 * Tenant groups on SQLite (docs/decisions/0015-groups.md): the group key an insert stores, and
 * the claim of a grouped queue, which rotates across its groups.
 *
 * Invariants:
 * - A queue is grouped from the transaction of its first grouped insert on (settings row
 *   `grouped = 1`); that transaction also gives its live ungrouped jobs the key '' (a member of
 *   the rotation like any group, exempt from group limits, shown as "no group"). From then on an
 *   ungrouped job of the queue is stored with '': every queued job of a grouped queue is in the
 *   group index, so the rotation never scans past anything. SQLite has one writer: the flag is
 *   read in each insert's own transaction, so no insert can miss it.
 * - The rotation: members are the distinct group keys with queued jobs, walked in key order from
 *   just after the queue's cursor, wrapping once. A member at a group limit is passed over. The
 *   walk is one recursive statement per page (a loose index scan that also returns each group's
 *   head job). Each member gets a fair share of the allowance (or its cap), then what is left
 *   goes to the members that filled theirs (fillShares); the jobs are taken round-robin (each
 *   member's r-th before anyone's (r+1)-th). Within a group, jobs go by (priority, seq) — a
 *   retried job keeps its place, which is what FIFO needs. The cursor then points at the last member served (or,
 *   when nothing could be served, the last member looked at), so the next claim starts after it.
 * - A walk looks at most at MAX_WALK members more than the claim's allowance: with many groups
 *   at their limits a claim stays bounded, and the next one continues from where this one stopped.
 * - Group limits are counted inside the claim's write transaction (one writer), so two claims
 *   never both see a group's last free slot.
 */
import type { ClaimLimited, JobInsert } from '@spindle/core';
import { CLAIM_COLUMNS, type ClaimRow } from './rows.js';
import { RELEASE_QUEUED_KEY } from './state-sql.js';
import type { Store } from './tx.js';

/** Most members one claim looks at past the ones it needs (each costs an index probe or two). */
export const MAX_WALK = 256;

/** How many members a claim of `allowed` jobs may look at. */
export const walkLimit = (allowed: number): number => allowed + MAX_WALK;

/** The marker of an ungrouped job in a grouped queue (users' keys have at least one character). */
export const NO_GROUP = '';

const IS_GROUPED = 'SELECT grouped FROM spindle_queues WHERE name = ?';
const MARK_GROUPED = `INSERT INTO spindle_queues (name, paused, updated_at, grouped) VALUES (?, 0, ?, 1)
  ON CONFLICT (name) DO UPDATE SET grouped = 1, updated_at = excluded.updated_at`;
const ADOPT_UNGROUPED = `UPDATE spindle_jobs SET group_key = '' WHERE queue = ? AND group_key IS NULL
  AND state IN ('scheduled', 'queued', 'running', 'retrying', 'waiting')`;

/**
 * Per insert transaction: the key to store for each job. Reads each queue's flag once; the first
 * grouped job of a queue that is not grouped yet makes it grouped (see the invariants).
 */
export class GroupResolver {
  private readonly grouped = new Map<string, boolean>();

  constructor(
    private readonly store: Store,
    private readonly now: number,
  ) {}

  keyOf(job: JobInsert): string | null {
    const group = job.group ?? null;
    let grouped = this.grouped.get(job.queue);
    if (grouped === undefined) {
      const row = this.store.conn.stmt(IS_GROUPED).get(job.queue) as { grouped: number } | undefined;
      grouped = row !== undefined && row.grouped === 1;
      this.grouped.set(job.queue, grouped);
    }
    if (group === null) return grouped ? NO_GROUP : null;
    if (!grouped) {
      this.store.conn.stmt(MARK_GROUPED).run(job.queue, this.now);
      this.store.conn.stmt(ADOPT_UNGROUPED).run(job.queue);
      this.grouped.set(job.queue, true);
    }
    return group;
  }

  /** Whether the queue is grouped (known after keyOf saw one of its jobs; else read now). */
  isGrouped(queue: string): boolean {
    if (!this.grouped.has(queue)) this.keyOf({ queue, group: null } as JobInsert);
    return this.grouped.get(queue)!;
  }
}

/** A grouped queue's rotation state and group limits, from its settings row. */
export interface GroupSettings {
  cursor: string | null;
  groupConcurrency: number | null;
  groupRateMax: number | null;
  groupRateIntervalMs: number | null;
  fifo: boolean;
}

/**
 * A page of the walk: up to @most groups with queued jobs, in key order, after @after (or from
 * the first, `fromStart`), each with its head job — a loose index scan in one statement.
 */
const walkPage = (fromStart: boolean) => `WITH RECURSIVE walk (k, n) AS (
    SELECT (SELECT group_key FROM spindle_jobs WHERE queue = @queue AND state = 'queued' AND group_key IS NOT NULL
      ${fromStart ? '' : 'AND group_key > @after'} ORDER BY group_key LIMIT 1), 1
    UNION ALL
    SELECT (SELECT j.group_key FROM spindle_jobs j WHERE j.queue = @queue AND j.state = 'queued' AND j.group_key IS NOT NULL
      AND j.group_key > w.k ORDER BY j.group_key LIMIT 1), w.n + 1 FROM walk w WHERE w.k IS NOT NULL AND w.n < @most
  )
  SELECT w.k, h.priority AS p, h.seq FROM walk w JOIN spindle_jobs h ON h.seq = (SELECT x.seq FROM spindle_jobs x
    WHERE x.queue = @queue AND x.state = 'queued' AND x.group_key = w.k ORDER BY x.priority, x.seq LIMIT 1)
  WHERE w.k IS NOT NULL ORDER BY w.n`;
const WALK_FIRST = walkPage(true);
const WALK_AFTER = walkPage(false);
const IN_FLIGHT = `SELECT count(*) AS n FROM spindle_jobs WHERE queue = ? AND group_key = ? AND group_key IS NOT NULL
  AND state IN ('running', 'retrying') AND (state = 'running' OR ?)`;
const RATE_PRUNE = 'DELETE FROM spindle_group_rate_log WHERE queue = ? AND group_key = ? AND at <= ?';
const RATE_USED = `SELECT coalesce(sum(n), 0) AS used, min(at) AS oldest FROM spindle_group_rate_log
  WHERE queue = ? AND group_key = ?`;
const RATE_RECORD = 'INSERT INTO spindle_group_rate_log (queue, group_key, at, n) VALUES (?, ?, ?, ?)';
/** A group's next queued jobs after (priority, seq). */
const HEADS_AFTER = `SELECT priority AS p, seq FROM spindle_jobs
  WHERE queue = ? AND state = 'queued' AND group_key = ? AND group_key IS NOT NULL AND (priority, seq) > (?, ?)
  ORDER BY priority, seq LIMIT ?`;
const SET_CURSOR = 'UPDATE spindle_queues SET group_cursor = ? WHERE name = ?';
const CLAIM_SEQS = `UPDATE spindle_jobs
  SET state = 'running', attempt = attempt + 1, lease_token = lower(hex(randomblob(16))),
      lease_expires_at = @leaseExpiresAt, started_at = @now, worker_id = @workerId, cancel_requested = 0,
      ${RELEASE_QUEUED_KEY}
  WHERE seq IN (SELECT value FROM json_each(@seqs)) AND state = 'queued'
  RETURNING ${CLAIM_COLUMNS}`;

interface Head {
  k: string;
  p: number;
  seq: number;
}

/** The members of the rotation with their head jobs, in walk order, from just after `cursor`, wrapping once. */
function* walk(store: Store, queue: string, cursor: string | null, most: number, page: number): Generator<Head> {
  const seen = new Set<string>();
  let after = cursor;
  let wrapped = cursor === null;
  while (seen.size < most) {
    const size = Math.min(page, most - seen.size);
    const heads = (after === null ? store.conn.stmt(WALK_FIRST).all({ queue, most: size }) : store.conn.stmt(WALK_AFTER).all({ queue, after, most: size })) as Head[];
    for (const head of heads) {
      if (seen.has(head.k)) return; // wrapped round to where the walk began
      seen.add(head.k);
      yield head;
    }
    if (heads.length === size) after = heads[heads.length - 1]!.k;
    else if (!wrapped) [wrapped, after] = [true, null];
    else return;
  }
}

interface Member {
  key: string;
  /** Most jobs the group's limits let this claim take. */
  cap: number;
  /** Its jobs to take, in (priority, seq) order, the head first. */
  jobs: Array<{ p: number; seq: number }>;
}

/**
 * Each member's jobs for a claim of `allowed`: a fair share each (or its cap), then what is left
 * to the members that filled their share and may have more — so a claim comes back short only
 * when the groups' queued jobs (or their limits) ran out, and never reads more than it needs to.
 */
function fillShares(store: Store, queue: string, members: Member[], allowed: number): void {
  const more = (m: Member, limit: number) => {
    const last = m.jobs[m.jobs.length - 1]!;
    m.jobs.push(...(store.conn.stmt(HEADS_AFTER).all(queue, m.key, last.p, last.seq, limit) as Array<{ p: number; seq: number }>));
  };
  const share = Math.ceil(allowed / members.length);
  let total = 0;
  for (const m of members) {
    const want = Math.min(m.cap, share);
    if (want > 1) more(m, want - 1);
    total += m.jobs.length;
  }
  let left = allowed - total;
  for (const m of members) {
    if (left <= 0) break;
    if (m.jobs.length < Math.min(m.cap, share) || m.jobs.length >= m.cap) continue; // ran out, or at its cap
    const before = m.jobs.length;
    more(m, Math.min(m.cap - before, left));
    left -= m.jobs.length - before;
  }
}

export interface GroupedClaim {
  rows: ClaimRow[];
  /** Set when group limits passed over members that have queued jobs. */
  limited?: ClaimLimited;
}

/**
 * Claims up to `allowed` jobs of a grouped queue, round-robin across its groups (see the
 * invariants). Runs inside the claim's write transaction.
 */
export function claimGrouped(
  store: Store,
  queue: string,
  s: GroupSettings,
  allowed: number,
  claim: { now: number; leaseExpiresAt: number; workerId: string },
): GroupedClaim {
  const { conn } = store;
  const { now } = claim;
  const perGroup = s.fifo ? 1 : s.groupConcurrency;
  const rate = s.groupRateMax !== null && s.groupRateIntervalMs !== null ? { max: s.groupRateMax, intervalMs: s.groupRateIntervalMs } : null;
  const members: Member[] = [];
  let lastLooked: string | null = null;
  let cutShort = false;
  let rateRetryMs: number | undefined;
  for (const head of walk(store, queue, s.cursor, walkLimit(allowed), allowed)) {
    const key = head.k;
    lastLooked = key;
    let cap = allowed;
    if (key !== NO_GROUP && perGroup !== null) {
      const { n } = conn.stmt(IN_FLIGHT).get(queue, key, s.fifo ? 1 : 0) as { n: number };
      cap = Math.min(cap, Math.max(0, perGroup - n));
      if (cap === 0) cutShort = true;
    }
    if (cap > 0 && key !== NO_GROUP && rate !== null) {
      conn.stmt(RATE_PRUNE).run(queue, key, now - rate.intervalMs);
      const { used, oldest } = conn.stmt(RATE_USED).get(queue, key) as { used: number; oldest: number | null };
      const left = Math.max(0, rate.max - used);
      if (left === 0) {
        const wait = Math.max(1, (oldest ?? now) + rate.intervalMs - now);
        rateRetryMs = rateRetryMs === undefined ? wait : Math.min(rateRetryMs, wait);
      }
      cap = Math.min(cap, left);
    }
    if (cap > 0) members.push({ key, cap, jobs: [{ p: head.p, seq: head.seq }] });
    if (members.length === allowed) break;
  }
  if (members.length > 0) fillShares(store, queue, members, allowed);
  // A member stopped by its group limit (not by its queued jobs) may have more waiting.
  for (const m of members) if (m.cap < allowed && m.jobs.length === m.cap) cutShort = true;
  const seqs: number[] = [];
  const taken = new Map<string, number>();
  for (let round = 0; seqs.length < allowed; round++) {
    let any = false;
    for (let i = 0; i < members.length && seqs.length < allowed; i++) {
      const job = members[i]!.jobs[round];
      if (job === undefined) continue;
      any = true;
      seqs.push(job.seq);
      taken.set(members[i]!.key, (taken.get(members[i]!.key) ?? 0) + 1);
    }
    if (!any) break;
  }
  const rows =
    seqs.length === 0 ? [] : (conn.rawStmt(CLAIM_SEQS).all({ seqs: JSON.stringify(seqs), now, leaseExpiresAt: claim.leaseExpiresAt, workerId: claim.workerId }) as ClaimRow[]);
  if (rate !== null) for (const [key, n] of taken) if (key !== NO_GROUP) conn.stmt(RATE_RECORD).run(queue, key, now, n);
  const servedLast = [...members].reverse().find((m) => taken.has(m.key))?.key;
  const cursor = servedLast ?? lastLooked;
  if (cursor !== null && cursor !== s.cursor) conn.stmt(SET_CURSOR).run(cursor, queue);
  if (rows.length >= allowed || (rateRetryMs === undefined && !cutShort)) return { rows };
  // Nothing taken: wait for the earliest rate window (or a slot). Some taken: wait for a job of the
  // queue to finish (this claim's own will) — a timer would hold the groups that are not limited.
  if (rows.length === 0 && rateRetryMs !== undefined) return { rows, limited: { reason: 'rate', retryAfterMs: rateRetryMs } };
  return { rows, limited: { reason: 'concurrency' } };
}
