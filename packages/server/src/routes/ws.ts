/**
 * WebSocket push at `GET /api/v1/ws`: the same events as SSE, chosen by subscribe messages.
 *
 *   → {"op":"subscribe","queues":["emails"],"jobs":["j1"],"lastEventId":"…"}   (replaces the filter)
 *   → {"op":"unsubscribe"}  → {"op":"ping"}
 *   ← {"op":"subscribed","queues":[…],"jobs":[…]}  ← {"op":"event","event":{…}}
 *   ← {"op":"reset"} (events were missed)  ← {"op":"error","code":…,"detail":…}  ← {"op":"pong"}
 *
 * Invariants:
 * - A socket receives nothing until it subscribes; an empty subscription (no queues, no jobs)
 *   means every event.
 * - Messages are validated; a bad one gets an `error` reply and changes nothing. Frames over
 *   64 KiB close the socket (1009), as does a client too slow to drain 1 MiB (1013).
 * - The server pings every `heartbeatMs` and drops a socket that missed two pongs.
 */
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { JobIdSchema, NameSchema } from '../http/schemas.js';
import type { EventFilter, WireEvent } from '../push/event-log.js';

const MAX_UNSENT_BYTES = 1024 * 1024;

const ClientMessage = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('subscribe'),
    queues: z.array(NameSchema).max(100).optional(),
    jobs: z.array(JobIdSchema).max(1000).optional(),
    lastEventId: z.string().max(100).optional(),
  }),
  z.strictObject({ op: z.literal('unsubscribe') }),
  z.strictObject({ op: z.literal('ping') }),
]);

export function wsRoutes(ctx: RouteContext): FastifyPluginAsync {
  return async (app) => {
    await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
    app.get('/ws', { websocket: true, config: { access: { action: 'read', queue: 'any' } }, schema: { tags: ['push'], summary: 'Live events over WebSocket (subscribe messages)' } }, (socket: WebSocket, request) => {
      const grant = request.grant;
      const visible = (e: WireEvent): WireEvent => (e.data === undefined || e.type !== 'job.completed' || grant.allows('read-payload', e.queue) ? e : { ...e, data: undefined });
      let unsubscribe: (() => void) | null = null;
      let alive = true;
      const send = (message: unknown) => {
        if (socket.readyState !== socket.OPEN) return;
        socket.send(JSON.stringify(message));
        if (socket.bufferedAmount > MAX_UNSENT_BYTES) socket.close(1013, 'too slow');
      };
      const ping = setInterval(() => {
        if (!alive) {
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, ctx.options.heartbeatMs);
      socket.on('pong', () => {
        alive = true;
      });
      const closeStream = () => socket.close(1001, 'server stopping');
      ctx.streams.add(closeStream);

      socket.on('message', (data, isBinary) => {
        let message: z.infer<typeof ClientMessage>;
        try {
          if (isBinary) throw new Error('binary frames are not accepted');
          message = ClientMessage.parse(JSON.parse(data.toString()));
        } catch {
          send({ op: 'error', code: 'invalid_message', detail: 'Send JSON: {"op":"subscribe","queues":[…],"jobs":[…]}, {"op":"unsubscribe"} or {"op":"ping"}.' });
          return;
        }
        if (message.op === 'ping') return send({ op: 'pong' });
        unsubscribe?.();
        unsubscribe = null;
        if (message.op === 'unsubscribe') return send({ op: 'unsubscribed' });
        const queues = message.queues ?? [];
        if (queues.length === 0 ? !grant.allowsAllQueues('read') : !queues.every((q) => grant.allows('read', q))) {
          return send({ op: 'error', code: 'not_found', detail: 'Subscribe to queues this key may read (a key limited to some queues must name them).' });
        }
        const filter: EventFilter = {};
        if (message.queues?.length) filter.queues = new Set(message.queues);
        if (message.jobs?.length) filter.jobs = new Set(message.jobs);
        send({ op: 'subscribed', queues: message.queues ?? [], jobs: message.jobs ?? [] });
        if (message.lastEventId !== undefined) {
          const { events, gap } = ctx.events.replay(message.lastEventId, filter);
          if (gap) send({ op: 'reset' });
          for (const event of events) send({ op: 'event', event: visible(event) });
        }
        unsubscribe = ctx.events.subscribe(filter, (event: WireEvent) => send({ op: 'event', event: visible(event) }));
      });
      socket.on('close', () => {
        clearInterval(ping);
        unsubscribe?.();
        ctx.streams.delete(closeStream);
      });
    });
  };
}
