/**
 * C9 (reliability.md §5.3): kill -9 the API server while HTTP clients enqueue, claim and ack.
 *
 * The drive: `loops` client loops (procs `c9.<n>`) each mix enqueues (explicit job ids; half of
 * them with an Idempotency-Key), HTTP-worker claims (batch 1–4), heartbeats (of leases held past
 * `heartbeatMs`) and acks (complete, or fail with a short retry delay) until `operations` client
 * requests were made; the nemesis SIGKILLs the server `kills` times, evenly over the operations,
 * and starts it again on the same port after `restartDelayMs`. A call cut by a kill is `unknown`
 * and retried — an enqueue with the same id and key until it is answered, an ack with the same
 * token until it is answered (then 200 or 409) — so every value ends acknowledged or refused.
 * After the budget each loop settles what it holds (retries, acks), then the harness drains.
 *
 * Pass: the checker finds nothing (I1: every 2xx enqueue is terminal after the drain; I7: no
 * claim returns a job after its ack was acknowledged; I8: an unknown enqueue is stored at most
 * once, a keyed one at most once; duplicate executions ≤ Σ leases in flight at each kill), no
 * HTTP 500, and no fail answered with another action than the one recorded.
 */
import type { CheckOptions } from '../checker.js';
import { sleep } from '../faults/nemesis.js';
import { FINALIZES, type Model } from '../model.js';
import type { ReportViolation } from '../scenario/report.js';
import { seededRandom } from '../scenario/settings.js';
import { extraCopies, type HttpRunContext, type HttpSpec } from './harness.js';
import type { EnqueueJob, HttpLease, HttpOutcome, HttpRecorder } from './http-recorder.js';

export interface C9Settings {
  /** Client requests of the drive (the budget). */
  operations: number;
  kills: number;
  loops: number;
  leaseMs: number;
  heartbeatMs: number;
  sweepMs: number;
  maxAttempts: number;
  restartDelayMs: number;
  /** Share of acks that are a fail (retried after 20–200 ms). */
  failShare: number;
  /** Share of enqueues sent with an Idempotency-Key. */
  keyedShare: number;
}

export const C9_TIERS: Record<'quick' | 'full', C9Settings> = {
  quick: { operations: 1000, kills: 4, loops: 4, leaseMs: 2000, heartbeatMs: 660, sweepMs: 500, maxAttempts: 5, restartDelayMs: 200, failShare: 0.1, keyedShare: 0.5 },
  full: { operations: 10_000, kills: 20, loops: 4, leaseMs: 2000, heartbeatMs: 660, sweepMs: 500, maxAttempts: 5, restartDelayMs: 200, failShare: 0.1, keyedShare: 0.5 },
};

const QUEUE = 'c9';

interface Held {
  lease: HttpLease;
  extendedAt: number;
}
type Ack = { lease: HttpLease; kind: 'complete' } | { lease: HttpLease; kind: 'fail'; retryAfterMs: number };

interface Shared {
  ops: number;
  budget: number;
  enqueueRetries: number;
  ackRetries: number;
  /** Enqueues answered 409 idempotency_pending (the key was claimed by a request the kill cut). */
  idempotencyPending: number;
  /** Enqueues or acks refused with a code the scenario does not expect. */
  unexpected: Record<string, number>;
  /** Set when the nemesis failed (the server did not come back): the loops stop. */
  aborted: boolean;
}

