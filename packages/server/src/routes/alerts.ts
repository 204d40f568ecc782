/**
 * `GET /alerts`: the server's built-in alert rule "DLQ depth > 0" per queue — its state (firing
 * or ok, the depth, since when) and the recent transitions (`dlq.alert.fired` / `.cleared`) this
 * server observed (push/dlq-alerts.ts). The dashboard's alerts view reads it.
 *
 * Invariants:
 * - Access is that of `GET /dlq` (`read` on every queue): the answer names every queue.
 * - The depths are re-read before answering (one DLQ depth query, the same as `GET /dlq`), so
 *   the state is current even between the periodic checks; a transition found by that read is
 *   published on the push channels like any other.
 * - History is in memory, per server process, bounded (HISTORY_SIZE newest), lost on restart.
 *   Rules are fixed: there are no configurable thresholds yet (ADR 0018).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { HISTORY_SIZE } from '../push/dlq-alerts.js';

export const DLQ_RULE = { id: 'dlq-depth', description: 'DLQ depth > 0 (unresolved dead jobs in a queue)', threshold: 0 } as const;

const AlertsView = z.object({
  rules: z.array(z.object({ id: z.string(), description: z.string(), threshold: z.int() })),
  checkedAt: z.string().nullable().describe('When the DLQ depths were last read.'),
  queues: z.array(
    z.object({
      queue: z.string(),
      rule: z.string(),
      depth: z.int(),
      state: z.enum(['firing', 'ok']),
      since: z.string().nullable().describe('The last transition of this queue seen by this server (null: firing since the server started reading).'),
    }),
  ),
  history: z.array(z.object({ type: z.enum(['dlq.alert.fired', 'dlq.alert.cleared']), queue: z.string(), depth: z.int(), at: z.string() })).describe(`Newest first, at most ${HISTORY_SIZE}, since this server started.`),
});

export function alertRoutes({ alerts }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/alerts',
      {
        config: { access: { action: 'read', queue: 'all' } },
        schema: { tags: ['dlq'], summary: 'Alert rules (DLQ depth > 0 per queue): current state and recent transitions seen by this server', response: { 200: AlertsView } },
      },
      async () => {
        await alerts.check();
        const snap = alerts.snapshot();
        return {
          rules: [{ ...DLQ_RULE }],
          checkedAt: snap.checkedAt,
          queues: snap.queues.map((q) => ({ queue: q.queue, rule: DLQ_RULE.id, depth: q.depth, state: q.firing ? ('firing' as const) : ('ok' as const), since: q.since })),
          history: snap.history,
        };
      },
    );
  };
}
