/**
 * Consumer groups of topics on PostgreSQL (core backend/topics.ts), tables of migration 0010:
 * membership (join, heartbeat, leave), generations, commits and seeks, and their reads.
 *
 * Invariants:
 * - The consumer_groups row is the group's lock. Every write (join, heartbeat, leave, commit,
 *   seek) is one transaction that first locks it (FOR UPDATE), then reads its clock
 *   (clock_timestamp() after the lock, or the injected time), deletes the members that expired
 *   by then, applies its change and writes the row. Membership, generation, commit checks and
 *   offsets of a group therefore change one transaction at a time: a commit is checked against
 *   the generation and members current when it writes, and a rebalance or seek waits for it (or
 *   it for them).
 * - The row holds the current generation with what its assignment is made of: the sorted live
 *   member ids (COLLATE "C": byte order) and the partition count. The generation goes +1 when a
 *   write notices expired members, +1 again when the write's own change alters the live members
 *   (a new member joins, a live one leaves), +1 for a seek, and +1 when the topic grows
 *   (topics.ts growTopic, under the topic lock).
 * - A group is created by its first join, holding the topic row FOR SHARE (growTopic holds it
 *   FOR UPDATE), with a committed offset for every partition of the topic (its start, or its
 *   highWater for `latest`). Locks are taken topic row first, group row second, everywhere.
 * - Reads (getGroup, listGroups) are single statements and write nothing: they report the stored
 *   generation and the members live at `now` with their partitions in that generation (which may
 *   still count a member expired since). An unknown topic is TopicNotFoundError, an unknown group
 *   null; a call that is not a join never creates a group (a heartbeat answers generation 0, a
 *   commit `not_assigned`, a seek NotFoundError).
 * - Seek and grow carry no injected time: a seek expires members at the database clock.
 * - Joins, leaves, commits and seeks commit durably; heartbeats on the relaxed pool (ADR 0007: a
 *   lost heartbeat only shortens a session, a lost expiry is noticed again by the next call).
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
import type pg from 'pg';
import type { SchemaNames } from './config.js';
import type { Ctx } from './context.js';
import type { Row } from './db.js';
import { epochMsSql, msSql, nowSql, Params } from './sql.js';
import { clientQuery, partitionRangeError, poolQuery, requireTopic } from './topics.js';

/** A locked group after its expired members were deleted (`bumps`: generations owed so far). */
interface Locked {
  generation: number;
  members: string[];
  partitions: number;
  now: Date;
  bumps: number;
}

const key = (params: { topic: string; group: string }) => [params.topic, params.group];

/** Locks the group row, reads the clock and deletes expired members; null when there is no group. */
async function lockGroup(client: pg.ClientBase, names: SchemaNames, params: { topic: string; group: string; now?: Date }): Promise<Locked | null> {
  const { rows } = await client.query(
    `SELECT g.generation, g.members, g.partitions FROM ${names.consumerGroups} g WHERE g.topic = $1 AND g.name = $2 FOR UPDATE`,
    key(params),
  );
  if (!rows[0]) return null;
  const expiry = await client.query(
    `WITH c AS (SELECT coalesce($3::timestamptz, clock_timestamp()) AS now),
      gone AS (DELETE FROM ${names.groupMembers} m USING c WHERE m.topic = $1 AND m.group_name = $2 AND m.expires_at <= c.now RETURNING 1)
    SELECT c.now, (SELECT count(*)::int FROM gone) AS expired FROM c`,
    [...key(params), params.now ?? null],
  );
  const e = expiry.rows[0];
  return {
    generation: Number(rows[0].generation),
    members: rows[0].members as string[],
    partitions: rows[0].partitions as number,
    now: e.now as Date,
    bumps: e.expired > 0 ? 1 : 0,
  };
}

/** Writes the generations owed (`extra` more) and the live members; answers the group as it now stands. */
async function settle(client: pg.ClientBase, names: SchemaNames, params: { topic: string; group: string }, g: Locked, extra: number): Promise<Locked> {
  const bumps = g.bumps + extra;
  if (bumps === 0) return g;
  const { rows } = await client.query(
    `UPDATE ${names.consumerGroups} g SET generation = g.generation + $3,
        members = coalesce((SELECT array_agg(m.member_id ORDER BY m.member_id) FROM ${names.groupMembers} m
                            WHERE m.topic = $1 AND m.group_name = $2), '{}')
      WHERE g.topic = $1 AND g.name = $2 RETURNING g.generation, g.members`,
    [...key(params), bumps],
  );
  return { ...g, generation: Number(rows[0]!.generation), members: rows[0]!.members as string[], bumps: 0 };
}

