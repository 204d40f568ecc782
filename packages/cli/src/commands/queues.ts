/**
 * `spindle queues ls|pause|resume`: every queue with its counts, DLQ depth, oldest waiting job
 * and live workers; pause (claims skip the queue, enqueues continue) and resume.
 *
 * Invariant: pausing or resuming a queue that never had a job is exit 3 (a typo must not create
 * a paused phantom queue) unless `--force` says it is meant (pausing ahead of a deploy).
 */
import type { Command } from 'commander';
import type { QueueView, WorkerView } from '../api/types.js';
import { Context, requireQueue } from '../context.js';
import { formatDuration } from '../output.js';
import { checkName } from '../parse.js';
import { workersByQueue } from '../stats.js';

function renderQueues(ctx: Context, queues: QueueView[], workers: WorkerView[]): void {
  const c = ctx.out.color;
  if (queues.length === 0) return ctx.out.line('no queues yet (enqueue a job to create one)');
  const byQueue = workersByQueue(workers);
  ctx.out.table(
    ['QUEUE', 'STATE', 'QUEUED', 'RUNNING', 'DELAYED', 'COMPLETED', 'DEAD', 'DLQ', 'OLDEST', 'WORKERS'],
    queues.map((q) => {
      const w = byQueue.get(q.name);
      return [
        q.name,
        q.paused ? c.yellow('paused') : 'active',
        q.counts.queued,
        q.counts.running,
        q.counts.scheduled + q.counts.retrying,
        q.counts.completed,
        q.counts.dead,
        q.dlqDepth > 0 ? c.red(String(q.dlqDepth)) : 0,
        q.oldestQueuedAgeMs > 0 ? formatDuration(q.oldestQueuedAgeMs) : '-',
        w ? `${w.workers} (${w.busy}/${w.concurrency} busy)` : '-',
      ];
    }),
  );
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
}
