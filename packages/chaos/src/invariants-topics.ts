/**
 * Topic-log invariants I9–I10 of reliability.md §5.2: dense, consistent offsets with no lost or
 * unexpected messages and no poll-skips; committed offsets that never go back and refuse stale
 * generations, with consumption resuming exactly at the committed offset. Pure functions of a
 * CheckContext (checker.ts). Message values are the harness's unique values (canonical JSON).
 */
import type { CheckContext, Violation } from './checker.js';
import { violation } from './checker.js';
import { endOf, type FetchValue, mayHaveHappened, okValue, type Op, precedes } from './history.js';

type PublishValue = { partition: number; offset: number; duplicate: boolean };
type Assignment = { generation: number; members: string[]; partitions: number[] };
const pkey = (topic: unknown, partition: unknown): string => `${String(topic)}/${String(partition)}`;

/**
 * **I9 — Topic log.** Offsets are dense (a partition holds exactly [startOffset, highWater));
 * every acknowledged publish is stored at the offset it was told, with its value (no lost
 * writes, no two values at one offset); a value is stored twice only if a retry of an unknown,
 * unkeyed publish explains it; no stored or polled message was never published; every poll
 * agrees with the final log and returns consecutive offsets; within a consumer session (a
 * process's polls of a partition between two joins) polls never go back and never skip.
 */
