/**
 * C13 (reliability.md §5.3): lost responses. Producers reach the API through the TCP proxy in
 * `dropResponsesAfterRequest` mode: with probability `dropProbability` a response is swallowed
 * after the server answered (the request took effect) and the connection is reset. Producers
 * retry until they get an answer — an enqueue with the same Idempotency-Key and body, a publish
 * with the same message idempotency key — so each value is sent until acknowledged.
 *
 * The drive: `producers` enqueue loops (procs `c13.e<n>`, keyed enqueues without job ids: the
 * key alone must dedup) and `producers` publish loops (`c13.p<n>`, one keyed message per request,
 * partitioned by a message key) through the proxy; every `probeEvery`-th value is probed after
 * its answer with the same key and a different body. Two HTTP workers (`c13.w<n>`) claim and
 * complete straight from the server (not through the proxy) meanwhile; the harness drains.
 *
 * Pass: the checker finds nothing (I1, I8 keyed values stored at most once, I9 keyed messages
 * never stored twice; no duplicate executions); in the final state no keyed job or message is
 * stored twice; an enqueue probe gets 422 `idempotency_key_reused`; a publish probe stores
 * nothing (the API answers the stored message, `duplicate: true`); no HTTP 500; every value was
 * answered; the proxy really dropped responses.
 */
import type { CheckOptions } from '../checker.js';
import { sleep } from '../faults/nemesis.js';
import { startTcpProxy } from '../faults/tcp-proxy.js';
import type { ReportViolation } from '../scenario/report.js';
import { seededRandom } from '../scenario/settings.js';
import { extraCopies, type HttpRunContext, type HttpSpec } from './harness.js';
import { API_PREFIX, type HttpOutcome, type HttpRecorder } from './http-recorder.js';

export interface C13Settings {
  enqueues: number;
  publishes: number;
  dropProbability: number;
  /** Enqueue loops, and as many publish loops. */
  producers: number;
  workers: number;
  partitions: number;
  probeEvery: number;
  leaseMs: number;
  sweepMs: number;
  maxAttempts: number;
  /** Tries per value before a producer gives up (counted, and a violation). */
  maxTries: number;
}

export const C13_TIERS: Record<'quick' | 'full', C13Settings> = {
  quick: { enqueues: 500, publishes: 500, dropProbability: 0.05, producers: 3, workers: 2, partitions: 4, probeEvery: 50, leaseMs: 10_000, sweepMs: 500, maxAttempts: 5, maxTries: 100 },
  full: { enqueues: 5000, publishes: 5000, dropProbability: 0.05, producers: 3, workers: 2, partitions: 4, probeEvery: 50, leaseMs: 10_000, sweepMs: 500, maxAttempts: 5, maxTries: 100 },
};

const QUEUE = 'c13';
const TOPIC = 'c13';

interface Counts {
  ops: number;
  /** Values answered only after a retry. */
  retried: number;
  /** …whose final answer said "already stored" (replay / duplicate). */
  replayed: number;
  unanswered: number;
  enqueueProbes: number;
  enqueueProbes422: number;
  publishProbes: number;
  publishProbesDuplicate: number;
  publishProbes422: number;
  problems: string[];
}

/** Sends until the answer is not unknown (or `maxTries`). */
async function untilAnswered<T>(c: Counts, maxTries: number, send: () => Promise<HttpOutcome<T>>): Promise<{ o: HttpOutcome<T>; tries: number }> {
  let o: HttpOutcome<T>;
  let tries = 0;
  do {
    tries++;
    c.ops++;
    o = await send();
    if (o.kind === 'unknown') await sleep(tries < 3 ? 5 : 50);
  } while (o.kind === 'unknown' && tries < maxTries);
  return { o, tries };
}

