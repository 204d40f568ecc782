/**
 * Consumer groups of topics on SQLite (core backend/topics.ts, docs/decisions/0017-topics.md):
 * the group, member and committed-offset tables of migration 0009 — joins, heartbeats, leaves,
 * commits, seeks and the group reads. (Not the tenant groups of jobs: that is groups.ts.)
 *
 * Invariants:
 * - A group is created by its first join, at generation 0 with an offset row per partition
 *   (each partition's start_offset for `earliest`, its next_offset for `latest`); that join then
 *   makes generation 1.
 * - Every write on a group (join, heartbeat, leave, commit) first deletes its members whose
 *   expires_at ≤ now and, if it deleted any, makes a new generation; then its own change of the
 *   live members (a member joining that was not live, a live member leaving) makes another. A
 *   seek makes a new generation; growTopic (topics.ts) one per group of the topic. Seek and grow
 *   carry no `now` and expire nobody: the next write with a time notices the expiries.
 * - `members` of the group row is the generation's member ids, sorted (ORDER BY member_id:
 *   code-point order). Every write leaves it equal to the ids of the group's member rows, so the
 *   assignment of the current generation is a function of that column and the partition count:
 *   partition p goes to members[p mod count].
 * - Reads write nothing: they report the members live at `now` (expires_at > now) with their
 *   partitions in the stored generation, which may still count a member expired since.
 * - A commit is decided inside its write transaction after the expiry step: stale generation,
 *   then ownership (live member owning the partition now), then backwards, then beyond the
 *   highWater; an accepted commit only ever moves the offset forward. A seek moves offsets
 *   anywhere within [start_offset, next_offset] and, by its new generation, fences the commits
 *   in flight of the generation before.
 * - Joins, leaves, commits and seeks are durable writes; heartbeats are relaxed (ADR 0007: a lost
 *   heartbeat only shortens a session, a lost expiry step is redone by the next call).
 */
import {
  assignedPartitions,
  NotFoundError,
  type CommitOutcome,
  type CommitParams,
  type GroupAssignment,
  type GroupInfo,
  type GroupMemberParams,
  type GroupOffset,
  type JoinGroupParams,
  type SeekParams,
} from '@spindle/core';
import { nowMs } from './state-sql.js';
import { checkPartitions, firstOffsetAt, partitionRows, requireTopic, snapshot, type TopicRow } from './topics.js';
import type { Store } from './tx.js';

interface Group {
  topic: string;
  name: string;
  generation: number;
  /** The current generation's member ids, sorted. */
  members: string[];
}

const GROUP = 'SELECT name, generation, members FROM spindle_consumer_groups WHERE topic = ? AND name = ?';
const GROUPS = 'SELECT name, generation, members FROM spindle_consumer_groups WHERE topic = ? ORDER BY name';
const CREATE_GROUP = "INSERT INTO spindle_consumer_groups (topic, name, generation, members, created_at) VALUES (?, ?, 0, '[]', ?)";
const START_OFFSETS = `INSERT INTO spindle_consumer_offsets (topic, group_name, partition, committed, committed_at)
  SELECT topic, @group, partition, CASE WHEN @latest = 1 THEN next_offset ELSE start_offset END, @now
  FROM spindle_topic_partitions WHERE topic = @topic`;
const EXPIRE = 'DELETE FROM spindle_consumer_members WHERE topic = ? AND group_name = ? AND expires_at <= ?';
const MEMBER_IDS = 'SELECT member_id FROM spindle_consumer_members WHERE topic = ? AND group_name = ? ORDER BY member_id';
const SET_GENERATION = 'UPDATE spindle_consumer_groups SET generation = ?, members = ? WHERE topic = ? AND name = ?';
const ADD_MEMBER = 'INSERT INTO spindle_consumer_members (topic, group_name, member_id, expires_at, joined_at) VALUES (?, ?, ?, ?, ?)';
const EXTEND = 'UPDATE spindle_consumer_members SET expires_at = ? WHERE topic = ? AND group_name = ? AND member_id = ?';
const REMOVE = 'DELETE FROM spindle_consumer_members WHERE topic = ? AND group_name = ? AND member_id = ?';
const LIVE_MEMBERS = `SELECT member_id, expires_at FROM spindle_consumer_members
  WHERE topic = ? AND group_name = ? AND expires_at > ? ORDER BY member_id`;
