/**
 * Hand-made histories for the checker's tests: a tiny builder that appends ops with a logical
 * clock (each op takes 1 ms, 1 ms apart), so tests read like the story they tell. Also a
 * consistent "good" run (jobs, retries, a topic with a consumer) every invariant must accept,
 * which the bad-history tests mutate.
 */
import type { ClaimedLease, Op, OpKind, Outcome } from '../src/history.js';
import type { FinalJob, FinalState } from '../src/final-state.js';

export class H {
  readonly ops: Op[] = [];
  t = 1000;
  private idx = new Map<string, number>();

  op(proc: string, f: OpKind, args: Record<string, unknown>, outcome: Outcome = { type: 'ok' }, opts: { at?: number; dur?: number; open?: boolean } = {}): Op {
    if (opts.at !== undefined) this.t = opts.at;
    const index = (this.idx.get(proc) ?? 0) + 1;
    this.idx.set(proc, index);
    const invokeAt = this.t;
    this.t += opts.dur ?? 1;
    const op: Op = { proc, index, f, args, invokeAt, completeAt: opts.open ? null : this.t, outcome };
    this.t += 1;
    this.ops.push(op);
    return op;
  }

  enqueue(id: string, o: { proc?: string; payload?: string; uniqueKey?: string | null; group?: string | null; queue?: string; maxRetries?: number; runAt?: number | null; delayMs?: number | null; outcome?: Outcome } = {}): Op {
    const args = {
      jobId: id, queue: o.queue ?? 'q', payload: o.payload ?? JSON.stringify({ v: id }), uniqueKey: o.uniqueKey ?? null, group: o.group ?? null,
      maxRetries: o.maxRetries ?? 3, runAt: o.runAt ?? null, delayMs: o.delayMs ?? null, now: null,
    };
    return this.op(o.proc ?? 'client', 'enqueue', args, o.outcome ?? { type: 'ok', value: { jobId: id, inserted: true, state: 'queued' } });
  }

  /** A claim returning one lease (DB time = invoke time). */
  claim(proc: string, id: string, attempt: number, o: { round?: number; leaseMs?: number; runAt?: number; maxRetries?: number; token?: string } = {}): ClaimedLease {
    const leaseMs = o.leaseMs ?? 1000;
    const lease: ClaimedLease = {
      jobId: id, queue: 'q', attempt, round: o.round ?? 0, token: o.token ?? `${id}-t${attempt}-r${o.round ?? 0}`,
      maxRetries: o.maxRetries ?? 3, leaseExpiresAt: this.t + leaseMs, leaseMs, runAt: o.runAt ?? 0,
    };
    this.op(proc, 'claim', { queue: 'q', workerId: proc, limit: 1, leaseMs, now: null }, { type: 'ok', value: { leases: [lease] } });
    return lease;
  }

  write(proc: string, f: OpKind, l: ClaimedLease, extra: Record<string, unknown> = {}, outcome: Outcome = { type: 'ok' }): Op {
    return this.op(proc, f, { jobId: l.jobId, attempt: l.attempt, token: l.token, now: null, ...extra }, outcome);
  }

  complete(proc: string, l: ClaimedLease, outcome: Outcome = { type: 'ok' }): Op {
    return this.write(proc, 'complete', l, { result: JSON.stringify({ by: l.token }) }, outcome);
  }
}

export function job(id: string, o: Partial<FinalJob> = {}): FinalJob {
  return {
    id, queue: 'q', state: 'completed', attempt: 1, maxRetries: 3, round: 0, group: null, payload: JSON.stringify({ v: id }),
    result: null, errors: [], createdAt: 1000, runAt: 1000, startedAt: 1001, finishedAt: 1500, ...o,
  };
}

export const resultOf = (l: ClaimedLease): string => JSON.stringify({ by: l.token });

/**
 * The good run: job a completes at once; job b fails, retries after 10 ms and completes; a topic
 * `t` gets two messages, a consumer joins, polls them and commits.
 */
export function goodRun(): { h: H; final: FinalState } {
  const h = new H();
  h.enqueue('a');
  h.enqueue('b');
  const la = h.claim('w1', 'a', 1);
  h.op('w1', 'handler_start', { jobId: 'a', attempt: 1, token: la.token });
  h.write('w1', 'heartbeat', la, { leaseMs: 1000 }, { type: 'ok', value: { cancelRequested: false } });
  h.complete('w1', la);
  const lb = h.claim('w2', 'b', 1);
  h.write('w2', 'fail', lb, { action: 'retry', delayMs: 10, errorKind: 'error' });
  h.t += 20;
  const lb2 = h.claim('w2', 'b', 2, { runAt: h.t - 5 });
  h.complete('w2', lb2);
  h.op('client', 'read', { jobId: 'b' }, { type: 'ok', value: { state: 'completed', attempt: 2, round: 0 } });
  h.op('p', 'publish', { topic: 't', partition: 0, key: 'k', value: '{"m":1}', idemKey: null }, { type: 'ok', value: { partition: 0, offset: 0, duplicate: false } });
  h.op('p', 'publish', { topic: 't', partition: 0, key: 'k', value: '{"m":2}', idemKey: null }, { type: 'ok', value: { partition: 0, offset: 1, duplicate: false } });
  h.op('c1', 'join', { topic: 't', group: 'g', memberId: 'm1', heartbeat: false }, { type: 'ok', value: { generation: 1, members: ['m1'], partitions: [0] } });
  h.op('c1', 'fetch', { topic: 't', partition: 0, offset: 0, limit: 10 }, { type: 'ok', value: { messages: [{ offset: 0, key: 'k', value: '{"m":1}' }, { offset: 1, key: 'k', value: '{"m":2}' }], startOffset: 0, highWater: 2 } });
  h.op('c1', 'commit', { topic: 't', group: 'g', memberId: 'm1', generation: 1, partition: 0, offset: 2 });
  h.op('c1', 'fetch', { topic: 't', partition: 0, offset: 2, limit: 10 }, { type: 'ok', value: { messages: [], startOffset: 0, highWater: 2 } });
  const final: FinalState = {
    readAt: h.t,
    jobs: [
      job('a', { result: resultOf(la) }),
      job('b', { attempt: 2, result: resultOf(lb2), errors: [{ attempt: 1, round: 0, kind: 'error' }] }),
    ],
    partitions: [{ topic: 't', partition: 0, startOffset: 0, highWater: 2, messages: [{ offset: 0, key: 'k', value: '{"m":1}' }, { offset: 1, key: 'k', value: '{"m":2}' }] }],
    groups: [{ topic: 't', group: 'g', generation: 1, offsets: [{ partition: 0, committed: 2 }] }],
  };
  return { h, final };
}