async function enqueueLoop(ctx: HttpRunContext, http: HttpRecorder, s: C13Settings, next: () => number | null, c: Counts): Promise<void> {
  for (let i = next(); i !== null; i = next()) {
    const v = `c13-${ctx.seed}-e${i}`;
    const key = `ek-${ctx.seed}-${i}`;
    const { o, tries } = await untilAnswered(c, s.maxTries, () => http.enqueue(QUEUE, { name: 'c13', payload: { v }, opts: { maxRetries: s.maxAttempts - 1 }, idempotencyKey: key }));
    if (o.kind !== 'ok') {
      c.unanswered++;
      c.problems.push(`enqueue ${v}: ${o.kind === 'refused' ? `${o.status} ${o.code}` : o.error}`);
      continue;
    }
    if (tries > 1) c.retried++;
    if (tries > 1 && o.replayed) c.replayed++;
    if (i % s.probeEvery !== 0) continue;
    c.enqueueProbes++;
    const probe = await untilAnswered(c, s.maxTries, () => http.enqueue(QUEUE, { name: 'c13', payload: { v: `${v}-other` }, opts: { maxRetries: s.maxAttempts - 1 }, idempotencyKey: key }));
    if (probe.o.kind === 'refused' && probe.o.status === 422 && probe.o.code === 'idempotency_key_reused') c.enqueueProbes422++;
    else c.problems.push(`enqueue probe ${key} with another body: ${probe.o.kind === 'ok' ? `${probe.o.status} ok` : probe.o.kind === 'refused' ? `${probe.o.status} ${probe.o.code}` : probe.o.error}, not 422`);
  }
}

async function publishLoop(ctx: HttpRunContext, http: HttpRecorder, s: C13Settings, next: () => number | null, c: Counts): Promise<void> {
  for (let i = next(); i !== null; i = next()) {
    const v = `c13-${ctx.seed}-m${i}`;
    const msg = { key: `pk-${i % 32}`, idempotencyKey: `mk-${ctx.seed}-${i}` };
    const { o, tries } = await untilAnswered(c, s.maxTries, () => http.publish(TOPIC, [{ ...msg, value: { v } }]));
    if (o.kind !== 'ok') {
      c.unanswered++;
      c.problems.push(`publish ${v}: ${o.kind === 'refused' ? `${o.status} ${o.code}` : o.error}`);
      continue;
    }
    const stored = o.body.messages[0]!;
    if (tries > 1) c.retried++;
    if (tries > 1 && stored.duplicate) c.replayed++;
    if (i % s.probeEvery !== 0) continue;
    c.publishProbes++;
    const probe = await untilAnswered(c, s.maxTries, () => http.publish(TOPIC, [{ ...msg, value: { v: `${v}-other` } }]));
    const p = probe.o;
    if (p.kind === 'refused' && p.status === 422) c.publishProbes422++;
    else if (p.kind === 'ok' && p.body.messages[0]?.duplicate === true && p.body.messages[0].offset === stored.offset && p.body.messages[0].partition === stored.partition) c.publishProbesDuplicate++;
    else c.problems.push(`publish probe ${msg.idempotencyKey} with another value: ${p.kind === 'ok' ? JSON.stringify(p.body.messages[0]) : p.kind === 'refused' ? `${p.status} ${p.code}` : p.error}`);
  }
}

async function workerLoop(http: HttpRecorder, s: C13Settings, done: () => boolean): Promise<void> {
  while (!done()) {
    const claimed = await http.claim(QUEUE, { workerId: http.proc, batch: 10, leaseMs: s.leaseMs });
    for (const lease of claimed.leases) {
      for (let i = 0; i < 5; i++) if ((await http.complete(lease, { by: http.proc })).kind !== 'unknown') break;
    }
    if (claimed.leases.length === 0) await sleep(50);
  }
}