/** One client loop: its own leases, its own retries. */
async function clientLoop(ctx: HttpRunContext, http: HttpRecorder, s: C9Settings, shared: Shared, loop: number): Promise<void> {
  const random = seededRandom(ctx.seed ^ (loop * 0x9e3779b1));
  const held: Held[] = [];
  const enqRetry: EnqueueJob[] = [];
  const ackRetry: Ack[] = [];
  let n = 0;
  let backoff = 0;
  const settle = async <T>(o: HttpOutcome<T>): Promise<void> => {
    if (o.kind !== 'unknown') {
      backoff = 0;
      return;
    }
    backoff = Math.min(250, backoff ? backoff * 2 : 20);
    await sleep(backoff);
  };
  const note = (code: string): void => {
    shared.unexpected[code] = (shared.unexpected[code] ?? 0) + 1;
  };
  const enqueue = async (job: EnqueueJob, retry: boolean): Promise<void> => {
    shared.ops++;
    const o = await http.enqueue(QUEUE, job);
    if (retry) shared.enqueueRetries++;
    if (o.kind === 'unknown') {
      if (!retry) enqRetry.push(job);
    } else {
      if (retry) enqRetry.shift();
      if (o.kind === 'refused' && o.code === 'idempotency_pending') {
        // The key was claimed by a request the kill cut before its insert: as documented, use a
        // new key (same id, same body): the job is created at most once either way.
        shared.idempotencyPending++;
        enqRetry.push({ ...job, idempotencyKey: `${job.idempotencyKey ?? 'k'}.r` });
      } else if (o.kind === 'refused') note(`enqueue:${o.code}`);
    }
    await settle(o);
  };
  const ack = async (a: Ack, retry: boolean): Promise<void> => {
    shared.ops++;
    const o = a.kind === 'complete' ? await http.complete(a.lease, { by: http.proc }) : await http.fail(a.lease, { message: 'chaos fail', retryAfterMs: a.retryAfterMs });
    if (retry) shared.ackRetries++;
    if (o.kind === 'unknown') {
      if (!retry) ackRetry.push(a);
    } else {
      if (retry) ackRetry.shift();
      if (o.kind === 'refused' && o.code !== 'lease_lost') note(`${a.kind}:${o.code}`);
    }
    await settle(o);
  };
  const finalizeOne = async (h: Held): Promise<void> => {
    held.splice(held.indexOf(h), 1);
    await ack(random() < s.failShare ? { lease: h.lease, kind: 'fail', retryAfterMs: 20 + Math.floor(random() * 180) } : { lease: h.lease, kind: 'complete' }, false);
  };
  for (;;) {
    if (shared.aborted) return;
    const open = shared.ops < shared.budget;
    if (enqRetry.length > 0) await enqueue(enqRetry[0]!, true);
    else if (ackRetry.length > 0) await ack(ackRetry[0]!, true);
    else {
      const now = Date.now();
      const due = held.find((h) => now - h.extendedAt > s.heartbeatMs);
      if (due) {
        shared.ops++;
        const o = await http.heartbeat(due.lease, s.leaseMs);
        if (o.kind === 'ok') due.extendedAt = now;
        else if (o.kind === 'refused') held.splice(held.indexOf(due), 1);
        await settle(o);
      } else if (!open) {
        if (held.length === 0) return;
        await finalizeOne(held[0]!);
      } else {
        const r = random();
        if (held.length > 0 && (r < 0.45 || held.length >= 8)) await finalizeOne(held[Math.floor(random() * held.length)]!);
        else if (r < 0.75) {
          n++;
          const v = `c9-${ctx.seed}-${loop}-${n}`;
          await enqueue({ id: `j-${ctx.seed}-${loop}-${n}`, name: 'c9', payload: { v }, opts: { maxRetries: s.maxAttempts - 1 }, ...(random() < s.keyedShare ? { idempotencyKey: `k-${v}` } : {}) }, false);
        } else {
          shared.ops++;
          const c = await http.claim(QUEUE, { workerId: http.proc, batch: 1 + Math.floor(random() * 4), leaseMs: s.leaseMs });
          for (const lease of c.leases) held.push({ lease, extendedAt: Date.now() });
          await settle(c);
        }
      }
    }
  }
}

/** Leases in flight at each kill: claimed before it, not yet acknowledged-finalized nor taken over. */
export function leasesInFlightAtKills(model: Model): number[] {
  const kills = model.kind('fault').filter((f) => f.args.fault === 'SIGKILL');
  return kills.map((k) => {
    const t = k.invokeAt;
    let n = 0;
    for (const [, leases] of model.leasesByJob) {
      leases.forEach((l, i) => {
        if (l.op.invokeAt >= t) return;
        if (model.writesWith(l).some((w) => FINALIZES.has(w.f) && w.outcome.type === 'ok' && w.completeAt !== null && w.completeAt < t)) return;
        const next = leases[i + 1];
        if (next && next.op.completeAt !== null && next.op.completeAt < t) return;
        n++;
      });
    }
    return n;
  });
}

