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
 *   claim's allowance is shared round-robin among the members found (each member's r-th job comes
 *   before anyone's (r+1)-th); within a group, jobs go by (priority, seq) — a retried job keeps
 *   its place, which is what FIFO needs. The cursor then points at the last member served (or,
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

const FIRST_GROUP = `SELECT group_key AS k FROM spindle_jobs WHERE queue = ? AND state = 'queued' AND group_key IS NOT NULL
  ORDER BY group_key LIMIT 1`;
const NEXT_GROUP = `SELECT group_key AS k FROM spindle_jobs WHERE queue = ? AND state = 'queued' AND group_key IS NOT NULL
  AND group_key > ? ORDER BY group_key LIMIT 1`;
const IN_FLIGHT = `SELECT count(*) AS n FROM spindle_jobs WHERE queue = ? AND group_key = ? AND group_key IS NOT NULL
  AND state IN ('running', 'retrying') AND (state = 'running' OR ?)`;
const RATE_PRUNE = 'DELETE FROM spindle_group_rate_log WHERE queue = ? AND group_key = ? AND at <= ?';
const RATE_USED = `SELECT coalesce(sum(n), 0) AS used, min(at) AS oldest FROM spindle_group_rate_log
  WHERE queue = ? AND group_key = ?`;
const RATE_RECORD = 'INSERT INTO spindle_group_rate_log (queue, group_key, at, n) VALUES (?, ?, ?, ?)';
const HEADS = `SELECT seq FROM spindle_jobs WHERE queue = ? AND state = 'queued' AND group_key = ? AND group_key IS NOT NULL
  ORDER BY priority, seq LIMIT ?`;
const SET_CURSOR = 'UPDATE spindle_queues SET group_cursor = ? WHERE name = ?';
const CLAIM_SEQS = `UPDATE spindle_jobs
  SET state = 'running', attempt = attempt + 1, lease_token = lower(hex(randomblob(16))),
      lease_expires_at = @leaseExpiresAt, started_at = @now, worker_id = @workerId, cancel_requested = 0,
      ${RELEASE_QUEUED_KEY}
  WHERE seq IN (SELECT value FROM json_each(@seqs)) AND state = 'queued'
  RETURNING ${CLAIM_COLUMNS}`;

/** The members of the rotation, in walk order, from just after `cursor`, wrapping once. */
function* walk(store: Store, queue: string, cursor: string | null, most: number): Generator<string> {
  const first = store.conn.stmt(FIRST_GROUP);
  const next = store.conn.stmt(NEXT_GROUP);
  const seen = new Set<string>();
  let wrapped = cursor === null;
  let key = ((cursor === null ? first.get(queue) : next.get(queue, cursor)) as { k: string } | undefined)?.k;
  if (key === undefined && !wrapped) {
    wrapped = true;
    key = (first.get(queue) as { k: string } | undefined)?.k;
  }
  while (key !== undefined && !seen.has(key) && seen.size < most) {
    seen.add(key);
    yield key;
    key = (next.get(queue, key) as { k: string } | undefined)?.k;
    if (key === undefined && !wrapped) {
      wrapped = true;
      key = (first.get(queue) as { k: string } | undefined)?.k;
    }
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
  const members: Array<{ key: string; cap: number }> = [];
  let lastLooked: string | null = null;
  let cutShort = false;
  let rateRetryMs: number | undefined;
  for (const key of walk(store, queue, s.cursor, walkLimit(allowed))) {
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
    if (cap > 0) members.push({ key, cap });
    if (members.length === allowed) break;
  }
  // Each member's head jobs: at most its cap, and at most what is left after one for each other member.
  const heads = members.map((m) => {
    const limit = Math.min(m.cap, allowed - (members.length - 1));
    const seqs = (conn.stmt(HEADS).all(queue, m.key, limit) as Array<{ seq: number }>).map((r) => r.seq);
    // The group limit, not the group's queue, stopped this member: it may have more jobs waiting.
    if (seqs.length === limit && m.cap < allowed - (members.length - 1)) cutShort = true;
    return seqs;
  });
  const seqs: number[] = [];
  const taken = new Map<string, number>();
  for (let round = 0; seqs.length < allowed; round++) {
    let any = false;
    for (let i = 0; i < members.length && seqs.length < allowed; i++) {
      const seq = heads[i]![round];
      if (seq === undefined) continue;
      any = true;
      seqs.push(seq);
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