export function c13Spec(tier: 'quick' | 'full', overrides: Partial<C13Settings> = {}): HttpSpec {
  const s: C13Settings = { ...C13_TIERS[tier], ...overrides };
  const fresh = (): Counts => ({ ops: 0, retried: 0, replayed: 0, unanswered: 0, enqueueProbes: 0, enqueueProbes422: 0, publishProbes: 0, publishProbesDuplicate: 0, publishProbes422: 0, problems: [] });
  // Per run (reset by each drive; judge reads them after it).
  let dropped = 0;
  let counts = fresh();
  return {
    id: 'C13', title: 'Lost responses', tier, queue: QUEUE, leaseMs: s.leaseMs, sweepMs: s.sweepMs,
    async drive(ctx) {
      counts = fresh();
      dropped = 0;
      const created = await fetch(`${ctx.server.url}${API_PREFIX}/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: TOPIC, partitions: s.partitions }) });
      if (created.status !== 201) throw new Error(`C13: creating topic ${TOPIC} answered ${created.status}`);
      const random = seededRandom(ctx.seed ^ 0x13);
      const proxy = await startTcpProxy({ target: { port: Number(new URL(ctx.server.url).port) }, recorder: ctx.nemesis, random });
      let producing = true;
      try {
        const counter = (n: number): (() => number | null) => {
          let i = 0;
          return () => (i < n ? i++ : null);
        };
        const nextEnqueue = counter(s.enqueues);
        const nextPublish = counter(s.publishes);
        const workers = Array.from({ length: s.workers }, (_, i) => workerLoop(ctx.client(`c13.w${i + 1}`), s, () => !producing));
        proxy.setMode({ kind: 'dropResponsesAfterRequest', probability: s.dropProbability });
        const producers = Array.from({ length: s.producers }, (_, i) => [
          enqueueLoop(ctx, ctx.client(`c13.e${i + 1}`, `http://127.0.0.1:${proxy.port}`), s, nextEnqueue, counts),
          publishLoop(ctx, ctx.client(`c13.p${i + 1}`, `http://127.0.0.1:${proxy.port}`), s, nextPublish, counts),
        ]).flat();
        const failed = (await Promise.allSettled(producers)).find((r) => r.status === 'rejected');
        proxy.setMode({ kind: 'pass' });
        ctx.faultsEndAt = Date.now();
        producing = false;
        await Promise.all(workers);
        if (failed) throw failed.reason;
      } finally {
        producing = false;
        dropped = proxy.stats.droppedResponses;
        await proxy.close();
      }
      const { problems, ops: _ops, ...figures } = counts;
      Object.assign(ctx.details, { droppedResponses: dropped, ...figures, problems: problems.slice(0, 20) });
      return counts.ops;
    },
    checkOptions(): CheckOptions {
      return { maxDuplicateExecutions: 0, livenessBoundMs: s.leaseMs + s.sweepMs + s.maxAttempts * 2000 + 30_000 };
    },
    judge(ctx, run) {
      const violations: ReportViolation[] = [];
      const jobs = run.final.jobs.filter((j) => j.queue === QUEUE).map((j) => j.payload);
      const messages = run.final.partitions.filter((p) => p.topic === TOPIC).flatMap((p) => p.messages.map((m) => m.value));
      const jobDuplicates = extraCopies(jobs);
      const messageDuplicates = extraCopies(messages);
      if (jobDuplicates > 0) violations.push({ rule: 'C13', message: `${jobDuplicates} extra copies of keyed jobs in the final state` });
      if (messageDuplicates > 0) violations.push({ rule: 'C13', message: `${messageDuplicates} extra copies of keyed messages in the final state` });
      if (jobs.length !== s.enqueues) violations.push({ rule: 'C13', message: `${jobs.length} jobs stored for ${s.enqueues} keyed values` });
      if (messages.length !== s.publishes) violations.push({ rule: 'C13', message: `${messages.length} messages stored for ${s.publishes} keyed values` });
      for (const p of counts.problems) violations.push({ rule: 'C13', message: p });
      const errors = ctx.stats.byStatus['500'] ?? 0;
      if (errors > 0) violations.push({ rule: 'C13', message: `${errors} requests answered 500 instead of a typed answer` });
      if (dropped === 0) violations.push({ rule: 'C13', message: 'the proxy dropped no response: the fault did not happen' });
      return { violations, faults: dropped, duplicates: jobDuplicates + messageDuplicates, unkeyedDuplicates: 0 };
    },
  };
}
