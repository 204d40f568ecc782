/**
 * `spindle queues ls|pause|resume|limit`: every queue with its counts, DLQ depth, oldest waiting
 * job, limits and live workers; pause (claims skip the queue, enqueues continue) and resume;
 * limits across processes (`--concurrency`, `--rate 100/1m`, per group `--group-concurrency`,
 * `--group-rate`, `--fifo`; `limit` replaces them all).
 *
 * Invariant: pausing or resuming a queue that never had a job is exit 3 (a typo must not create
 * a paused phantom queue) unless `--force` says it is meant (pausing ahead of a deploy).
 */
import type { Command } from 'commander';
import type { QueueView, WorkerView } from '../api/types.js';
import { Context, requireQueue } from '../context.js';
import { formatDuration } from '../output.js';
import { InvalidArgumentError } from 'commander';
import { MAX_QUEUE_LIMIT, MAX_RATE_INTERVAL_MS, MIN_RATE_INTERVAL_MS } from '@spindle/core';
import { checkName, intParser } from '../parse.js';
import { workersByQueue } from '../stats.js';

function renderQueues(ctx: Context, queues: QueueView[], workers: WorkerView[]): void {
  const c = ctx.out.color;
  if (queues.length === 0) return ctx.out.line('no queues yet (enqueue a job to create one)');
  const byQueue = workersByQueue(workers);
  ctx.out.table(
    ['QUEUE', 'STATE', 'QUEUED', 'RUNNING', 'DELAYED', 'COMPLETED', 'DEAD', 'DLQ', 'OLDEST', 'LIMITS', 'WORKERS'],
    queues.map((q) => {
      const w = byQueue.get(q.name);
      return [
        q.name,
        q.paused ? c.yellow('paused') : q.heldUntil ? c.yellow('held') : 'active',
        q.counts.queued,
        q.counts.running,
        q.counts.scheduled + q.counts.retrying,
        q.counts.completed,
        q.counts.dead,
        q.dlqDepth > 0 ? c.red(String(q.dlqDepth)) : 0,
        q.oldestQueuedAgeMs > 0 ? formatDuration(q.oldestQueuedAgeMs) : '-',
        describeLimits(q.limits),
        w ? `${w.workers} (${w.busy}/${w.concurrency} busy)` : '-',
      ];
    }),
  );
}

interface LimitOptions {
  concurrency?: number | null;
  rate?: { max: number; intervalMs: number } | null;
  groupConcurrency?: number | null;
  groupRate?: { max: number; intervalMs: number } | null;
  fifo?: boolean;
  force?: boolean;
}