/** Per partition: the group's committed offset (a missing row reads as the start) and the highWater. */
const OFFSETS = `SELECT p.partition, coalesce(o.committed, p.start_offset) AS committed, p.next_offset AS highWater
  FROM spindle_topic_partitions p
  LEFT JOIN spindle_consumer_offsets o ON o.topic = p.topic AND o.group_name = @group AND o.partition = p.partition
  WHERE p.topic = @topic ORDER BY p.partition`;
const OFFSET_OF = `SELECT coalesce(o.committed, p.start_offset) AS committed, p.next_offset AS highWater
  FROM spindle_topic_partitions p
  LEFT JOIN spindle_consumer_offsets o ON o.topic = p.topic AND o.group_name = @group AND o.partition = p.partition
  WHERE p.topic = @topic AND p.partition = @partition`;
const SET_COMMITTED = `INSERT INTO spindle_consumer_offsets (topic, group_name, partition, committed, committed_at) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (topic, group_name, partition) DO UPDATE SET committed = excluded.committed, committed_at = excluded.committed_at`;

function toGroup(topic: string, row: { name: string; generation: number; members: string }): Group {
  return { topic, name: row.name, generation: row.generation, members: JSON.parse(row.members) as string[] };
}

function findGroup(store: Store, topic: string, group: string): Group | null {
  const row = store.conn.stmt(GROUP).get(topic, group) as { name: string; generation: number; members: string } | undefined;
  return row === undefined ? null : toGroup(topic, row);
}

function createGroup(store: Store, topic: string, group: string, start: 'earliest' | 'latest', now: number): Group {
  store.conn.stmt(CREATE_GROUP).run(topic, group, now);
  store.conn.stmt(START_OFFSETS).run({ topic, group, latest: start === 'latest' ? 1 : 0, now });
  return { topic, name: group, generation: 0, members: [] };
}

/** A new generation over the group's member rows as they are now. */
function newGeneration(store: Store, g: Group): Group {
  const members = store.conn.stmt(MEMBER_IDS).pluck().all(g.topic, g.name) as string[];
  const generation = g.generation + 1;
  store.conn.stmt(SET_GENERATION).run(generation, JSON.stringify(members), g.topic, g.name);
  return { ...g, generation, members };
}

/** The expiry step every timed write starts with: members expired at `now` leave (one new generation). */
function expireMembers(store: Store, g: Group, now: number): Group {
  const { changes } = store.conn.stmt(EXPIRE).run(g.topic, g.name, now);
  return changes > 0 ? newGeneration(store, g) : g;
}

function assignmentOf(g: Group, memberId: string, topic: TopicRow): GroupAssignment {
  return { generation: g.generation, members: g.members, partitions: assignedPartitions(g.members, memberId, topic.partitions) };
}

/** Joins (creating the group on its first join) or, for a live member, extends its session. */
export function joinGroup(store: Store, params: JoinGroupParams): GroupAssignment {
  return store.write(() => {
    const now = nowMs(params.now);
    const topic = requireTopic(store, params.topic);
    let g = findGroup(store, topic.name, params.group) ?? createGroup(store, topic.name, params.group, params.start, now);
    g = expireMembers(store, g, now);
    const expiresAt = now + params.sessionMs;
    if (store.conn.stmt(EXTEND).run(expiresAt, g.topic, g.name, params.memberId).changes === 0) {
      store.conn.stmt(ADD_MEMBER).run(g.topic, g.name, params.memberId, expiresAt, now);
      g = newGeneration(store, g);
    }
    return assignmentOf(g, params.memberId, topic);
  });
}

/** Extends a live member's session; a member that is not live gets the assignment with nothing for it. */
export function heartbeatGroup(store: Store, params: JoinGroupParams): GroupAssignment {
  return store.writeRelaxed(() => {
    const now = nowMs(params.now);
    const topic = requireTopic(store, params.topic);
    const found = findGroup(store, topic.name, params.group);
    if (found === null) return { generation: 0, members: [], partitions: [] };
    const g = expireMembers(store, found, now);
    store.conn.stmt(EXTEND).run(now + params.sessionMs, g.topic, g.name, params.memberId);
    return assignmentOf(g, params.memberId, topic);
  });
}

export function leaveGroup(store: Store, params: GroupMemberParams): void {
  store.write(() => {
    const now = nowMs(params.now);
    const topic = requireTopic(store, params.topic);
    const found = findGroup(store, topic.name, params.group);
    if (found === null) return;
    const g = expireMembers(store, found, now);
    if (store.conn.stmt(REMOVE).run(g.topic, g.name, params.memberId).changes > 0) newGeneration(store, g);
  });
}

