/**
 * The history recorder (reliability.md §5.1): wraps a Backend so every call the chaos suite cares
 * about is written to this process's history — an `invoke` line before the call, a completion
 * line after — and offers the handler-side and nemesis-side records (handler started/finished,
 * fault injected/healed).
 *
 * Why the Backend seam: it is where fencing is decided, so a stale write shows up exactly as
 * what it is (`lease_lost` refused, or — a bug — `ok`); the client's retries and aborts sit
 * above it and do not blur the record. Anything not listed below passes through unrecorded.
 *
 * Invariants:
 * - The invoke line is written (synchronously, to the file descriptor) before the call starts,
 *   so a SIGKILL mid-call leaves an invoke without completion: an `unknown` op after the merge.
 * - Outcome classification: a per-item outcome (`lease_lost`, `not_found`, a refused commit, …)
 *   is `refused`; a thrown SpindleError whose code means "validated and changed nothing" is
 *   `refused` for every item of the call; any other throw (driver error, timeout, reset) is
 *   `unknown` (`info`) — it may have committed.
 * - Batch calls over jobs/messages/offsets become one op per item (same times); calls whose
 *   items are only known from the answer (claim, rescue, redrive, delete) are one op per call.
 * - One file per process (`proc` names it); indexes increase per process. Merge the files with
 *   `readHistoryFiles` (history.ts ordering).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Backend, ClaimedJob, FinalizeItem, JobRecord, SpindleErrorCode } from '@spindle/core';
import { type ClaimedLease, encodeLine, type HistoryLine, mergeLines, type Op, type OpKind, parseLines, type RefusalCode } from './history.js';
import { canonicalJson, canonicalValue } from './canonical.js';

/** SpindleError codes that mean the call was rejected before it changed anything. */
const REFUSING_CODES: ReadonlySet<SpindleErrorCode> = new Set<SpindleErrorCode>([
  'validation_failed', 'not_found', 'lease_lost', 'conflict', 'closed', 'offset_out_of_range', 'migration_required',
]);

export interface RecorderOptions {
  /**
   * This process's name in the history, unique per process *incarnation* (e.g. `worker-3.2` for
   * worker 3's second start, or include the pid): a restarted process must not reuse a name,
   * since indexes restart at 1 and the merge rejects a name whose indexes go back.
   */
  proc: string;
  /** Append lines to this file (one per process); without it lines are kept in memory only. */
  file?: string;
  /** Wall clock (epoch ms); default Date.now. */
  clock?: () => number;
}

type Completion = { type: 'ok'; value?: unknown } | { type: 'fail'; code: RefusalCode; message?: string } | { type: 'info'; error?: string };

const ms = (d: Date | null | undefined): number | null => (d ? d.getTime() : null);

function leaseOf(j: ClaimedJob, leaseMs: number): ClaimedLease {
  return {
    jobId: j.id, queue: j.queue, attempt: j.attempt, round: j.round, token: j.leaseToken,
    maxRetries: j.maxRetries, leaseExpiresAt: j.leaseExpiresAt.getTime(), leaseMs, runAt: j.runAt.getTime(),
  };
}

function finalizeKind(item: FinalizeItem): { f: OpKind; extra: Record<string, unknown> } {
  switch (item.kind) {
    case 'complete': return { f: 'complete', extra: { result: item.result } };
    case 'retry': return { f: 'fail', extra: { action: 'retry', delayMs: item.delayMs, errorKind: item.error.kind } };
    case 'dead': return { f: 'fail', extra: { action: 'dead', errorKind: item.error.kind } };
    case 'snooze': return { f: 'snooze', extra: { delayMs: item.delayMs } };
    case 'cancel': return { f: 'cancel_ack', extra: {} };
    case 'release': return { f: 'release', extra: {} };
  }
}

export class Recorder {
  readonly proc: string;
  /** Every line this recorder wrote, in order (also when writing to a file). */
  readonly lines: HistoryLine[] = [];
  private index = 0;
  private fd: number | null;
  private readonly clock: () => number;

  constructor(options: RecorderOptions) {
    this.proc = options.proc;
    this.clock = options.clock ?? Date.now;
    this.fd = options.file ? openSync(options.file, 'a') : null;
  }

