/**
 * `spindle dlq ls|show|groups`: read the dead-letter queue — depth per queue, the dead jobs of
 * one queue, one dead job with its whole failure story, and dead jobs grouped by reason. The
 * actions (replay, purge, resolve) are in dlq-actions.ts.
 */
import type { Command } from 'commander';
import { Context, requireJob, requireQueue } from '../context.js';
import { notFound } from '../errors.js';
import { formatAge, truncate } from '../output.js';
import { checkJobId, checkName, parseLimit, parseName } from '../parse.js';
import { renderDeadTable, renderJobDetail } from '../render/jobs.js';
import { registerDlqActions } from './dlq-actions.js';

interface LsOptions {
  limit: number;
  cursor?: string;
  name?: string;
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and act on dead-letter queues');

  dlq
    .command('ls')
    .description('DLQ depth per queue; with a queue, its dead jobs (newest first)')
    .argument('[queue]', 'queue whose dead jobs to list')
    .option('--name <name>', 'only dead jobs of this name', parseName)
    .option('--limit <n>', 'page size, 1..1000', parseLimit, 50)
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .action(async (queue: string | undefined, options: LsOptions, command: Command) => {
      const ctx = Context.from(command);
      if (queue === undefined) {
        const depths = await ctx.withApi((api) => api.dlqDepth());
        if (ctx.out.json) return ctx.out.printJson({ queues: depths });
        if (depths.length === 0) return ctx.out.line('every DLQ is empty');
        return ctx.out.table(['QUEUE', 'DEAD (UNRESOLVED)'], depths.map((d) => [d.queue, ctx.out.color.red(String(d.depth))]));
      }
      checkName('queue name', queue);
      const page = await ctx.withApi(async (api) => {
        await requireQueue(api, queue);
        return api.dlqJobs(queue, { limit: options.limit, ...(options.cursor ? { cursor: options.cursor } : {}), ...(options.name ? { name: options.name } : {}) });
      });
      if (ctx.out.json) return ctx.out.printJson(page);
      renderDeadTable(ctx.out, page);
    });

  dlq
    .command('show')
    .description('one dead job: failure reason, every attempt error with its stack, resolution')
    .argument('<id>', 'job id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkJobId(id);
      const job = await ctx.withApi(async (api) => {
        const found = await requireJob(api, id);
        if (found.status !== 'dead') throw notFound(`job ${id} is not in the DLQ (status ${found.status})`);
        return found;
      });
      if (ctx.out.json) return ctx.out.printJson(job);
      renderJobDetail(ctx.out, job, true);
    });

  dlq
    .command('groups')
    .description("a queue's dead jobs grouped by failure reason, biggest group first")
    .argument('<queue>', 'queue name')
    .option('--limit <n>', 'at most this many groups, 1..1000', parseLimit, 100)
    .action(async (queue: string, options: { limit: number }, command: Command) => {
      const ctx = Context.from(command);
      checkName('queue name', queue);
      const groups = await ctx.withApi(async (api) => {
        await requireQueue(api, queue);
        return api.dlqGroups(queue, options.limit);
      });
      if (ctx.out.json) return ctx.out.printJson({ groups });
      if (groups.length === 0) return ctx.out.line(`the DLQ of ${queue} is empty`);
      ctx.out.table(
        ['COUNT', 'REASON', 'FIRST', 'LAST', 'SAMPLE JOB'],
        groups.map((g) => [g.count, truncate(g.reason, 60), formatAge(g.firstFailedAt), formatAge(g.lastFailedAt), g.sampleJobId]),
      );
    });

  registerDlqActions(dlq);
}
