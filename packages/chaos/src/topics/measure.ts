/**
 * C12's own pass rules and figures, read from the merged history and the final state (pure, like
 * the checker; I9 and I10 stay the checker's). A *handling* is one handler_start of the consumer
 * child (consumer-child.ts), with its handler_end when it finished; a *session* is one partition
 * loop of one process: (proc, partition, generation, epoch).
 *
 * Rules (each failure is a violation with rule 'C12'):
 * - (a) Order and completeness. Within a session, handled offsets are consecutive (no skip, no
 *   going back) and each key's sequence numbers go up by exactly 1; every handling names the
 *   message stored at its offset; in the final log each key's sequence is 0, 1, 2, … in offset
 *   order; after the drain every acknowledged message was handled to the end at least once.
 * - (b) Duplicates. Of a message's handlings, at most one may belong to a session whose own
 *   accepted commits went past it (the keeper; without one, the last handling is the keeper).
 *   Every other handling is a duplicate and must belong to a disrupted session — its process was
 *   killed, or its commit of the partition was refused as stale_generation / not_assigned (the
 *   partition moved; such a zombie loop may finish its fetched batch) — at an offset at or after
 *   that session's last own accepted commit. And no handling may start after an accepted commit
 *   past its offset of its own generation or an older one (only a fenced zombie of an older
 *   generation may). The bound reported is Σ over disrupted sessions of the offsets each handled
 *   at or after its last own accepted commit: the messages between the last commit and the crash
 *   (or move) point.
 * - (c) Stale commits. An accepted commit whose generation is older than one a join or heartbeat
 *   had reported before it began is counted (staleAccepted; I10 reports each); refusals
 *   (stale_generation, not_assigned) are counted as the fence working.
 * - Resumption. After each kill, every partition the killed member owned is fetched again by a
 *   process that owns it; never being fetched again is a violation. maxResumeMs is the slowest.
 */
import { canonicalValue } from '../canonical.js';
import type { FinalState } from '../final-state.js';
import { describeOp, type Op, okValue, precedes } from '../history.js';
import type { ReportViolation } from '../scenario/report.js';
import { percentile } from '../scenario/measure.js';

export interface Handling {
  op: Op;
  proc: string;
  memberId: string;
  generation: number;
  epoch: number;
  partition: number;
  offset: number;
  k: string;
  s: number;
  startAt: number;
  ended: boolean;
  session: string;
}

type Assignment = { generation: number; members: string[]; partitions: number[] };

export interface TopicMeasures {
  handlings: number;
  sessions: number;
  duplicates: number;
  duplicatesAfterKill: number;
  duplicatesAfterMove: number;
  duplicateBound: number;
  lost: number;
  staleAccepted: number;
  staleRefused: number;
  unknownCommits: number;
  resumeMs: number[];
  maxResumeMs: number | null;
  p50ResumeMs: number | null;
  throughputBaseline: number | null;
  throughputAfter: number | null;
  violations: ReportViolation[];
}

const sessionKey = (proc: string, partition: number, generation: number, epoch: number): string => `${proc}/p${partition}/g${generation}/e${epoch}`;
const offsetKey = (partition: number, offset: number): string => `${partition}@${offset}`;

/** Every handling of `topic`, in start order (the merge orders ops by invoke time, then proc and index). */
export function readHandlings(ops: readonly Op[], topic: string): Handling[] {
  const open = new Map<string, Handling>();
  const out: Handling[] = [];
  for (const op of ops) {
    if ((op.f !== 'handler_start' && op.f !== 'handler_end') || op.args.topic !== topic) continue;
    const a = op.args as { memberId: string; generation: number; epoch: number; partition: number; offset: number; k: string; s: number };
    const session = sessionKey(op.proc, a.partition, a.generation, a.epoch);
    const id = `${session}@${a.offset}`;
    if (op.f === 'handler_start') {
      const h: Handling = { op, proc: op.proc, memberId: a.memberId, generation: a.generation, epoch: a.epoch, partition: a.partition, offset: a.offset, k: a.k, s: a.s, startAt: op.invokeAt, ended: false, session };
      open.set(id, h);
      out.push(h);
    } else {
      const h = open.get(id);
      if (h) h.ended = true;
      open.delete(id);
    }
  }
  return out;
}

