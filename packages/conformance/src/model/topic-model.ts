/**
 * The in-memory model of the topics model-based test (issue 7): one topic's partitions with
 * their messages and idempotency keys, and one consumer group — members with their expiry on the
 * virtual clock, the generation counter, the stored member list the assignment is computed from,
 * and the committed offsets. The rules are those of core backend/topics.ts, as both backends
 * implement them:
 * - the group is created by its first join (generation 0, committed = start offsets), and that
 *   join then makes generation 1;
 * - every timed write on the group (join, heartbeat, leave, commit) first removes the members
 *   whose expiresAt ≤ now and bumps the generation once if it removed any; then its own change of
 *   the member set (a join of a member not present, a leave of a present one) bumps it again;
 * - a seek is such a write too (expiry step, then one bump of its own); growing the topic bumps
 *   every group once and expires nobody;
 * - a generation's assignment: partition p → members[p mod n] over the sorted member ids.
 * `verifyTopic` compares the backend's topic and group reads with the model after every command.
 *
 * Time: every call carries the model's time (`t0` + clock). The origin `t0` lies a day after the
 * database clock, so that a call which still fell back to the database clock (a seek without
 * `now` on PostgreSQL used to) could not expire a member the model holds live.
 */
import assert from 'node:assert/strict';
import type { Backend, CommitOutcome, GroupAssignment } from '@spindle/core';

export const MODEL_TOPIC = 'model-topic';
export const MODEL_GROUP = 'model-group';
export const INITIAL_PARTITIONS = 3;
export const MAX_PARTITIONS = 5;
/** Member ids: ASCII, so code-point, byte ("C") and UTF-16 orders agree; 'm10' sorts before 'm2'. */
export const MEMBER_IDS = ['m1', 'm10', 'm2', 'm3'];
export const IDEMPOTENCY_KEYS = ['i0', 'i1', 'i2', 'i3'];
/** How far the run's clock origin lies after the database clock (see above). */
export const T0_AHEAD_MS = 24 * 3600_000;

export interface ModelMessage {
  key: string | null;
  value: { n: number };
  idempotencyKey: string | null;
  /** ms after t0. */
  publishedAt: number;
}

export interface ModelGroup {
  generation: number;
  /** Member rows: id → expiresAt (ms after t0), including expired ones no write has noticed yet. */
  rows: Map<string, number>;
  /** The current generation's sorted member ids (the assignment's input). */
  members: string[];
  committed: number[];
}

export interface TopicModel {
  clock: number;
  partitions: ModelMessage[][];
  idempotency: Map<string, { partition: number; offset: number }>;
  group: ModelGroup | null;
  /** Messages published so far (value numbering). */
  published: number;
}

export interface TopicReal {
  backend: Backend;
  /** Epoch ms of the run's time origin. */
  t0: number;
}

export function newTopicModel(): TopicModel {
  return {
    clock: 0,
    partitions: Array.from({ length: INITIAL_PARTITIONS }, () => []),
    idempotency: new Map(),
    group: null,
    published: 0,
  };
}

export const at = (m: TopicModel, r: TopicReal, ms = m.clock): Date => new Date(r.t0 + ms);

export function assign(members: readonly string[], memberId: string, partitions: number): number[] {
  const index = members.indexOf(memberId);
  const out: number[] = [];
  if (index < 0) return out;
  for (let p = index; p < partitions; p += members.length) out.push(p);
  return out;
}

export function highWater(m: TopicModel, partition: number): number {
  return m.partitions[partition]!.length;
}

/** A new generation over the member rows as they are. */
export function bump(g: ModelGroup): void {
  g.generation += 1;
  g.members = [...g.rows.keys()].sort();
}

/** The expiry step of every timed write. */
export function expire(m: TopicModel, g: ModelGroup): void {
  let any = false;
  for (const [id, expiresAt] of g.rows) {
    if (expiresAt <= m.clock) {
      g.rows.delete(id);
      any = true;
    }
  }
  if (any) bump(g);
}

export function assignmentOf(m: TopicModel, g: ModelGroup, memberId: string): GroupAssignment {
  return { generation: g.generation, members: [...g.members], partitions: assign(g.members, memberId, m.partitions.length) };
}

/** The outcomes a commit must get, applying the accepted ones to the model. */
export function predictCommit(m: TopicModel, memberId: string, generation: number, offsets: Array<{ partition: number; offset: number }>): CommitOutcome[] {
  const g = m.group;
  if (g === null) return offsets.map((): CommitOutcome => 'not_assigned');
  expire(m, g);
  if (generation !== g.generation) return offsets.map((): CommitOutcome => 'stale_generation');
  const owned = new Set(assign(g.members, memberId, m.partitions.length));
  return offsets.map(({ partition, offset }): CommitOutcome => {
    if (!owned.has(partition)) return 'not_assigned';
    if (offset < g.committed[partition]!) return 'backwards';
    if (offset > highWater(m, partition)) return 'beyond_high_water';
    g.committed[partition] = offset;
    return 'ok';
  });
}

/** The backend's topic and group, as read at the model's clock, must equal the model. */
export async function verifyTopic(m: TopicModel, r: TopicReal, after: string): Promise<void> {
  const topic = await r.backend.getTopic(MODEL_TOPIC);
  assert.ok(topic, `${after}: the topic vanished`);
  assert.deepStrictEqual(
    topic.offsets,
    m.partitions.map((msgs, partition) => ({ partition, startOffset: 0, highWater: msgs.length })),
    `${after}: partition offsets differ from the model`,
  );
  const group = await r.backend.getGroup({ topic: MODEL_TOPIC, group: MODEL_GROUP, now: at(m, r) });
  const g = m.group;
  if (g === null) {
    assert.equal(group, null, `${after}: a group exists before any join`);
    return;
  }
  assert.ok(group, `${after}: the group vanished`);
  const live = [...g.rows.entries()].filter(([, e]) => e > m.clock).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepStrictEqual(
    {
      generation: group.generation,
      members: group.members.map((x) => ({ memberId: x.memberId, expiresAt: x.expiresAt.getTime() - r.t0, partitions: x.partitions })),
      offsets: group.offsets,
    },
    {
      generation: g.generation,
      members: live.map(([memberId, expiresAt]) => ({ memberId, expiresAt, partitions: assign(g.members, memberId, m.partitions.length) })),
      offsets: g.committed.map((committed, partition) => ({
        partition, committed, highWater: highWater(m, partition), lag: highWater(m, partition) - committed,
      })),
    },
    `${after}: the group differs from the model`,
  );
}
