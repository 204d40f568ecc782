/**
 * `spindle enqueue <queue> <name> [payload-json]`: adds one job and prints its id (only the id,
 * so `ID=$(spindle enqueue …)` works; `--json` prints `{id, status, duplicate}`).
 *
 * Invariant: the queue and job names, the options and the payload JSON are checked before the
 * database is opened or the server contacted: bad input exits 2 and writes nothing.
 */
import type { Command } from 'commander';
import type { EnqueueRequest } from '../api/types.js';
import { Context } from '../context.js';
import { checkName, parseDelay, parseJobId, parseMaxRetries, parsePriority, readPayload } from '../parse.js';

interface EnqueueOptions {
  data?: string;
  delay?: number;
  priority?: number | string;
  jobId?: string;
  maxRetries?: number;
}

export function registerEnqueue(program: Command): void {
  program
    .command('enqueue')
    .description('add a job to a queue and print its id')
    .argument('<queue>', 'queue name')
    .argument('<name>', 'job name (its type, e.g. send-email)')
    .argument('[payload-json]', 'payload as JSON (default null)')
    .option('--data <json|@file>', 'payload: inline JSON, @file.json, or @- for stdin')
    .option('--delay <ms>', 'run no earlier than this many milliseconds from now', parseDelay)
    .option('--priority <n>', 'critical, high, normal (default), low, or 0..1000; lower runs first', parsePriority)
    .option('--job-id <id>', 'caller-chosen id; enqueueing an existing id adds nothing', parseJobId)
    .option('--max-retries <n>', 'retries after the first attempt (default 3)', parseMaxRetries)
    .action(async (queue: string, name: string, payloadArg: string | undefined, options: EnqueueOptions, command: Command) => {
      const ctx = Context.from(command);
      checkName('queue name', queue);
      checkName('job name', name);
      const payload = readPayload(payloadArg, options.data);
      const request: EnqueueRequest = { name, payload, opts: {} };
      if (options.jobId !== undefined) request.opts.id = options.jobId;
      if (options.delay !== undefined) request.opts.delay = options.delay;
      if (options.priority !== undefined) request.opts.priority = options.priority;
      if (options.maxRetries !== undefined) request.opts.maxRetries = options.maxRetries;
      const result = await ctx.withApi((api) => api.enqueue(queue, request), { create: true });
      if (ctx.out.json) return ctx.out.printJson(result);
      ctx.out.line(result.id);
      if (result.duplicate) ctx.out.note(`spindle: job ${result.id} already existed (status ${result.status}); nothing was added`);
    });
}
