/**
 * `spindle schedules ls|show|set|pause|resume|run|rm`: cron and interval schedules stored in the
 * database (docs/decisions/0011-schedules.md). `set` creates or redefines one (every option
 * replaced, the paused flag kept unless `--paused`); the maintenance leader of a running
 * `spindle serve` (or any client with maintenance) fires it.
 *
 * Invariants:
 * - Arguments are checked before the database is opened or the server contacted — `set` runs the
 *   library's own schedule validation (cron syntax, time zone, cron xor every, ranges) — so bad
 *   input exits 2 and writes nothing (docs/decisions/0010-cli.md).
 * - A schedule that does not exist is exit 3 (show, pause, resume, run, rm).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { checkScheduleSpec, DEFAULT_MAX_PAYLOAD_BYTES, Issues } from '@spindle/core';
import type { ScheduleDetailView, ScheduleRequest, ScheduleView } from '../api/types.js';
import { Context } from '../context.js';
import { notFound, usageError } from '../errors.js';
import { formatAge, formatDuration, snippet, type Output } from '../output.js';
import { checkName, intParser, parseMaxRetries, parseName, parsePriority, readPayload } from '../parse.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** `500ms`, `30s`, `5m`, `1h`, `1d` or plain milliseconds; at least one second. */
export function parseEvery(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 'ms']! : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > TEN_YEARS_MS) throw new InvalidArgumentError('must be an interval of at least 1s, e.g. 30s, 5m, 1h or 60000 (ms)');
  return ms;
}

interface SetOptions {
  queue?: string;
  cron?: string;
  every?: number;
  tz?: string;
  jobName?: string;
  data?: string;
  priority?: number | string;
  maxRetries?: number;
  timeout?: number;
  backfill?: number;
  paused?: boolean;
}

/** `0 9 * * 1-5 (Europe/Berlin)` or `every 5m 00s`. */
function when(s: ScheduleView): string {
  if (s.cron !== null) return s.timezone === 'UTC' ? s.cron : `${s.cron} (${s.timezone})`;
  return `every ${formatDuration(s.everyMs)}`;
}

function renderList(out: Output, schedules: ScheduleView[]): void {
  if (schedules.length === 0) return out.line('no schedules (create one with `spindle schedules set`)');
  const c = out.color;
  out.table(
    ['NAME', 'QUEUE', 'JOB', 'WHEN', 'STATE', 'NEXT RUN', 'LAST RUN'],
    schedules.map((s) => [s.name, s.queue, s.jobName, when(s), s.paused ? c.yellow('paused') : 'active', formatAge(s.nextRunAt), formatAge(s.lastRunAt)]),
  );
}

function renderDetail(out: Output, s: ScheduleDetailView): void {
  const c = out.color;
  const field = (label: string, value: string) => out.line(`  ${c.dim(label.padEnd(12))}${value}`);
  const at = (iso: string | null) => (iso ? `${iso}  (${formatAge(iso)})` : '-');
  out.line(`${c.bold(`schedule ${s.name}`)}  ${s.paused ? c.yellow('paused') : 'active'}`);
  field('when', when(s));
  field('queue', s.queue);
  field('job', s.jobName);
  if (s.payload !== undefined) field('payload', snippet(s.payload, 200));
  field('options', Object.keys(s.jobOptions).length === 0 ? '-' : snippet(s.jobOptions, 200));
  field('backfill', s.backfill === 0 ? '0 (missed ticks skipped)' : `up to ${s.backfill} missed ticks`);
  field('next run', at(s.nextRunAt));
  field('last run', at(s.lastRunAt));
  field('last job', s.lastJobId ?? '-');
  field('updated', `${at(s.updatedAt)}  (version ${s.version})`);
  field(s.paused ? 'if resumed' : 'upcoming', s.upcoming.length === 0 ? '-' : s.upcoming[0]!);
  for (const run of s.upcoming.slice(1)) out.line(`  ${' '.repeat(12)}${run}`);
}

/** The request of `set`, checked by the library's rules before anything is opened. */
function buildRequest(name: string, options: SetOptions): ScheduleRequest {
  if (!options.queue) throw usageError('schedules set needs --queue <queue>');
  if ((options.cron === undefined) === (options.every === undefined)) throw usageError('give exactly one of --cron <expression> or --every <interval>');
  const request: ScheduleRequest = { queue: options.queue };
  if (options.cron !== undefined) request.cron = options.cron;
  if (options.every !== undefined) request.everyMs = options.every;
  if (options.tz !== undefined) request.timezone = options.tz;
  if (options.jobName !== undefined) request.jobName = options.jobName;
  if (options.data !== undefined) request.payload = readPayload(undefined, options.data);
  const jobOptions: NonNullable<ScheduleRequest['jobOptions']> = {};
  if (options.priority !== undefined) jobOptions.priority = options.priority;
  if (options.maxRetries !== undefined) jobOptions.maxRetries = options.maxRetries;
  if (options.timeout !== undefined) jobOptions.timeoutMs = options.timeout;
  if (Object.keys(jobOptions).length > 0) request.jobOptions = jobOptions;
  if (options.backfill !== undefined) request.backfill = options.backfill;
  if (options.paused) request.paused = true;
  const issues = new Issues();
  checkScheduleSpec(issues, name, request, DEFAULT_MAX_PAYLOAD_BYTES);
  if (!issues.ok) throw usageError(`invalid schedule: ${issues.list.map((i) => `${i.path.replace(/^spec\./, '')} ${i.message}`).join('; ')}`);
  return request;
}

