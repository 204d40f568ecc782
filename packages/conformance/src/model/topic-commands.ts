/**
 * The commands of the topics model-based test: each performs one backend operation at the
 * model's clock, asserts the outcome the model predicts (publish outcomes with duplicates, fetch
 * ranges or OffsetOutOfRangeError, assignments, commit outcomes, seek offsets), updates the model
 * and then `verifyTopic`s the whole topic and group.
 *
 * A seek is a timed group write like the others (SeekParams.now): it first expires the members
 * whose session ended by then (one new generation if any), moves the offsets and makes another
 * generation.
 */
import assert from 'node:assert/strict';
import type { AsyncCommand } from 'fast-check';
import { OffsetOutOfRangeError, type CommitOutcome, type MessageInsert, type PublishOutcome, type SeekTarget } from '@spindle/core';
import {
  IDEMPOTENCY_KEYS,
  MAX_PARTITIONS,
  MEMBER_IDS,
  MODEL_GROUP,
  MODEL_TOPIC,
  type TopicModel,
  type TopicReal,
  assignmentOf,
  at,
  bump,
  expire,
  highWater,
  predictCommit,
  verifyTopic,
} from './topic-model.js';

type Cmd = AsyncCommand<TopicModel, TopicReal>;

export interface PublishItem {
  partition: number;
  keyed: boolean;
  /** Index into IDEMPOTENCY_KEYS, or null. */
  idempotency: number | null;
}

export class PublishCommand implements Cmd {
  constructor(readonly items: PublishItem[]) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const count = m.partitions.length;
    const inserts: MessageInsert[] = [];
    const expected: PublishOutcome[] = [];
    const batchKeys = new Map<string, { partition: number; offset: number }>();
    const next = m.partitions.map((msgs) => msgs.length);
    const fresh: Array<{ partition: number; n: number; insert: MessageInsert }> = [];
    for (const item of this.items) {
      const partition = item.partition % count;
      const n = m.published + inserts.length;
      const idempotencyKey = item.idempotency === null ? null : IDEMPOTENCY_KEYS[item.idempotency]!;
      const insert: MessageInsert = {
        partition, key: item.keyed ? `k${n % 3}` : null, value: JSON.stringify({ n }), headers: null, idempotencyKey,
      };
      inserts.push(insert);
      const known = idempotencyKey === null ? undefined : (m.idempotency.get(idempotencyKey) ?? batchKeys.get(idempotencyKey));
      if (known) {
        expected.push({ ...known, duplicate: true });
        continue;
      }
      const offset = next[partition]!++;
      if (idempotencyKey !== null) batchKeys.set(idempotencyKey, { partition, offset });
      expected.push({ partition, offset, duplicate: false });
      fresh.push({ partition, n, insert });
    }
    const outcomes = await r.backend.publish({ topic: MODEL_TOPIC, messages: inserts, now: at(m, r) });
    assert.deepStrictEqual(outcomes, expected, `${this}: publish outcomes differ from the model`);
    m.published += inserts.length;
    for (const f of fresh) {
      m.partitions[f.partition]!.push({ key: f.insert.key, value: { n: f.n }, idempotencyKey: f.insert.idempotencyKey, publishedAt: m.clock });
    }
    for (const [k, v] of batchKeys) m.idempotency.set(k, v);
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `publish(${this.items.map((i) => `p${i.partition}${i.keyed ? 'k' : ''}${i.idempotency === null ? '' : `#i${i.idempotency}`}`).join(',')})`;
  }
}