export function c9Spec(tier: 'quick' | 'full', overrides: Partial<C9Settings> = {}): HttpSpec {
  const s: C9Settings = { ...C9_TIERS[tier], ...overrides };
  const livenessBoundMs = s.leaseMs + s.sweepMs + s.maxAttempts * 2000 + 30_000;
  return {
    id: 'C9', title: 'Kill -9 the API server', tier, queue: QUEUE, leaseMs: s.leaseMs, sweepMs: s.sweepMs,
    async drive(ctx) {
      const shared: Shared = { ops: 0, budget: s.operations, enqueueRetries: 0, ackRetries: 0, idempotencyPending: 0, unexpected: {}, aborted: false };
      const loops = Array.from({ length: s.loops }, (_, i) => clientLoop(ctx, ctx.client(`c9.${i + 1}`), s, shared, i + 1));
      const nemesis = (async () => {
        for (let k = 1; k <= s.kills; k++) {
          while (shared.ops < (k * s.operations) / (s.kills + 1)) await sleep(5);
          await ctx.server.killAndRestart();
          ctx.log(`kill ${k}/${s.kills} at ${shared.ops} operations; back after ${ctx.server.downtimesMs.at(-1)} ms`);
        }
        ctx.faultsEndAt = Date.now();
      })().catch((err: unknown) => {
        shared.aborted = true;
        throw err;
      });
      const failed = (await Promise.allSettled([...loops, nemesis])).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const down = [...ctx.server.downtimesMs].sort((a, b) => a - b);
      Object.assign(ctx.details, {
        kills: ctx.server.kills, downtimeMs: { p50: down[Math.floor(down.length / 2)] ?? null, max: down.at(-1) ?? null },
        enqueueRetries: shared.enqueueRetries, ackRetries: shared.ackRetries, idempotencyPending: shared.idempotencyPending,
        unexpectedRefusals: shared.unexpected, failActionMismatches: ctx.stats.failActionMismatches,
      });
      return shared.ops;
    },
    checkOptions(ctx, run): CheckOptions {
      const inFlight = leasesInFlightAtKills(run.model);
      ctx.details.leasesInFlightAtKills = inFlight;
      return { maxDuplicateExecutions: inFlight.reduce((a, b) => a + b, 0), livenessBoundMs };
    },
    judge(ctx, run) {
      const violations: ReportViolation[] = [];
      const keyed = new Set<string>();
      for (const op of run.model.kind('enqueue')) if (op.args.uniqueKey) keyed.add(op.args.payload as string);
      const jobs = run.final.jobs.filter((j) => j.queue === QUEUE);
      const duplicates = extraCopies(jobs.filter((j) => keyed.has(j.payload)).map((j) => j.payload));
      const unkeyedDuplicates = extraCopies(jobs.filter((j) => !keyed.has(j.payload)).map((j) => j.payload));
      if (duplicates > 0) violations.push({ rule: 'C9', message: `${duplicates} extra copies of keyed jobs` });
      const errors = ctx.stats.byStatus['500'] ?? 0;
      if (errors > 0) violations.push({ rule: 'C9', message: `${errors} requests answered 500 instead of a typed answer` });
      if (ctx.stats.failActionMismatches > 0) violations.push({ rule: 'C9', message: `${ctx.stats.failActionMismatches} fails answered with another action than recorded` });
      const unexpected = ctx.details.unexpectedRefusals as Record<string, number>;
      if (Object.keys(unexpected).length > 0) violations.push({ rule: 'C9', message: `unexpected refusals: ${JSON.stringify(unexpected)}` });
      return { violations, faults: ctx.server.kills, duplicates, unkeyedDuplicates };
    },
  };
}