export function registerSchedules(program: Command): void {
  const schedules = program.command('schedules').description('list, define, pause, resume, run and remove cron/interval schedules');

  schedules
    .command('ls')
    .description('every schedule: when it fires, its state, next and last run')
    .option('--queue <queue>', 'only schedules enqueuing into this queue', parseName)
    .action(async (options: { queue?: string }, command: Command) => {
      const ctx = Context.from(command);
      const list = await ctx.withApi((api) => api.listSchedules(options.queue));
      if (ctx.out.json) return ctx.out.printJson({ schedules: list });
      renderList(ctx.out, list);
    });

  schedules
    .command('show')
    .description('one schedule with its next runs')
    .argument('<name>', 'schedule name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkName('schedule name', name);
      const schedule = await ctx.withApi(async (api) => {
        const found = await api.getSchedule(name);
        if (!found) throw notFound(`no schedule ${name} (see \`spindle schedules ls\`)`);
        return found;
      });
      if (ctx.out.json) return ctx.out.printJson(schedule);
      renderDetail(ctx.out, schedule);
    });

  schedules
    .command('set')
    .description('create or redefine a schedule (every option replaced; the paused flag kept unless --paused)')
    .argument('<name>', 'schedule name')
    .option('--queue <queue>', 'queue the jobs go to (required)', parseName)
    .option('--cron <expression>', 'cron expression: 5 fields, 6 with seconds first, or @daily, @hourly…')
    .option('--every <interval>', 'fixed interval instead of cron: 30s, 5m, 1h, 1d or milliseconds (at least 1s)', parseEvery)
    .option('--tz <zone>', 'IANA time zone of the cron expression (default UTC)')
    .option('--job-name <name>', 'the jobs\u2019 name (default: the schedule name)', parseName)
    .option('--data <json|@file>', 'the jobs\u2019 payload: inline JSON, @file.json, or @- for stdin (default null)')
    .option('--priority <n>', 'critical, high, normal (default), low, or 0..1000', parsePriority)
    .option('--max-retries <n>', 'retries after the first attempt (default 3)', parseMaxRetries)
    .option('--timeout <ms>', 'per-attempt time limit in milliseconds', intParser(1, 2 ** 31 - 1, 'a number of milliseconds'))
    .option('--backfill <n>', 'missed ticks to enqueue after downtime, 0..1000 (default 0: skipped)', intParser(0, 1000))
    .option('--paused', 'store it paused')
    .action(async (name: string, options: SetOptions, command: Command) => {
      const ctx = Context.from(command);
      checkName('schedule name', name);
      const request = buildRequest(name, options);
      const { schedule, created } = await ctx.withApi((api) => api.putSchedule(name, request), { create: true });
      if (ctx.out.json) return ctx.out.printJson({ ...schedule, created });
      const next = schedule.nextRunAt ? `next run ${schedule.nextRunAt} (${formatAge(schedule.nextRunAt)})` : 'paused';
      ctx.out.line(`${created ? 'created' : 'updated'} schedule ${name} → ${schedule.queue}/${schedule.jobName}, ${when(schedule)}; ${next}`);
    });

  for (const action of ['pause', 'resume'] as const) {
    schedules
      .command(action)
      .description(action === 'pause' ? 'pause a schedule: ticks that fall while paused are skipped' : 'resume a paused schedule from its next tick')
      .argument('<name>', 'schedule name')
      .action(async (name: string, _options: unknown, command: Command) => {
        const ctx = Context.from(command);
        checkName('schedule name', name);
        const schedule = await ctx.withApi((api) => api.scheduleAction(name, action));
        if (ctx.out.json) return ctx.out.printJson(schedule);
        ctx.out.line(action === 'pause' ? `paused schedule ${name}` : `resumed schedule ${name}; next run ${schedule.nextRunAt ?? '-'}`);
      });
  }

  schedules
    .command('run')
    .description('enqueue one job of the schedule now and print its id (not a tick: the schedule is unchanged)')
    .argument('<name>', 'schedule name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkName('schedule name', name);
      const result = await ctx.withApi((api) => api.runSchedule(name));
      if (ctx.out.json) return ctx.out.printJson(result);
      ctx.out.line(result.id);
    });

  schedules
    .command('rm')
    .description('delete a schedule (the jobs it enqueued stay)')
    .argument('<name>', 'schedule name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = Context.from(command);
      checkName('schedule name', name);
      const removed = await ctx.withApi((api) => api.removeSchedule(name));
      if (!removed) throw notFound(`no schedule ${name} (see \`spindle schedules ls\`)`);
      if (ctx.out.json) return ctx.out.printJson({ name, removed: true });
      ctx.out.line(`removed schedule ${name}`);
    });
}