export class FetchCommand implements Cmd {
  /** `offset`: from the partition's start; may lie past the highWater (then out of range). */
  constructor(readonly partition: number, readonly offset: number, readonly limit: number) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const partition = this.partition % m.partitions.length;
    const msgs = m.partitions[partition]!;
    const fetch = () => r.backend.fetchMessages({ topic: MODEL_TOPIC, partition, offset: this.offset, limit: this.limit });
    if (this.offset > msgs.length) {
      await assert.rejects(fetch, (err: unknown) => {
        assert.ok(err instanceof OffsetOutOfRangeError, `${this}: expected OffsetOutOfRangeError, got ${String(err)}`);
        assert.deepStrictEqual(
          { partition: err.partition, offset: err.offset, startOffset: err.startOffset, highWater: err.highWater },
          { partition, offset: this.offset, startOffset: 0, highWater: msgs.length },
        );
        return true;
      });
    } else {
      const result = await fetch();
      assert.deepStrictEqual(
        {
          startOffset: result.startOffset,
          highWater: result.highWater,
          messages: result.messages.map((x) => ({ topic: x.topic, partition: x.partition, offset: x.offset, key: x.key, value: x.value, headers: x.headers, publishedAt: x.publishedAt.getTime() - r.t0 })),
        },
        {
          startOffset: 0,
          highWater: msgs.length,
          messages: msgs.slice(this.offset, this.offset + this.limit).map((x, i) => ({
            topic: MODEL_TOPIC, partition, offset: this.offset + i, key: x.key, value: x.value, headers: null, publishedAt: x.publishedAt,
          })),
        },
        `${this}: fetched other messages than the model holds`,
      );
    }
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `fetch(p${this.partition}@${this.offset}, ${this.limit})`;
  }
}

export class JoinCommand implements Cmd {
  constructor(readonly member: number, readonly sessionMs: number, readonly start: 'earliest' | 'latest') {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const memberId = MEMBER_IDS[this.member]!;
    const answer = await r.backend.joinGroup({
      topic: MODEL_TOPIC, group: MODEL_GROUP, memberId, sessionMs: this.sessionMs, start: this.start, now: at(m, r),
    });
    if (m.group === null) {
      m.group = {
        generation: 0,
        rows: new Map(),
        members: [],
        committed: m.partitions.map((msgs) => (this.start === 'latest' ? msgs.length : 0)),
      };
    }
    const g = m.group;
    expire(m, g);
    const present = g.rows.has(memberId);
    g.rows.set(memberId, m.clock + this.sessionMs);
    if (!present) bump(g);
    assert.deepStrictEqual(answer, assignmentOf(m, g, memberId), `${this}: the assignment differs from the model`);
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `join(${MEMBER_IDS[this.member]}, ${this.sessionMs}, ${this.start})`;
  }
}

export class HeartbeatCommand implements Cmd {
  constructor(readonly member: number, readonly sessionMs: number) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const memberId = MEMBER_IDS[this.member]!;
    const answer = await r.backend.heartbeatGroup({
      topic: MODEL_TOPIC, group: MODEL_GROUP, memberId, sessionMs: this.sessionMs, start: 'earliest', now: at(m, r),
    });
    const g = m.group;
    if (g === null) {
      assert.deepStrictEqual(answer, { generation: 0, members: [], partitions: [] }, `${this}: heartbeat before any join`);
    } else {
      expire(m, g);
      if (g.rows.has(memberId)) g.rows.set(memberId, m.clock + this.sessionMs);
      assert.deepStrictEqual(answer, assignmentOf(m, g, memberId), `${this}: the assignment differs from the model`);
    }
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `heartbeat(${MEMBER_IDS[this.member]}, ${this.sessionMs})`;
  }
}

export class LeaveCommand implements Cmd {
  constructor(readonly member: number) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const memberId = MEMBER_IDS[this.member]!;
    await r.backend.leaveGroup({ topic: MODEL_TOPIC, group: MODEL_GROUP, memberId, now: at(m, r) });
    const g = m.group;
    if (g !== null) {
      expire(m, g);
      if (g.rows.delete(memberId)) bump(g);
    }
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `leave(${MEMBER_IDS[this.member]})`;
  }
}

/** Where a commit's offset lies, relative to the group's committed offset or the highWater. */
export type OffsetPick = 'back' | 'same' | 'next' | 'next2' | 'high' | 'beyond';