export function commitOffsets(store: Store, params: CommitParams): CommitOutcome[] {
  return store.write(() => {
    const now = nowMs(params.now);
    const topic = requireTopic(store, params.topic);
    checkPartitions(topic, params.offsets.map((o) => o.partition), (i) => `offsets[${i}].partition`);
    const found = findGroup(store, topic.name, params.group);
    // No group: nobody is live in it (a group is made by a join).
    if (found === null) return params.offsets.map((): CommitOutcome => 'not_assigned');
    const g = expireMembers(store, found, now);
    if (params.generation !== g.generation) return params.offsets.map((): CommitOutcome => 'stale_generation');
    const owned = new Set(assignedPartitions(g.members, params.memberId, topic.partitions));
    return params.offsets.map(({ partition, offset }): CommitOutcome => {
      if (!owned.has(partition)) return 'not_assigned';
      const current = store.conn.stmt(OFFSET_OF).get({ topic: g.topic, group: g.name, partition }) as { committed: number; highWater: number };
      if (offset < current.committed) return 'backwards';
      if (offset > current.highWater) return 'beyond_high_water';
      if (offset > current.committed) store.conn.stmt(SET_COMMITTED).run(g.topic, g.name, partition, offset, now);
      return 'ok';
    });
  });
}

function groupOffsets(store: Store, topic: string, group: string): GroupOffset[] {
  const rows = store.conn.stmt(OFFSETS).all({ topic, group }) as Array<{ partition: number; committed: number; highWater: number }>;
  return rows.map((r) => ({ partition: r.partition, committed: r.committed, highWater: r.highWater, lag: r.highWater - r.committed }));
}

function groupInfo(store: Store, topic: TopicRow, g: Group, now: number): GroupInfo {
  const live = store.conn.stmt(LIVE_MEMBERS).all(g.topic, g.name, now) as Array<{ member_id: string; expires_at: number }>;
  return {
    topic: g.topic,
    group: g.name,
    generation: g.generation,
    members: live.map((m) => ({ memberId: m.member_id, expiresAt: new Date(m.expires_at), partitions: assignedPartitions(g.members, m.member_id, topic.partitions) })),
    offsets: groupOffsets(store, g.topic, g.name),
  };
}

export function getGroup(store: Store, params: { topic: string; group: string; now?: Date }): GroupInfo | null {
  const now = nowMs(params.now);
  return snapshot(store, () => {
    const topic = requireTopic(store, params.topic);
    const g = findGroup(store, topic.name, params.group);
    return g === null ? null : groupInfo(store, topic, g, now);
  });
}

/** The topic's groups by name; members live at the host clock (the interface passes no time). */
export function listGroups(store: Store, topicName: string): GroupInfo[] {
  const now = Date.now();
  return snapshot(store, () => {
    const topic = requireTopic(store, topicName);
    const rows = store.conn.stmt(GROUPS).all(topic.name) as Array<{ name: string; generation: number; members: string }>;
    return rows.map((row) => groupInfo(store, topic, toGroup(topic.name, row), now));
  });
}

/**
 * Moves the group's committed offsets (each clamped to [start_offset, next_offset]; with
 * `offsets`, only the partitions named) and makes a new generation. An unknown group is a
 * NotFoundError: a group is made by a join.
 */
export function seekGroup(store: Store, params: SeekParams): GroupOffset[] {
  return store.write(() => {
    const now = nowMs(params.now);
    const { to } = params;
    const topic = requireTopic(store, params.topic);
    if (to.kind === 'offsets') checkPartitions(topic, to.offsets.map((o) => o.partition), (i) => `to.offsets[${i}].partition`);
    const found = findGroup(store, topic.name, params.group);
    if (found === null) throw new NotFoundError(`no consumer group "${params.group}" on topic "${topic.name}"`);
    const g = expireMembers(store, found, now); // like every group write (PostgreSQL does the same)
    const named = to.kind === 'offsets' ? new Map(to.offsets.map((o) => [o.partition, o.offset])) : null;
    for (const p of partitionRows(store, topic.name)) {
      let target: number | undefined;
      if (to.kind === 'earliest') target = p.start_offset;
      else if (to.kind === 'latest') target = p.next_offset;
      else if (to.kind === 'time') target = firstOffsetAt(store, topic.name, p, to.at.getTime());
      else target = named!.get(p.partition);
      if (target === undefined) continue;
      const clamped = Math.min(Math.max(target, p.start_offset), p.next_offset);
      store.conn.stmt(SET_COMMITTED).run(g.topic, g.name, p.partition, clamped, now);
    }
    newGeneration(store, g);
    return groupOffsets(store, g.topic, g.name);
  });
}