  /** This recorder's history as ops (unfinished calls are unknown). */
  ops(): Op[] {
    return mergeLines(this.lines);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private write(line: HistoryLine): void {
    this.lines.push(line);
    if (this.fd !== null) writeSync(this.fd, encodeLine(line));
  }

  private invoke(f: OpKind, args: Record<string, unknown>): number {
    const index = ++this.index;
    this.write({ type: 'invoke', proc: this.proc, index, f, args, t: this.clock() });
    return index;
  }

  private complete(index: number, c: Completion): void {
    const t = this.clock();
    if (c.type === 'ok') this.write(c.value === undefined ? { type: 'ok', proc: this.proc, index, t } : { type: 'ok', proc: this.proc, index, t, value: c.value });
    else if (c.type === 'fail') this.write({ type: 'fail', proc: this.proc, index, t, code: c.code, ...(c.message ? { message: c.message } : {}) });
    else this.write({ type: 'info', proc: this.proc, index, t, ...(c.error ? { error: c.error } : {}) });
  }

  /** Records a call of several items: invoke each, call, then complete each from the answer. */
  async record<T>(items: Array<{ f: OpKind; args: Record<string, unknown> }>, call: () => Promise<T>, settle: (answer: T) => Completion[]): Promise<T> {
    const indexes = items.map((it) => this.invoke(it.f, it.args));
    let answer: T;
    try {
      answer = await call();
    } catch (err) {
      const c = classifyError(err);
      for (const i of indexes) this.complete(i, c);
      throw err;
    }
    const completions = settle(answer);
    indexes.forEach((i, k) => this.complete(i, completions[k] ?? { type: 'info', error: 'no per-item answer' }));
    return answer;
  }

  /** A handler began running an attempt. Returns the function to call when it returns or throws. */
  handlerStarted(args: { jobId: string; attempt: number; token?: string | null; round?: number }): (end: { ok: boolean; error?: string }) => void {
    const i = this.invoke('handler_start', { ...args, token: args.token ?? null });
    this.complete(i, { type: 'ok' });
    return (end) => {
      const j = this.invoke('handler_end', { ...args, token: args.token ?? null, ok: end.ok, ...(end.error ? { error: end.error } : {}) });
      this.complete(j, { type: 'ok' });
    };
  }

  /** The nemesis: a fault begins now; call the result when it is healed. */
  faultStarted(args: { fault: string; target?: string; [k: string]: unknown }): () => void {
    const i = this.invoke('fault', args);
    return () => this.complete(i, { type: 'ok' });
  }

  /** Wraps a backend: the recorded methods below write history, every other member passes through. */
  wrap<B extends Backend>(backend: B): B {
    const rec = this;
    const overrides: Partial<Backend> = {
      insertJobs: (p) => rec.record(
        p.jobs.map((j) => ({ f: 'enqueue' as const, args: {
          jobId: j.id, queue: j.queue, payload: canonicalJson(j.payload), uniqueKey: j.uniqueKey, group: j.group ?? null,
          maxRetries: j.maxRetries, runAt: ms(j.runAt), delayMs: j.delayMs, now: ms(p.now),
        } })),
        () => backend.insertJobs(p),
        (out) => out.map((o) => {
          const lease = o.claimed ? leaseOf(o.claimed, p.dispatch?.find((d) => d.queue === o.claimed!.queue)?.leaseMs ?? 0) : undefined;
          return { type: 'ok', value: { jobId: o.id, inserted: o.inserted, state: o.state, ...(lease ? { claimed: lease } : {}) } };
        }),
      ),
      claimJobs: (p) => rec.record(
        [{ f: 'claim', args: { queue: p.queue, workerId: p.workerId, limit: p.limit, leaseMs: p.leaseMs, now: ms(p.now) } }],
        () => backend.claimJobs(p),
        (jobs) => [{ type: 'ok', value: { leases: jobs.map((j) => leaseOf(j, p.leaseMs)) } }],
      ),
      extendLeases: (p) => rec.record(
        p.leases.map((l) => ({ f: 'heartbeat' as const, args: { jobId: l.id, attempt: l.attempt, token: l.leaseToken, leaseMs: p.leaseMs, now: ms(p.now) } })),
        () => backend.extendLeases(p),
        (out) => out.map((o) => (o.outcome === 'ok' ? { type: 'ok', value: { cancelRequested: o.cancelRequested } } : { type: 'fail', code: o.outcome })),
      ),
      updateProgress: (p) => rec.record(
        p.items.map((l) => ({ f: 'progress' as const, args: { jobId: l.id, attempt: l.attempt, token: l.leaseToken, now: ms(p.now) } })),
        () => backend.updateProgress(p),
        (out) => out.map((o) => (o === 'ok' ? { type: 'ok' } : { type: 'fail', code: o })),
      ),
      finalizeJobs: (p) => rec.record(
        p.items.map((it) => {
          const { f, extra } = finalizeKind(it);
          return { f, args: { jobId: it.id, attempt: it.attempt, token: it.leaseToken, now: ms(p.now), ...extra } };
        }),
        () => backend.finalizeJobs(p),
        (out) => out.map((o) => (o === 'ok' ? { type: 'ok' } : { type: 'fail', code: o })),
      ),
      cancelJobs: (p) => rec.record(
        p.ids.map((id) => ({ f: 'cancel' as const, args: { jobId: id, now: ms(p.now) } })),
        () => backend.cancelJobs(p),
        (out) => out.map((o) => (o === 'cancelled' || o === 'cancel_requested' ? { type: 'ok', value: { result: o } } : { type: 'fail', code: o })),
      ),
      rescueExpiredLeases: (p) => rec.record(
        [{ f: 'rescue', args: { limit: p.limit, now: ms(p.now) } }],
        () => backend.rescueExpiredLeases(p),
        (r) => [{ type: 'ok', value: { requeued: r.requeued, dead: r.dead, cancelled: r.cancelled } }],
      ),
      dlqReplay: (p) => rec.record(
        [{ f: 'redrive', args: { via: 'dlqReplay', jobIds: p.ids ?? null, filter: p.filter ? JSON.parse(JSON.stringify(p.filter)) as unknown : null, toQueue: p.toQueue ?? null } }],
        () => backend.dlqReplay(p),
        (r) => [{ type: 'ok', value: { jobIds: r.replayed } }],
      ),
      retryJobs: (p) => rec.record(
        [{ f: 'redrive', args: { via: 'retryJobs', jobIds: p.ids } }],
        () => backend.retryJobs(p),
        (out) => [{ type: 'ok', value: { jobIds: p.ids.filter((_, i) => out[i] === 'ok') } }],
      ),
      deleteJobs: (p) => rec.record(
        [{ f: 'delete', args: { jobIds: p.ids } }],
        () => backend.deleteJobs(p),
        (out) => [{ type: 'ok', value: { jobIds: p.ids.filter((_, i) => out[i] === 'ok') } }],
      ),
      getJob: (id) => rec.record(
        [{ f: 'read', args: { jobId: id } }],
        () => backend.getJob(id),
        (j: JobRecord | null) => [{ type: 'ok', value: j ? { state: j.state, attempt: j.attempt, round: j.round } : null }],
      ),
      publish: (p) => rec.record(
        p.messages.map((m) => ({ f: 'publish' as const, args: { topic: p.topic, partition: m.partition, key: m.key, value: canonicalJson(m.value), idemKey: m.idempotencyKey } })),
        () => backend.publish(p),
        (out) => out.map((o) => ({ type: 'ok', value: { partition: o.partition, offset: o.offset, duplicate: o.duplicate } })),
      ),
      fetchMessages: (p) => rec.record(
        [{ f: 'fetch', args: { topic: p.topic, partition: p.partition, offset: p.offset, limit: p.limit } }],
        () => backend.fetchMessages(p),
        (r) => [{ type: 'ok', value: {
          messages: r.messages.map((m) => ({ offset: m.offset, key: m.key, value: canonicalValue(m.value) })),
          startOffset: r.startOffset, highWater: r.highWater,
        } }],
      ),
      joinGroup: (p) => rec.record(
        [{ f: 'join', args: { topic: p.topic, group: p.group, memberId: p.memberId, heartbeat: false } }],
        () => backend.joinGroup(p),
        (a) => [{ type: 'ok', value: { generation: a.generation, members: a.members, partitions: a.partitions } }],
      ),
      heartbeatGroup: (p) => rec.record(
        [{ f: 'join', args: { topic: p.topic, group: p.group, memberId: p.memberId, heartbeat: true } }],
        () => backend.heartbeatGroup(p),
        (a) => [{ type: 'ok', value: { generation: a.generation, members: a.members, partitions: a.partitions } }],
      ),
      leaveGroup: (p) => rec.record(
        [{ f: 'leave', args: { topic: p.topic, group: p.group, memberId: p.memberId } }],
        () => backend.leaveGroup(p),
        () => [{ type: 'ok' }],
      ),
      commitOffsets: (p) => rec.record(
        p.offsets.map((o) => ({ f: 'commit' as const, args: { topic: p.topic, group: p.group, memberId: p.memberId, generation: p.generation, partition: o.partition, offset: o.offset } })),
        () => backend.commitOffsets(p),
        (out) => out.map((o) => (o === 'ok' ? { type: 'ok' } : { type: 'fail', code: o })),
      ),
      seekGroup: (p) => rec.record(
        [{ f: 'seek', args: { topic: p.topic, group: p.group } }],
        () => backend.seekGroup(p),
        (offsets) => [{ type: 'ok', value: { offsets: offsets.map((o) => ({ partition: o.partition, committed: o.committed })) } }],
      ),
    };
    return new Proxy(backend, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && prop in overrides) return (overrides as Record<string, unknown>)[prop];
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

/** How a thrown error is recorded: refused (typed, changed nothing) or unknown. */
export function classifyError(err: unknown): Completion {
  const message = err instanceof Error ? err.message : String(err);
  // Duck-typed (not instanceof): a backend may load another copy of @spindle/core (dist vs src).
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && REFUSING_CODES.has(code as SpindleErrorCode)) return { type: 'fail', code, message };
  return { type: 'info', error: message };
}

/** Reads and merges the history files of several processes. */
export function readHistoryFiles(files: readonly string[]): Op[] {
  return mergeLines(files.flatMap((f) => parseLines(readFileSync(f, 'utf8'))));
}