export class CommitCommand implements Cmd {
  /** `member` null: the owner of the first partition named, in the model's current generation. */
  constructor(
    readonly member: number | null,
    readonly generationDelta: number,
    readonly items: Array<{ partition: number; pick: OffsetPick }>,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const count = m.partitions.length;
    const g = m.group;
    const first = this.items[0]!.partition % count;
    const memberId =
      this.member !== null ? MEMBER_IDS[this.member]! : g && g.members.length > 0 ? g.members[first % g.members.length]! : MEMBER_IDS[0]!;
    const generation = (g?.generation ?? 1) + this.generationDelta;
    // Offsets are chosen from the model as it stands before the commit's own expiry step.
    const offsets = this.items.map(({ partition: raw, pick }) => {
      const partition = raw % count;
      const committed = g?.committed[partition] ?? 0;
      const high = highWater(m, partition);
      const offset =
        pick === 'back' ? committed - 1
        : pick === 'same' ? committed
        : pick === 'next' ? committed + 1
        : pick === 'next2' ? committed + 2
        : pick === 'high' ? high
        : high + 1;
      return { partition, offset: Math.max(0, offset) };
    });
    const outcomes = await r.backend.commitOffsets({ topic: MODEL_TOPIC, group: MODEL_GROUP, memberId, generation, offsets, now: at(m, r) });
    const expected: CommitOutcome[] = predictCommit(m, memberId, generation, offsets);
    assert.deepStrictEqual(outcomes, expected, `${this} as ${memberId}@${generation} ${JSON.stringify(offsets)}: commit outcomes differ from the model`);
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    const who = this.member === null ? 'owner' : MEMBER_IDS[this.member];
    const gen = this.generationDelta === 0 ? '' : this.generationDelta > 0 ? `+${this.generationDelta}` : `${this.generationDelta}`;
    return `commit(${who}, gen${gen}, ${this.items.map((i) => `p${i.partition}:${i.pick}`).join(',')})`;
  }
}

export type SeekSpec =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offsets'; offsets: Array<{ partition: number; offset: number }> }
  /** A time this many ms before the model's clock (may lie before t0). */
  | { kind: 'time'; agoMs: number };

export class SeekCommand implements Cmd {
  constructor(readonly spec: SeekSpec) {}
  check(m: Readonly<TopicModel>): boolean {
    return m.group !== null;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const g = m.group!;
    const count = m.partitions.length;
    const spec = this.spec;
    let to: SeekTarget;
    if (spec.kind === 'offsets') {
      to = { kind: 'offsets', offsets: spec.offsets.map((o) => ({ partition: o.partition % count, offset: o.offset })) };
    } else if (spec.kind === 'time') {
      to = { kind: 'time', at: at(m, r, m.clock - spec.agoMs) };
    } else {
      to = spec;
    }
    const result = await r.backend.seekGroup({ topic: MODEL_TOPIC, group: MODEL_GROUP, to, now: at(m, r) });
    expire(m, g);
    m.partitions.forEach((msgs, p) => {
      let target: number | undefined;
      if (to.kind === 'earliest') target = 0;
      else if (to.kind === 'latest') target = msgs.length;
      else if (to.kind === 'time') {
        const t = to.at.getTime() - r.t0;
        const i = msgs.findIndex((x) => x.publishedAt >= t);
        target = i < 0 ? msgs.length : i;
      } else {
        // The last offset named for a partition wins.
        const named = to.offsets.filter((o) => o.partition === p);
        target = named.length > 0 ? named[named.length - 1]!.offset : undefined;
      }
      if (target !== undefined) g.committed[p] = Math.min(Math.max(target, 0), msgs.length);
    });
    bump(g);
    assert.deepStrictEqual(
      result,
      g.committed.map((committed, partition) => ({ partition, committed, highWater: highWater(m, partition), lag: highWater(m, partition) - committed })),
      `${this}: seek answered other offsets than the model`,
    );
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    const s = this.spec;
    return `seek(${s.kind === 'offsets' ? s.offsets.map((o) => `p${o.partition}=${o.offset}`).join(',') : s.kind === 'time' ? `time-${s.agoMs}` : s.kind})`;
  }
}

export class GrowCommand implements Cmd {
  constructor(readonly by: number) {}
  check(m: Readonly<TopicModel>): boolean {
    return m.partitions.length + this.by <= MAX_PARTITIONS;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    const partitions = m.partitions.length + this.by;
    const info = await r.backend.growTopic({ name: MODEL_TOPIC, partitions });
    assert.equal(info.partitions, partitions);
    while (m.partitions.length < partitions) {
      m.partitions.push([]);
      m.group?.committed.push(0);
    }
    if (m.group) bump(m.group);
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `grow(+${this.by})`;
  }
}

export class AdvanceCommand implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(m: TopicModel, r: TopicReal): Promise<void> {
    m.clock += this.ms;
    await verifyTopic(m, r, this.toString());
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}
