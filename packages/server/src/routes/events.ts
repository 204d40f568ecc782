/**
 * Server-Sent Events: `GET /events?queue=a,b&job=id` (everything matching) and
 * `GET /jobs/:id/events` (one job, starting with a `job.snapshot` of its current state).
 *
 * Invariants:
 * - Each event carries its id; a reconnect with `Last-Event-ID` (header, or `lastEventId` in
 *   the query for clients that cannot set headers) first receives the buffered events after it,
 *   or a `reset` event when some were lost, so the client knows to refetch.
 * - A comment line is sent every `heartbeatMs` so proxies keep the stream open.
 * - A subscriber that cannot keep up (over 1 MiB unsent) is disconnected rather than buffered
 *   without bound; the client reconnects with its last id.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { csv, JobIdSchema, JobParams, NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { jobView } from '../http/views.js';
import type { EventFilter, EventLog, WireEvent } from '../push/event-log.js';

const MAX_UNSENT_BYTES = 1024 * 1024;
const LastEventId = z.string().max(100).optional().describe('Resume after this event id (same as the Last-Event-ID header).');

function frame(event: { id?: string; type: string }, data: unknown): string {
  return `${event.id ? `id: ${event.id}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Streams `filter`'s events to the reply until the client goes away or the server stops. */
function stream(request: FastifyRequest, reply: FastifyReply, ctx: RouteContext, filter: EventFilter, start: { lastId: string | undefined; first?: string }): void {
  const log: EventLog = ctx.events;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  // Results ride on job.completed events: only keys that may read payloads see them.
  const grant = request.grant;
  const visible = (e: WireEvent): WireEvent => (e.data === undefined || e.type !== 'job.completed' || grant.allows('read-payload', e.queue) ? e : { ...e, data: undefined });
  const write = (text: string) => {
    if (closed) return;
    raw.write(text);
    if (raw.writableLength > MAX_UNSENT_BYTES) close();
  };
  // `retry` tells EventSource how long to wait before reconnecting.
  write('retry: 2000\n\n');
  if (start.first) write(start.first);
  // Replay and subscribe in the same tick: no event can fall between them.
  if (start.lastId !== undefined) {
    const { events, gap } = log.replay(start.lastId, filter);
    if (gap) write(frame({ type: 'reset' }, { reason: 'events were missed; refetch the state you show' }));
    for (const e of events) write(frame(e, visible(e)));
  }
  const unsubscribe = log.subscribe(filter, (e: WireEvent) => write(frame(e, visible(e))));
  const heartbeat = setInterval(() => write(': ping\n\n'), ctx.options.heartbeatMs);
  const stopListener = () => close();
  ctx.streams.add(stopListener);
  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    ctx.streams.delete(stopListener);
    raw.end();
  }
  request.raw.once('close', close);
  raw.once('close', close);
}

function lastEventId(request: FastifyRequest): string | undefined {
  const header = request.headers['last-event-id'];
  if (typeof header === 'string' && header.length > 0) return header.slice(0, 100);
  return (request.query as { lastEventId?: string }).lastEventId;
}

export function eventRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/events',
      {
        config: { access: { action: 'read', queue: 'query' } },
        schema: {
          tags: ['push'],
          summary: 'Live events over SSE (job.added, job.started, job.progress, job.completed, job.retrying, job.dead, queue.paused, dlq.alert.fired, alert.firing, alert.resolved, …)',
          querystring: z.strictObject({ queue: csv(NameSchema).optional(), job: csv(JobIdSchema).optional(), lastEventId: LastEventId }),
          response: { 200: z.string().describe('text/event-stream'), ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const filter: EventFilter = {};
        if (request.query.queue) filter.queues = new Set(request.query.queue);
        if (request.query.job) filter.jobs = new Set(request.query.job);
        stream(request, reply, ctx, filter, { lastId: lastEventId(request) });
      },
    );

    app.get(
      '/jobs/:id/events',
      {
        config: { access: { action: 'read', queue: 'job' } },
        schema: {
          tags: ['push'],
          summary: "One job's live events over SSE, starting with a job.snapshot",
          params: JobParams,
          querystring: z.strictObject({ lastEventId: LastEventId }),
          response: { 200: z.string().describe('text/event-stream'), ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const filter: EventFilter = { jobs: new Set([request.params.id]) };
        const resumeFrom = lastEventId(request);
        if (resumeFrom !== undefined && !ctx.events.replay(resumeFrom, filter).gap) {
          // A reconnect whose missed events are all buffered: replay them, no snapshot needed.
          const job = await ctx.client.getJob(request.params.id);
          if (!job || !request.grant.allows('read', job.queue)) throw new ApiProblem(404, 'not_found', `No job ${request.params.id}.`);
          stream(request, reply, ctx, filter, { lastId: resumeFrom });
          return;
        }
        // The snapshot is read after `mark`, and every event after `mark` follows it: an event
        // racing the read is sent (perhaps twice), never lost.
        const mark = ctx.events.lastId;
        const job = await ctx.client.getJob(request.params.id);
        if (!job || !request.grant.allows('read', job.queue)) throw new ApiProblem(404, 'not_found', `No job ${request.params.id}.`);
        const view = jobView(job, { includePayload: request.grant.allows('read-payload', job.queue) });
        stream(request, reply, ctx, filter, { lastId: mark, first: frame({ type: 'job.snapshot' }, view) });
      },
    );
  };
}
