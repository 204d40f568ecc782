/**
 * Schedule routes (docs/decisions/0011-schedules.md): list, read (with the next runs), define
 * (PUT: create or redefine), delete, pause, resume and run now.
 *
 * Invariants:
 * - Access follows the schedule's target queue: reading needs `read` on it (the payload also
 *   `read-payload`), defining, deleting, pausing and resuming need `admin` on it (redefining into
 *   another queue needs `admin` on both), running now needs `enqueue` on it. A key without that
 *   right on the schedule's queue gets 404 like an unknown schedule, so names cannot be probed.
 * - Bad input is a 400 (zod shape here, the core's semantic checks — cron syntax, time zone,
 *   cron xor everyMs — in `client.schedules.upsert`) and changes nothing.
 */
import type { Client, Schedule } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { authorize } from '../auth/guard.js';
import type { Action, Grant } from '../auth/api-keys.js';
import { ApiProblem } from '../http/problem.js';
import { EnqueueResult, JobOptionsSchema, NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { scheduleView } from '../http/views.js';

const ScheduleParams = z.strictObject({ name: NameSchema });

/** How many upcoming runs `GET /schedules/:name` lists. */
const UPCOMING = 5;

const ScheduleJobOptionsSchema = JobOptionsSchema.pick({ priority: true, maxRetries: true, backoff: true, timeoutMs: true, removeOnComplete: true, removeOnFail: true });

const ScheduleBody = z
  .strictObject({
    cron: z.string().min(1).max(256).optional().describe('Cron expression: 5 fields, 6 with seconds first, or @daily etc. Exactly one of cron and everyMs.'),
    everyMs: z.int().min(1000).optional().describe('Fixed interval in ms; ticks at the multiples of it since the Unix epoch.'),
    timezone: z.string().min(1).max(64).optional().describe('IANA time zone of the cron expression (default UTC).'),
    queue: NameSchema.describe('The queue the jobs go to.'),
    jobName: NameSchema.optional().describe('The jobs\u2019 name; default the schedule name.'),
    payload: z.unknown().optional().describe('The jobs\u2019 payload (JSON); default null.'),
    jobOptions: ScheduleJobOptionsSchema.optional(),
    backfill: z.int().min(0).max(1000).optional().describe('Missed ticks (older than the newest due one) to enqueue after downtime; default 0.'),
    paused: z.boolean().optional().describe('Set the paused flag; omitted keeps it (new schedules start active).'),
  })
  .describe('A schedule; a PUT replaces every field (omitted ones take their defaults) except paused.');

const ScheduleView = z.object({
  name: z.string(),
  cron: z.string().nullable(),
  everyMs: z.int().nullable(),
  timezone: z.string(),
  queue: z.string(),
  jobName: z.string(),
  payload: z.unknown().optional(),
  jobOptions: z.record(z.string(), z.unknown()),
  backfill: z.int(),
  paused: z.boolean(),
  nextRunAt: z.string().nullable().describe('The next tick (null while paused).'),
  lastRunAt: z.string().nullable(),
  lastJobId: z.string().nullable(),
  version: z.int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const ScheduleDetail = ScheduleView.extend({ upcoming: z.array(z.string()).describe(`The next ${UPCOMING} runs (for a paused schedule: if resumed now).`) });

const ListQuery = z.strictObject({
  queue: NameSchema.optional().describe('Only schedules enqueuing into this queue.'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Page size, default 100.'),
  after: NameSchema.optional().describe('nextCursor of the previous page (schedules are listed by name).'),
});

const view = (s: Schedule, grant: Grant) => scheduleView(s, { includePayload: grant.allows('read-payload', s.queue) });

/**
 * The schedule if it exists and the key may do `action` on its queue; else the same 404 for a
 * schedule of a queue the key may not touch as for one that does not exist (names cannot be
 * probed, reliability S11). The route's onRequest check already made sure the key holds `action`
 * on some queue.
 */
async function loadFor(client: Client, grant: Grant, name: string, action: Action): Promise<Schedule> {
  const schedule = await client.schedules.get(name);
  if (!schedule || !grant.allows(action, schedule.queue)) throw new ApiProblem(404, 'not_found', `No schedule ${name}.`);
  return schedule;
}

export function scheduleRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/schedules',
      {
        config: { access: { action: 'read', queue: 'query' } },
        schema: {
          tags: ['schedules'],
          summary: 'Schedules by name, with their next run',
          querystring: ListQuery,
          response: { 200: z.object({ schedules: z.array(ScheduleView), nextCursor: z.string().nullable() }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { queue, after } = request.query;
        const limit = request.query.limit ?? 100;
        const schedules = await client.schedules.list({ limit, ...(queue ? { queue } : {}), ...(after ? { after } : {}) });
        return { schedules: schedules.map((s) => view(s, request.grant)), nextCursor: schedules.length === limit ? schedules.at(-1)!.name : null };
      },
    );

    app.get(
      '/schedules/:name',
      {
        config: { access: { action: 'read', queue: 'job' } },
        schema: { tags: ['schedules'], summary: 'One schedule with its next runs', params: ScheduleParams, response: { 200: ScheduleDetail, ...PROBLEM_RESPONSES } },
      },
      async (request) => {
        const schedule = await loadFor(client, request.grant, request.params.name, 'read');
        const upcoming = await client.schedules.nextRuns(schedule.name, UPCOMING);
        return { ...view(schedule, request.grant), upcoming: upcoming.map((d) => d.toISOString()) };
      },
    );

    app.put(
      '/schedules/:name',
      {
        config: { access: { action: 'admin', queue: 'job' } },
        schema: {
          tags: ['schedules'],
          summary: 'Create or redefine a schedule (201 created, 200 redefined or unchanged)',
          params: ScheduleParams,
          body: ScheduleBody,
          response: { 201: ScheduleView, 200: ScheduleView, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { name } = request.params;
        authorize(request.grant, 'admin', request.body.queue);
        const existing = await client.schedules.get(name);
        if (existing && existing.queue !== request.body.queue) authorize(request.grant, 'admin', existing.queue);
        const { schedule, created } = await client.schedules.upsert(name, request.body);
        return reply.code(created ? 201 : 200).send(view(schedule, request.grant));
      },
    );

    app.delete(
      '/schedules/:name',
      {
        config: { access: { action: 'admin', queue: 'job' } },
        schema: { tags: ['schedules'], summary: 'Delete a schedule (the jobs it enqueued stay)', params: ScheduleParams, response: { 200: z.object({ name: z.string(), removed: z.literal(true) }), ...PROBLEM_RESPONSES } },
      },
      async (request) => {
        const { name } = await loadFor(client, request.grant, request.params.name, 'admin');
        if (!(await client.schedules.remove(name))) throw new ApiProblem(404, 'not_found', `No schedule ${name}.`);
        return { name, removed: true as const };
      },
    );

    for (const action of ['pause', 'resume'] as const) {
      app.post(
        `/schedules/:name/${action}`,
        {
          config: { access: { action: 'admin', queue: 'job' } },
          schema: {
            tags: ['schedules'],
            summary: action === 'pause' ? 'Pause a schedule: ticks that fall while paused are skipped' : 'Resume a paused schedule from its next tick',
            params: ScheduleParams,
            response: { 200: ScheduleView, ...PROBLEM_RESPONSES },
          },
        },
        async (request) => {
          const { name } = await loadFor(client, request.grant, request.params.name, 'admin');
          const schedule = action === 'pause' ? await client.schedules.pause(name) : await client.schedules.resume(name);
          return view(schedule, request.grant);
        },
      );
    }

    app.post(
      '/schedules/:name/run',
      {
        config: { access: { action: 'enqueue', queue: 'job' } },
        schema: {
          tags: ['schedules'],
          summary: 'Enqueue one job of the schedule now (not a tick: the schedule is unchanged)',
          params: ScheduleParams,
          response: { 201: EnqueueResult, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { name } = await loadFor(client, request.grant, request.params.name, 'enqueue');
        const result = await client.schedules.runNow(name);
        return reply.code(201).send({ id: result.id, status: result.state, duplicate: !result.inserted });
      },
    );
  };
}