/** `2 running, 100/1m, 1 running per group`, or `-`. */
export function describeLimits(limits: QueueView['limits']): string {
  const parts: string[] = [];
  if (limits.concurrency !== null) parts.push(`${limits.concurrency} running`);
  if (limits.rate !== null) parts.push(`${limits.rate.max}/${compactInterval(limits.rate.intervalMs)}`);
  if (limits.fifo) parts.push('fifo per group');
  else if (limits.groupConcurrency != null) parts.push(`${limits.groupConcurrency} running per group`);
  if (limits.groupRate != null) parts.push(`${limits.groupRate.max}/${compactInterval(limits.groupRate.intervalMs)} per group`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

const RATE_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An interval as `--rate` writes it: `1m`, `500ms`, `90s`. */
function compactInterval(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) if (ms % RATE_UNITS[unit]! === 0) return `${ms / RATE_UNITS[unit]!}${unit}`;
  return `${ms}ms`;
}

/** `100/1m`, `5/500ms`, `10/s` (or `none`) → a rate limit. */
export function parseRate(value: string): { max: number; intervalMs: number } | null {
  if (value === 'none') return null;
  const m = /^(\d+)\/(\d*)(ms|s|m|h|d)$/.exec(value.trim());
  const max = m ? Number(m[1]) : NaN;
  const intervalMs = m ? Number(m[2] === '' ? 1 : m[2]) * RATE_UNITS[m[3]!]! : NaN;
  if (!(max >= 1 && max <= MAX_QUEUE_LIMIT && intervalMs >= MIN_RATE_INTERVAL_MS && intervalMs <= MAX_RATE_INTERVAL_MS)) {
    throw new InvalidArgumentError(`must be <max>/<interval> like 100/1m, 5/500ms or 10/s (1..${MAX_QUEUE_LIMIT} per 10ms..1d), or none`);
  }
  return { max, intervalMs };
}

/** A concurrency limit (or `none`). */
export function parseConcurrencyLimit(value: string): number | null {
  return value === 'none' ? null : intParser(1, MAX_QUEUE_LIMIT)(value);
}

export function registerQueues(program: Command): void {
  const queues = program.command('queues').description('list, pause and resume queues');

  queues
    .command('ls')
    .description('every queue: counts by state, DLQ depth, oldest waiting job, workers')
    .action(async (_options: unknown, command: Command) => {
      const ctx = Context.from(command);
      const [list, workers] = await ctx.withApi((api) => Promise.all([api.listQueues(), api.listWorkers()]));
      if (ctx.out.json) {
        const byQueue = workersByQueue(workers);
        return ctx.out.printJson({ queues: list.map((q) => ({ ...q, workers: byQueue.get(q.name)?.workers ?? 0 })) });
      }
      renderQueues(ctx, list, workers);
    });

  for (const action of ['pause', 'resume'] as const) {
    queues
      .command(action)
      .description(action === 'pause' ? 'pause a queue: workers stop claiming its jobs, enqueues continue' : 'resume a paused queue')
      .argument('<queue>', 'queue name')
      .option('--force', action === 'pause' ? 'pause even a queue that has never had a job' : 'resume even a queue that has never had a job')
      .action(async (name: string, options: { force?: boolean }, command: Command) => {
        const ctx = Context.from(command);
        checkName('queue name', name);
        await ctx.withApi(async (api) => {
          if (!options.force) await requireQueue(api, name);
          await (action === 'pause' ? api.pauseQueue(name) : api.resumeQueue(name));
        });
        if (ctx.out.json) return ctx.out.printJson({ name, paused: action === 'pause' });
        ctx.out.line(`${action === 'pause' ? 'paused' : 'resumed'} queue ${name}`);
      });
  }

  queues
    .command('limit')
    .description('set limits across every process: at most N running, at most N started per interval (replaces the queue\'s limits)')
    .argument('<queue>', 'queue name')
    .option('--concurrency <n|none>', 'most jobs of the queue running at once, across processes', parseConcurrencyLimit)
    .option('--rate <max/interval|none>', 'most jobs started per sliding interval, e.g. 100/1m, 5/500ms, 10/s', parseRate)
    .option('--group-concurrency <n|none>', 'most jobs of one group running at once (tenant groups)', parseConcurrencyLimit)
    .option('--group-rate <max/interval|none>', 'most jobs of one group started per sliding interval (a rate limit per key)', parseRate)
    .option('--fifo', 'one job per group in flight, in submission order')
    .option('--force', 'limit even a queue that has never had a job')
    .action(async (name: string, options: LimitOptions, command: Command) => {
      const ctx = Context.from(command);
      checkName('queue name', name);
      const limits = {
        concurrency: options.concurrency ?? null,
        rate: options.rate ?? null,
        groupConcurrency: options.groupConcurrency ?? null,
        groupRate: options.groupRate ?? null,
        fifo: options.fifo === true,
      };
      await ctx.withApi(async (api) => {
        if (!options.force) await requireQueue(api, name);
        await api.setQueueLimits(name, limits);
      });
      if (ctx.out.json) return ctx.out.printJson({ name, limits });
      ctx.out.line(`queue ${name}: ${describeLimits(limits) === '-' ? 'no limits' : describeLimits(limits)}`);
    });
}