export function checkTopicLog({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const stored = new Map<string, Map<number, string>>();
  for (const p of model.final.partitions) {
    const m = new Map<number, string>();
    p.messages.forEach((msg, i) => {
      m.set(msg.offset, msg.value);
      if (msg.offset !== p.startOffset + i) out.push(violation('I9', `${pkey(p.topic, p.partition)}: offset ${msg.offset} where ${p.startOffset + i} was due (not dense)`, []));
    });
    if (p.messages.length !== p.highWater - p.startOffset) out.push(violation('I9', `${pkey(p.topic, p.partition)}: ${p.messages.length} messages in [${p.startOffset}, ${p.highWater})`, []));
    stored.set(pkey(p.topic, p.partition), m);
  }
  const publishes = model.kind('publish');
  const published = new Set(publishes.filter(mayHaveHappened).map((op) => `${op.args.topic as string}\u0000${op.args.value as string}`));
  const told = new Map<string, Op>();
  for (const op of publishes) {
    const v = okValue<PublishValue>(op);
    if (!v) continue;
    const k = pkey(op.args.topic, v.partition);
    const got = stored.get(k)?.get(v.offset);
    const start = model.final.partitions.find((p) => pkey(p.topic, p.partition) === k)?.startOffset ?? 0;
    if (v.duplicate) continue;
    if (v.offset >= start && got !== op.args.value) out.push(violation('I9', `${k}@${v.offset}: acknowledged publish ${got === undefined ? 'is lost' : 'was overwritten'}`, [op]));
    const other = told.get(`${k}@${v.offset}`);
    if (other && other.args.value !== op.args.value) out.push(violation('I9', `${k}@${v.offset} was acknowledged to two different values`, [other, op]));
    told.set(`${k}@${v.offset}`, op);
  }
  for (const p of model.final.partitions) {
    const seen = new Map<string, number>();
    for (const msg of p.messages) {
      if (!published.has(`${p.topic}\u0000${msg.value}`)) out.push(violation('I9', `${pkey(p.topic, p.partition)}@${msg.offset} holds a value nobody published`, []));
      seen.set(msg.value, (seen.get(msg.value) ?? 0) + 1);
    }
    for (const [value, n] of seen) {
      if (n < 2) continue;
      const ops = publishes.filter((o) => o.args.topic === p.topic && o.args.value === value);
      const explained = !ops.some((o) => o.args.idemKey) && ops.filter((o) => o.outcome.type === 'unknown').length + ops.filter((o) => okValue<PublishValue>(o)?.duplicate === false).length >= n;
      if (!explained) out.push(violation('I9', `${pkey(p.topic, p.partition)}: value stored ${n} times`, ops));
    }
  }
  // A session ends when its process (re)joins or learns of a new generation by a heartbeat,
  // and for every process of the topic when a seek may have moved the group.
  const session = new Map<string, Op>();
  const generation = new Map<string, number>();
  const endSessions = (prefix: string): void => {
    for (const k of [...session.keys()]) if (k.startsWith(prefix)) session.delete(k);
  };
  for (const op of model.ops) {
    if (op.f === 'join' && op.outcome.type === 'ok') {
      const g = okValue<{ generation: number }>(op)!.generation;
      const gk = `${op.proc}\u0000${String(op.args.topic)}/${String(op.args.group)}`;
      if (op.args.heartbeat === false || generation.get(gk) !== g) endSessions(`${op.proc}\u0000${String(op.args.topic)}/`);
      generation.set(gk, g);
    }
    if (op.f === 'seek' && mayHaveHappened(op)) {
      for (const k of [...session.keys()]) if (k.includes(`\u0000${String(op.args.topic)}/`)) session.delete(k);
    }
    if (op.f !== 'fetch') continue;
    const v = okValue<FetchValue>(op);
    if (!v) continue;
    const k = pkey(op.args.topic, op.args.partition);
    const log = stored.get(k);
    v.messages.forEach((msg, i) => {
      if (msg.offset !== (op.args.offset as number) + i) out.push(violation('I9', `${k}: poll from ${String(op.args.offset)} returned offset ${msg.offset} at position ${i}`, [op]));
      const s = log?.get(msg.offset);
      if (s !== undefined && s !== msg.value) out.push(violation('I9', `${k}@${msg.offset}: polled value differs from the log`, [op]));
      if (!published.has(`${op.args.topic as string}\u0000${msg.value}`)) out.push(violation('I9', `${k}@${msg.offset}: polled a value nobody published`, [op]));
    });
    const sk = `${op.proc}\u0000${k}`;
    const prev = session.get(sk);
    if (prev) {
      const pv = okValue<FetchValue>(prev)!;
      const from = op.args.offset as number;
      const prevFrom = prev.args.offset as number;
      if (from < prevFrom) out.push(violation('I9', `${k}: nonmonotonic poll (${prevFrom}, then ${from}) in one session`, [prev, op]));
      else if (from > prevFrom + pv.messages.length && from > v.startOffset) out.push(violation('I9', `${k}: poll-skip: polled up to ${prevFrom + pv.messages.length}, then from ${from}`, [prev, op]));
    }
    session.set(sk, op);
  }
  return out;
}

/**
 * **I10 — Committed offsets.** Accepted commits of a (topic, group, partition) never go back
 * unless a seek (explicit reset) may lie between them, and the final committed offset is not
 * below the last accepted one; a commit from a generation older than one a join had already
 * reported is never accepted, nor one for a partition the member was not assigned in its
 * generation; after a (re)join, a process's first poll of an assigned partition starts exactly
 * at the group's committed offset (one of the candidates an in-flight commit leaves open).
 */
export function checkCommittedOffsets({ model }: CheckContext): Violation[] {
  const out: Violation[] = [];
  const commits = model.kind('commit');
  const joins = model.kind('join').filter((j) => j.outcome.type === 'ok');
  const seeks = model.kind('seek').filter(mayHaveHappened);
  const sameGroup = (a: Op, b: Op): boolean => a.args.topic === b.args.topic && a.args.group === b.args.group;
  const seekBetween = (a: Op, b: Op): boolean => seeks.some((s) => sameGroup(s, a) && endOf(s) >= a.invokeAt && s.invokeAt <= endOf(b));
  const okCommits = commits.filter((c) => c.outcome.type === 'ok');
  for (const b of okCommits) {
    for (const a of okCommits) {
      if (a === b || !sameGroup(a, b) || a.args.partition !== b.args.partition || !precedes(a, b)) continue;
      if ((b.args.offset as number) < (a.args.offset as number) && !seekBetween(a, b)) {
        out.push(violation('I10', `${String(b.args.group)} ${pkey(b.args.topic, b.args.partition)}: commit went back from ${String(a.args.offset)} to ${String(b.args.offset)}`, [a, b]));
      }
    }
    const newer = joins.find((j) => sameGroup(j, b) && (okValue<Assignment>(j)!.generation > (b.args.generation as number)) && precedes(j, b));
    if (newer) out.push(violation('I10', `commit of generation ${String(b.args.generation)} accepted after generation ${okValue<Assignment>(newer)!.generation} began`, [newer, b]));
    const own = joins.find((j) => sameGroup(j, b) && j.args.memberId === b.args.memberId && okValue<Assignment>(j)!.generation === b.args.generation);
    if (own && !okValue<Assignment>(own)!.partitions.includes(b.args.partition as number)) {
      out.push(violation('I10', `commit for partition ${String(b.args.partition)} accepted from ${String(b.args.memberId)}, not assigned it in generation ${String(b.args.generation)}`, [own, b]));
    }
  }
  for (const g of model.final.groups) {
    for (const o of g.offsets) {
      const mine = okCommits.filter((c) => c.args.topic === g.topic && c.args.group === g.group && c.args.partition === o.partition);
      const last = mine.sort((x, y) => endOf(x) - endOf(y))[mine.length - 1];
      if (!last || seeks.some((s) => s.args.topic === g.topic && s.args.group === g.group && endOf(s) >= last.invokeAt)) continue;
      const max = Math.max(...mine.map((c) => c.args.offset as number));
      if (o.committed < max) out.push(violation('I10', `${g.group} ${pkey(g.topic, o.partition)}: final committed ${o.committed} below accepted ${max}`, [last]));
    }
  }
  for (const j of joins) {
    if (j.args.heartbeat !== false) continue;
    const a = okValue<Assignment>(j)!;
    for (const p of a.partitions) {
      const fetch = model.ops.find((f) => f.f === 'fetch' && f.proc === j.proc && f.args.topic === j.args.topic && f.args.partition === p && precedes(j, f) && f.outcome.type === 'ok');
      if (!fetch) continue;
      const nextJoin = joins.find((k) => k.proc === j.proc && k !== j && k.args.heartbeat === false && precedes(j, k) && k.invokeAt <= fetch.invokeAt);
      if (nextJoin || seeks.some((s) => sameGroup(s, j) && s.invokeAt <= fetch.invokeAt)) continue;
      const mine = commits.filter((c) => sameGroup(c, j) && c.args.partition === p && mayHaveHappened(c) && c.invokeAt <= fetch.invokeAt);
      const done = mine.filter((c) => c.outcome.type === 'ok' && precedes(c, fetch)).sort((x, y) => endOf(x) - endOf(y));
      const last = done[done.length - 1];
      if (!last) continue;
      const candidates = new Set([last.args.offset as number, ...mine.filter((c) => endOf(c) >= last.invokeAt).map((c) => c.args.offset as number)]);
      if (!candidates.has(fetch.args.offset as number)) {
        out.push(violation('I10', `${pkey(j.args.topic, p)}: after a rebalance ${j.proc} resumed at ${String(fetch.args.offset)}, committed was ${[...candidates].join(' or ')}`, [last, j, fetch]));
      }
    }
  }
  return out;
}
