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
import { checkName, parseDelay, parseJobId, parseMaxRetries, parseOnConflict, parsePriority, parseUniqueKey, parseUniqueWhile, readPayload } from '../parse.js';
import { usageError } from '../errors.js';

interface EnqueueOptions {
  data?: string;
  delay?: number;
  priority?: number | string;
  jobId?: string;
  maxRetries?: number;
  group?: string;
  unique?: string;
  uniqueWhile?: 'queued' | 'active' | { forMs: number };
  onConflict?: 'keep' | 'replace';
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
    .option('--group <key>', "tenant group: claims rotate across the queue's groups")
    .option('--unique <key>', 'unique key: adds nothing while a job of the queue holds it (see --unique-while)', parseUniqueKey)
    .option('--unique-while <mode>', 'how long --unique is held: queued (until the job starts), active (default: until it finishes), or <ms> from the add', parseUniqueWhile)
    .option('--on-conflict <keep|replace>', 'when the key is held: keep (default) or replace the holder\'s payload and run time if it has not started', parseOnConflict)
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
      if (options.group !== undefined) request.opts.group = options.group;
      if (options.unique === undefined && (options.uniqueWhile !== undefined || options.onConflict !== undefined)) {
        throw usageError('--unique-while and --on-conflict need --unique <key>');
      }
      if (options.unique !== undefined) {
        request.opts.unique = {
          key: options.unique,
          ...(options.uniqueWhile !== undefined ? { while: options.uniqueWhile } : {}),
          ...(options.onConflict !== undefined ? { onConflict: options.onConflict } : {}),
        };
      }
      const result = await ctx.withApi((api) => api.enqueue(queue, request), { create: true });
      if (ctx.out.json) return ctx.out.printJson(result);
      ctx.out.line(result.id);
      if (result.replaced) ctx.out.note(`spindle: job ${result.id} held the unique key and had not started: it took this payload and run time`);
      else if (result.duplicate) ctx.out.note(`spindle: job ${result.id} already existed (status ${result.status}); nothing was added`);
    });
}