const answer = (g: Locked, memberId: string): GroupAssignment => ({
  generation: g.generation,
  members: g.members,
  partitions: assignedPartitions(g.members, memberId, g.partitions),
});

/** Creates the group (if no one did meanwhile) with its start offsets; the topic row is held FOR SHARE. */
async function createGroup(client: pg.ClientBase, names: SchemaNames, params: JoinGroupParams): Promise<void> {
  const partitions = await requireTopic(clientQuery(client), names, params.topic, 'FOR SHARE');
  await client.query(
    `WITH g AS (
        INSERT INTO ${names.consumerGroups} (topic, name, generation, members, partitions, created_at)
        VALUES ($1, $2, 0, '{}', $3, ${nowSql('$4')}) ON CONFLICT (topic, name) DO NOTHING RETURNING name
      )
      INSERT INTO ${names.groupOffsets} (topic, group_name, partition, committed, committed_at)
      SELECT $1, g.name, p.partition, CASE WHEN $5 = 'latest' THEN p.next_offset ELSE p.start_offset END, ${nowSql('$4')}
      FROM g, ${names.topicPartitions} p WHERE p.topic = $1`,
    [...key(params), partitions, params.now ?? null, params.start],
  );
}

export function joinGroup(ctx: Ctx, params: JoinGroupParams): Promise<GroupAssignment> {
  const { names } = ctx;
  return ctx.db.transaction('joinGroup', async (client) => {
    let g = await lockGroup(client, names, params);
    if (!g) {
      await createGroup(client, names, params);
      g = (await lockGroup(client, names, params))!;
    }
    const { rows } = await client.query(
      `WITH was AS (SELECT 1 FROM ${names.groupMembers} m WHERE m.topic = $1 AND m.group_name = $2 AND m.member_id = $3),
        up AS (
          INSERT INTO ${names.groupMembers} AS m (topic, group_name, member_id, expires_at, joined_at)
          VALUES ($1, $2, $3, $4::timestamptz + ${msSql('$5::float8')}, $4::timestamptz)
          ON CONFLICT (topic, group_name, member_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
        )
      SELECT NOT EXISTS (SELECT 1 FROM was) AS added`,
      [...key(params), params.memberId, g.now, params.sessionMs],
    );
    return answer(await settle(client, names, params, g, rows[0].added ? 1 : 0), params.memberId);
  });
}

export function heartbeatGroup(ctx: Ctx, params: JoinGroupParams): Promise<GroupAssignment> {
  const { names } = ctx;
  return ctx.db.transaction('heartbeatGroup', async (client) => {
    const g = await lockGroup(client, names, params);
    if (!g) {
      await requireTopic(clientQuery(client), names, params.topic);
      return { generation: 0, members: [], partitions: [] };
    }
    await client.query(
      `UPDATE ${names.groupMembers} m SET expires_at = $4::timestamptz + ${msSql('$5::float8')}
        WHERE m.topic = $1 AND m.group_name = $2 AND m.member_id = $3`,
      [...key(params), params.memberId, g.now, params.sessionMs],
    );
    return answer(await settle(client, names, params, g, 0), params.memberId);
  }, { relaxed: true });
}

export function leaveGroup(ctx: Ctx, params: GroupMemberParams): Promise<void> {
  const { names } = ctx;
  return ctx.db.transaction('leaveGroup', async (client) => {
    const g = await lockGroup(client, names, params);
    if (!g) {
      await requireTopic(clientQuery(client), names, params.topic);
      return;
    }
    const { rowCount } = await client.query(
      `DELETE FROM ${names.groupMembers} m WHERE m.topic = $1 AND m.group_name = $2 AND m.member_id = $3`,
      [...key(params), params.memberId],
    );
    await settle(client, names, params, g, rowCount ? 1 : 0);
  });
}