/** Collects violations of one kind, keeping the first `cap` and counting the rest. */
class Findings {
  readonly list: ReportViolation[] = [];
  private readonly counts = new Map<string, number>();
  constructor(private readonly cap = 50) {}
  add(kind: string, message: string, ops: readonly Op[] = []): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n <= this.cap) this.list.push({ rule: 'C12', message, ops: ops.map(describeOp) });
  }
  all(): ReportViolation[] {
    const more = [...this.counts].filter(([, n]) => n > this.cap).map(([kind, n]) => ({ rule: 'C12', message: `… ${n - this.cap} more "${kind}" violations` }));
    return [...this.list, ...more];
  }
}

export interface MeasureInput {
  ops: readonly Op[];
  final: FinalState;
  topic: string;
  group: string;
}

export function measureTopicRun({ ops, final, topic, group }: MeasureInput): TopicMeasures {
  const f = new Findings();
  const handlings = readHandlings(ops, topic);
  const mine = (o: Op): boolean => o.args.topic === topic && o.args.group === group;
  const commits = ops.filter((o) => o.f === 'commit' && mine(o));
  const joins = ops.filter((o) => o.f === 'join' && mine(o) && o.outcome.type === 'ok');
  const kills = ops.filter((o) => o.f === 'fault' && o.args.fault === 'SIGKILL');
  const killOf = new Map<string, Op>();
  for (const k of kills) if (!killOf.has(k.args.target as string)) killOf.set(k.args.target as string, k);

  // --- (a) sessions: consecutive offsets, per-key sequence +1, handlings agree with the log ------
  const stored = new Map<string, { k: string; s: number }>();
  for (const p of final.partitions) {
    if (p.topic !== topic) continue;
    const lastSeq = new Map<string, number>();
    for (const m of p.messages) {
      const v = JSON.parse(m.value) as { k: string; s: number };
      stored.set(offsetKey(p.partition, m.offset), v);
      const prev = lastSeq.get(v.k) ?? -1;
      if (v.s !== prev + 1) f.add('log order', `log: partition ${p.partition}@${m.offset} holds ${v.k}#${v.s} after ${v.k}#${prev}`);
      lastSeq.set(v.k, v.s);
    }
  }
  if (!final.partitions.some((p) => p.topic === topic)) f.add('no topic', `final state has no partitions of topic ${topic}`);
  const sessions = new Map<string, Handling[]>();
  for (const h of handlings) {
    const list = sessions.get(h.session) ?? [];
    list.push(h);
    sessions.set(h.session, list);
    const m = stored.get(offsetKey(h.partition, h.offset));
    if (!m || m.k !== h.k || m.s !== h.s) f.add('wrong message', `${h.proc} handled ${h.k}#${h.s} as partition ${h.partition}@${h.offset}, which holds ${m ? `${m.k}#${m.s}` : 'nothing'}`, [h.op]);
  }
  for (const [key, list] of sessions) {
    const seq = new Map<string, number>();
    list.forEach((h, i) => {
      const prev = list[i - 1];
      if (prev && h.offset !== prev.offset + 1) f.add('session order', `session ${key}: handled offset ${h.offset} right after ${prev.offset} (${h.offset > prev.offset ? 'a skip' : 'went back'})`, [prev.op, h.op]);
      const ps = seq.get(h.k);
      if (ps !== undefined && h.s !== ps + 1) f.add('key order', `session ${key}: ${h.k}#${h.s} handled after ${h.k}#${ps}`, [h.op]);
      seq.set(h.k, h.s);
    });
  }
  // Completeness: every acknowledged publish handled to the end at least once.
  const handledValues = new Set(handlings.filter((h) => h.ended).map((h) => canonicalValue({ k: h.k, s: h.s })));
  let lost = 0;
  for (const op of ops) {
    if (op.f !== 'publish' || op.args.topic !== topic || op.outcome.type !== 'ok') continue;
    if (handledValues.has(op.args.value as string)) continue;
    lost += 1;
    f.add('never handled', `acknowledged message ${String(op.args.value)} (${JSON.stringify(op.outcome.value)}) was never handled to the end`, [op]);
  }

  // --- (b) duplicates against the last commit before each crash / move ------------------------
  const okCommits = commits.filter((c) => c.outcome.type === 'ok');
  const refusedMoves = commits.filter((c) => c.outcome.type === 'refused' && (c.outcome.code === 'stale_generation' || c.outcome.code === 'not_assigned'));
  const sessionInfo = new Map<string, { ownCommit: number; disruption: 'kill' | 'move' | null; bound: number }>();
  for (const list of sessions.values()) {
    const h0 = list[0]!;
    const last = list[list.length - 1]!;
    const nextEpochStart = sessions.get(sessionKey(h0.proc, h0.partition, h0.generation, h0.epoch + 1))?.[0]?.startAt ?? Infinity;
    const own = okCommits.filter((c) => c.proc === h0.proc && c.args.partition === h0.partition && c.args.generation === h0.generation && c.invokeAt >= h0.startAt && c.invokeAt < nextEpochStart);
    const ownCommit = Math.max(h0.offset, ...own.map((c) => c.args.offset as number));
    const kill = killOf.get(h0.proc);
    const moved = refusedMoves.some((c) => c.proc === h0.proc && c.args.partition === h0.partition && c.args.generation === h0.generation && c.invokeAt >= h0.startAt);
    const disruption = kill && kill.invokeAt >= h0.startAt ? 'kill' : moved ? 'move' : null;
    const bound = disruption ? Math.max(0, last.offset + 1 - ownCommit) : 0;
    sessionInfo.set(h0.session, { ownCommit, disruption, bound });
  }
  const byOffset = new Map<string, Handling[]>();
  for (const h of handlings) {
    const k = offsetKey(h.partition, h.offset);
    const list = byOffset.get(k) ?? [];
    list.push(h);
    byOffset.set(k, list);
  }
  const okByPartition = new Map<number, Op[]>();
  for (const c of okCommits) {
    const list = okByPartition.get(c.args.partition as number) ?? [];
    list.push(c);
    okByPartition.set(c.args.partition as number, list);
  }
  let duplicates = 0;
  let afterKill = 0;
  let afterMove = 0;
  for (const list of byOffset.values()) {
    if (list.length < 2) continue;
    duplicates += list.length - 1;
    // The keeper: the handling whose own session committed past it (at most one may), else the last.
    const committed = list.filter((h) => sessionInfo.get(h.session)!.ownCommit > h.offset);
    if (committed.length > 1) f.add('committed twice', `partition ${list[0]!.partition}@${list[0]!.offset} was handled and committed by ${committed.length} sessions`, committed.map((h) => h.op));
    const keeper = committed[0] ?? list[list.length - 1]!;
    for (const h of list) {
      if (h === keeper) continue;
      const info = sessionInfo.get(h.session)!;
      if (info.disruption === 'kill') afterKill += 1;
      else if (info.disruption === 'move') afterMove += 1;
      else f.add('unexplained duplicate', `partition ${h.partition}@${h.offset}: ${h.proc}'s handling was neither committed by its session nor cut short by a kill or a move, yet the message was handled again`, list.map((x) => x.op));
    }
    // Re-read after a commit that covered it, by a loop of that commit's generation or a newer
    // one (a zombie of an older generation may still finish its fetched batch: it is fenced).
    for (const d of list) {
      const covering = (okByPartition.get(d.partition) ?? []).find((c) => (c.args.offset as number) > d.offset && c.completeAt !== null && c.completeAt < d.startAt && (c.args.generation as number) <= d.generation);
      if (covering) f.add('committed duplicate', `partition ${d.partition}@${d.offset} handled again by ${d.proc} (generation ${d.generation}) after the group had committed ${String(covering.args.offset)} in generation ${String(covering.args.generation)}`, [covering, d.op]);
    }
  }
  const duplicateBound = [...sessionInfo.values()].reduce((n, s) => n + s.bound, 0);

  // --- (c) stale commits -------------------------------------------------------------------------
  const joinsByEnd = [...joins].sort((a, b) => a.completeAt! - b.completeAt!);
  let staleAccepted = 0;
  for (const c of okCommits) {
    const newer = joinsByEnd.find((j) => precedes(j, c) && okValue<Assignment>(j)!.generation > (c.args.generation as number));
    if (newer) staleAccepted += 1;
  }

  // --- resumption after each kill -------------------------------------------------------------
  const assignments = new Map<string, Array<{ at: number; partitions: number[] }>>();
  for (const j of joinsByEnd) {
    const list = assignments.get(j.proc) ?? [];
    list.push({ at: j.completeAt!, partitions: okValue<Assignment>(j)!.partitions });
    assignments.set(j.proc, list);
  }
  const ownedAt = (proc: string, t: number): number[] => {
    const list = assignments.get(proc) ?? [];
    let owned: number[] = [];
    for (const a of list) {
      if (a.at > t) break;
      owned = a.partitions;
    }
    return owned;
  };
  const fetches = ops.filter((o) => o.f === 'fetch' && o.args.topic === topic && o.outcome.type === 'ok');
  const resumeMs: number[] = [];
  for (const k of kills) {
    const victim = k.args.target as string;
    for (const p of ownedAt(victim, k.invokeAt)) {
      const next = fetches.find((x) => x.invokeAt > k.invokeAt && x.proc !== victim && x.args.partition === p && ownedAt(x.proc, x.invokeAt).includes(p));
      if (next) resumeMs.push(next.invokeAt - k.invokeAt);
      else f.add('never resumed', `partition ${p} was never fetched again by its owner after ${victim} was killed`, [k]);
    }
  }

  // --- throughput: first handlings finished per second ---------------------------------------
  const firsts = [...byOffset.values()].map((l) => l.find((h) => h.ended)?.startAt).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const rate = (from: number, to: number): number | null => {
    if (!(to > from)) return null;
    const n = firsts.filter((t) => t >= from && t < to).length;
    return Math.round((n / ((to - from) / 1000)) * 10) / 10;
  };
  const firstKill = kills.length ? Math.min(...kills.map((k) => k.invokeAt)) : Infinity;
  const lastHeal = kills.length ? Math.max(...kills.map((k) => k.completeAt ?? k.invokeAt)) : null;
  const lastFirst = firsts[firsts.length - 1] ?? 0;

  return {
    handlings: handlings.length,
    sessions: sessions.size,
    duplicates,
    duplicatesAfterKill: afterKill,
    duplicatesAfterMove: afterMove,
    duplicateBound,
    lost,
    staleAccepted,
    staleRefused: refusedMoves.length,
    unknownCommits: commits.filter((c) => c.outcome.type === 'unknown').length,
    resumeMs,
    maxResumeMs: percentile(resumeMs, 100),
    p50ResumeMs: percentile(resumeMs, 50),
    throughputBaseline: firsts.length ? rate(firsts[0]!, Math.min(firstKill, lastFirst)) : null,
    throughputAfter: lastHeal === null ? null : rate(lastHeal, Math.min(lastHeal + 10_000, lastFirst)),
    violations: f.all(),
  };
}
