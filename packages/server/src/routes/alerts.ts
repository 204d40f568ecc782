/**
 * `GET /alerts`: the server's alert rules (alerts/rules.ts: the built-in `dlq-not-empty` and
 * the configured ones, each with its source), their state per rule and queue (firing or ok,
 * the value read, the threshold, since when, breaching-but-not-yet-for-`forMs` since when) and
 * the recent transitions (`alert.firing` / `alert.resolved`) this server observed
 * (alerts/engine.ts). The dashboard's alerts view reads it.
 *
 * Invariants:
 * - Access is that of `GET /dlq` (`read` on every queue): the answer names every queue.
 * - The DLQ depths are re-read before answering (one DLQ depth query, the same as `GET /dlq`),
 *   so the DLQ rules are current even between the periodic checks; a transition found by that
 *   read is published like any other. The other rules show the last periodic evaluation
 *   (`checkedAt`).
 * - History is in memory, per server process, bounded (HISTORY_SIZE newest), lost on restart.
 * - Compatible with the first version: `rules[].id/description/threshold`, `queues[].queue/
 *   rule/state/since` and `depth` on DLQ-rule entries keep their meaning; fields were added.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { HISTORY_SIZE } from '../alerts/engine.js';
import { ALERT_KINDS, describeRule } from '../alerts/rules.js';

const Kind = z.enum(ALERT_KINDS);
const valueHelp = 'dlq_depth: dead jobs; backlog: queued jobs; oldest_queued_age: ms; failure_rate: 0..1.';

const AlertsView = z.object({
  rules: z.array(
    z.object({
      id: z.string().describe('The rule name.'),
      description: z.string(),
      kind: Kind,
      queue: z.string().describe('Scope: a queue name, `prefix*`, or `*` (every queue).'),
      threshold: z.number().describe(`Fires when the value is above it. ${valueHelp}`),
      forMs: z.int().describe('The value must stay above the threshold this long before firing.'),
      windowMs: z.int().nullable().describe('failure_rate: the window (null for other kinds).'),
      source: z.enum(['builtin', 'config']),
    }),
  ),
  checkedAt: z.string().nullable().describe('When the rules were last evaluated.'),
  queues: z.array(
    z.object({
      queue: z.string(),
      rule: z.string(),
      kind: Kind,
      state: z.enum(['firing', 'ok']),
      value: z.number().describe(valueHelp),
      threshold: z.number(),
      depth: z.int().optional().describe('dlq_depth rules: the DLQ depth (= value).'),
      since: z.string().nullable().describe('The last transition of this rule and queue seen by this server (null: never fired).'),
      pendingSince: z.string().nullable().describe('Above the threshold since then, not yet for forMs (null otherwise).'),
    }),
  ),
  history: z
    .array(
      z.object({
        type: z.enum(['alert.firing', 'alert.resolved']),
        rule: z.string(),
        kind: Kind,
        queue: z.string(),
        value: z.number(),
        threshold: z.number(),
        depth: z.int().optional().describe('dlq_depth rules: the DLQ depth (= value).'),
        at: z.string(),
      }),
    )
    .describe(`Newest first, at most ${HISTORY_SIZE}, since this server started.`),
});

const withDepth = <T extends { kind: string; value: number }>(x: T): T & { depth?: number } => (x.kind === 'dlq_depth' ? { ...x, depth: x.value } : x);

export function alertRoutes({ alerts }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/alerts',
      {
        config: { access: { action: 'read', queue: 'all' } },
        schema: { tags: ['dlq'], summary: 'Alert rules (built-in DLQ depth > 0, configured failure rate, oldest-job age, backlog): state per queue and recent transitions seen by this server', response: { 200: AlertsView } },
      },
      async () => {
        await alerts.check({ dlqOnly: true });
        const snap = alerts.snapshot();
        const kindOf = new Map(snap.rules.map((r) => [r.name, r]));
        return {
          rules: snap.rules.map((r) => ({ id: r.name, description: describeRule(r), kind: r.kind, queue: r.queue, threshold: r.threshold, forMs: r.forMs, windowMs: r.windowMs, source: r.source })),
          checkedAt: snap.checkedAt,
          queues: snap.states.map((s) => {
            const rule = kindOf.get(s.rule)!;
            return withDepth({ queue: s.queue, rule: s.rule, kind: rule.kind, state: s.firing ? ('firing' as const) : ('ok' as const), value: s.value, threshold: rule.threshold, since: s.since, pendingSince: s.pendingSince });
          }),
          history: snap.history.map((h) => withDepth({ type: h.type, rule: h.rule, kind: h.kind, queue: h.queue, value: h.value, threshold: h.threshold, at: h.at })),
        };
      },
    );
  };
}
