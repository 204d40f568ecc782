/**
 * `spindle jobs ls|show|tail`: search jobs (queue, state, name filters, cursor paging), show one
 * job, and follow one live (tail.ts).
 *
 * Invariant: `--queue` naming a queue that never had a job is exit 3, like every command that
 * names a queue it reads (docs/decisions/0010-cli.md).
 */
import type { Command } from 'commander';
import type { JobState } from '@spindle/core';
import { Context, requireJob, requireQueue } from '../context.js';
import { checkJobId, parseLimit, parseName, parseStates } from '../parse.js';
import { renderJobDetail, renderJobTable } from '../render/jobs.js';
import { tailJob } from './tail.js';

interface LsOptions {
  queue?: string;
  state?: JobState[];
  name?: string;
  limit: number;
  cursor?: string;
  oldest?: boolean;
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('list, show and follow jobs');

  jobs
    .command('ls')
    .description('list jobs, newest first')
    .option('--queue <queue>', 'only this queue', parseName)
    .option('--state <states>', 'only these states, comma-separated (e.g. queued,running)', parseStates)
    .option('--name <name>', 'only jobs of this name', parseName)
    .option('--limit <n>', 'page size, 1..1000', parseLimit, 50)
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .option('--oldest', 'oldest first')
    .action(async (options: LsOptions, command: Command) => {
      const ctx = Context.from(command);
      const page = await ctx.withApi(async (api) => {
        if (options.queue) await requireQueue(api, options.queue);
        return api.listJobs({
          ...(options.queue ? { queue: options.queue } : {}),
          ...(options.state ? { states: options.state } : {}),
          ...(options.name ? { name: options.name } : {}),
          limit: options.limit,
          ...(options.cursor ? { cursor: options.cursor } : {}),
          ...(options.oldest ? { order: 'oldest' as const } : {}),
        });
      });
      if (ctx.out.json) return ctx.out.printJson(page);
      renderJobTable(ctx.out, page);
    });

  jobs
    .command('show')
    .description('show one job: status, progress, payload, result, errors')
    .argument('<id>', 'job id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkJobId(id);
      const job = await ctx.withApi((api) => requireJob(api, id));
      if (ctx.out.json) return ctx.out.printJson(job);
      renderJobDetail(ctx.out, job);
    });

  jobs
    .command('tail')
    .description('follow a job live until it finishes (exit 0 completed, 5 dead or cancelled)')
    .argument('<id>', 'job id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkJobId(id);
      await tailJob(ctx, id);
    });
}