export function commitOffsets(ctx: Ctx, params: CommitParams): Promise<CommitOutcome[]> {
  const { names } = ctx;
  return ctx.db.transaction('commitOffsets', async (client) => {
    const locked = await lockGroup(client, names, params);
    const count = locked ? locked.partitions : await requireTopic(clientQuery(client), names, params.topic);
    params.offsets.forEach((o, i) => {
      if (o.partition >= count) throw partitionRangeError(`offsets[${i}].partition`, o.partition, count);
    });
    if (!locked) return params.offsets.map((): CommitOutcome => 'not_assigned');
    const g = await settle(client, names, params, locked, 0);
    if (params.generation !== g.generation) return params.offsets.map((): CommitOutcome => 'stale_generation');
    const { rows } = await client.query(
      `SELECT p.partition, p.next_offset, coalesce(o.committed, p.start_offset) AS committed
        FROM ${names.topicPartitions} p
        LEFT JOIN ${names.groupOffsets} o ON o.topic = p.topic AND o.group_name = $2 AND o.partition = p.partition
        WHERE p.topic = $1`,
      key(params),
    );
    const state = new Map(rows.map((r) => [r.partition as number, { high: Number(r.next_offset), committed: Number(r.committed) }]));
    const owned = new Set(assignedPartitions(g.members, params.memberId, g.partitions));
    const moved = new Map<number, number>();
    const outcomes = params.offsets.map(({ partition, offset }): CommitOutcome => {
      const s = state.get(partition)!;
      if (!owned.has(partition)) return 'not_assigned';
      if (offset < s.committed) return 'backwards';
      if (offset > s.high) return 'beyond_high_water';
      if (offset > s.committed) moved.set(partition, (s.committed = offset));
      return 'ok';
    });
    if (moved.size > 0) {
      await client.query(
        `INSERT INTO ${names.groupOffsets} AS o (topic, group_name, partition, committed, committed_at)
          SELECT $1, $2, u.p, u.c, $5::timestamptz FROM unnest($3::int[], $4::bigint[]) AS u(p, c)
          ON CONFLICT (topic, group_name, partition) DO UPDATE SET committed = EXCLUDED.committed, committed_at = EXCLUDED.committed_at`,
        [...key(params), [...moved.keys()], [...moved.values()], g.now],
      );
    }
    return outcomes;
  });
}

/** Every partition's committed offset of the group, highWater and lag, in partition order. */
const offsetsJson = (names: SchemaNames, topic: string, group: string) => `(SELECT json_agg(json_build_array(p.partition,
      coalesce(o.committed, p.start_offset), p.next_offset) ORDER BY p.partition)
    FROM ${names.topicPartitions} p
    LEFT JOIN ${names.groupOffsets} o ON o.topic = p.topic AND o.group_name = ${group} AND o.partition = p.partition
    WHERE p.topic = ${topic})`;

const toOffsets = (json: unknown): GroupOffset[] =>
  ((json as Array<[number, number, number]> | null) ?? []).map(([partition, committed, highWater]) => ({ partition, committed, highWater, lag: highWater - committed }));

/**
 * Per partition, the first retained offset whose seek_time is at or after `at` (the highWater
 * when none), as CTE `sought(partition, lo, hi)` (answer: lo where lo = hi): a binary search of
 * primary-key probes, since seek_time never decreases along the offsets (topics.ts).
 */
const soughtCte = (names: SchemaNames, topic: string, at: string) => `sought (partition, lo, hi) AS (
    SELECT p.partition, p.start_offset, p.next_offset FROM ${names.topicPartitions} p WHERE p.topic = ${topic}
    UNION ALL
    SELECT s.partition,
      CASE WHEN m.seek_time >= ${at} THEN s.lo ELSE x.mid + 1 END,
      CASE WHEN m.seek_time >= ${at} THEN x.mid ELSE s.hi END
    FROM sought s CROSS JOIN LATERAL (SELECT s.lo + (s.hi - s.lo) / 2 AS mid) x
    LEFT JOIN ${names.topicMessages} m ON m.topic = ${topic} AND m.partition = s.partition AND m."offset" = x.mid
    WHERE s.lo < s.hi
  )`;

/**
 * Where a seek moves partition `p` (alias of a topic_partitions row), before clamping: `with`, a
 * CTE to put before the statement, `join` the targets `t` of the partitions that move.
 */
function seekTarget(names: SchemaNames, to: SeekParams['to'], topic: string, params: Params): { with: string; target: string; join: string } {
  switch (to.kind) {
    case 'earliest':
      return { with: '', target: 'p.start_offset', join: '' };
    case 'latest':
      return { with: '', target: 'p.next_offset', join: '' };
    case 'offsets': {
      // The last offset given per partition; partitions not named keep theirs.
      const explicit = new Map(to.offsets.map((o) => [o.partition, o.offset]));
      const join = `JOIN unnest(${params.add([...explicit.keys()])}::int[], ${params.add([...explicit.values()])}::bigint[]) AS t(partition, "offset")
        ON t.partition = p.partition`;
      return { with: '', target: 't."offset"', join };
    }
    case 'time':
      return {
        with: `WITH RECURSIVE ${soughtCte(names, topic, `${params.add(to.at)}::timestamptz`)}`,
        target: 't.lo',
        join: 'JOIN sought t ON t.partition = p.partition AND t.lo >= t.hi',
      };
  }
}

export function seekGroup(ctx: Ctx, params: SeekParams): Promise<GroupOffset[]> {
  const { names } = ctx;
  return ctx.db.transaction('seekGroup', async (client) => {
    const locked = await lockGroup(client, names, params);
    if (!locked) {
      await requireTopic(clientQuery(client), names, params.topic);
      throw new NotFoundError(`no consumer group "${params.group}" on topic "${params.topic}"`);
    }
    if (params.to.kind === 'offsets') {
      params.to.offsets.forEach((o, i) => {
        if (o.partition >= locked.partitions) throw partitionRangeError(`to.offsets[${i}].partition`, o.partition, locked.partitions);
      });
    }
    const sql = new Params();
    const [topic, group, now] = [sql.add(params.topic), sql.add(params.group), sql.add(locked.now)];
    const seek = seekTarget(names, params.to, topic, sql);
    await client.query(
      `${seek.with} INSERT INTO ${names.groupOffsets} AS o (topic, group_name, partition, committed, committed_at)
        SELECT p.topic, ${group}::text, p.partition, greatest(p.start_offset, least(p.next_offset, ${seek.target})), ${now}::timestamptz
        FROM ${names.topicPartitions} p ${seek.join}
        WHERE p.topic = ${topic}
        ON CONFLICT (topic, group_name, partition) DO UPDATE SET committed = EXCLUDED.committed, committed_at = EXCLUDED.committed_at`,
      sql.values,
    );
    await settle(client, names, params, locked, 1);
    const { rows } = await client.query(`SELECT ${offsetsJson(names, '$1', '$2')} AS offsets`, key(params));
    return toOffsets(rows[0].offsets);
  });
}

const groupSelect = (names: SchemaNames, where: string) => `SELECT g.topic, g.name, g.generation, g.members, g.partitions,
    (SELECT json_agg(json_build_array(m.member_id, ${epochMsSql('m.expires_at')}) ORDER BY m.member_id)
      FROM ${names.groupMembers} m WHERE m.topic = g.topic AND m.group_name = g.name AND m.expires_at > c.now) AS live,
    ${offsetsJson(names, 'g.topic', 'g.name')} AS offsets
  FROM ${names.consumerGroups} g CROSS JOIN (SELECT ${nowSql('$2')} AS now) c
  ${where}`;

function toGroup(row: Row): GroupInfo {
  const members = row.members as string[];
  const live = (row.live as Array<[string, number]> | null) ?? [];
  return {
    topic: row.topic as string,
    group: row.name as string,
    generation: Number(row.generation),
    members: live.map(([memberId, expiresAt]) => ({ memberId, expiresAt: new Date(expiresAt), partitions: assignedPartitions(members, memberId, row.partitions as number) })),
    offsets: toOffsets(row.offsets),
  };
}

export async function getGroup(ctx: Ctx, params: { topic: string; group: string; now?: Date }): Promise<GroupInfo | null> {
  const rows = await ctx.db.query('getGroup', {
    text: groupSelect(ctx.names, 'WHERE g.topic = $1 AND g.name = $3'),
    values: [params.topic, params.now ?? null, params.group],
  });
  if (rows[0]) return toGroup(rows[0]);
  await requireTopic(poolQuery(ctx, 'getGroup'), ctx.names, params.topic);
  return null;
}

export async function listGroups(ctx: Ctx, topic: string): Promise<GroupInfo[]> {
  const rows = await ctx.db.query('listGroups', { text: groupSelect(ctx.names, 'WHERE g.topic = $1 ORDER BY g.name'), values: [topic, null] });
  if (rows.length === 0) await requireTopic(poolQuery(ctx, 'listGroups'), ctx.names, topic);
  return rows.map(toGroup);
}
