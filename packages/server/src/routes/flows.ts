/**
 * `POST /flows`: a flow (a job and the jobs it waits for, of any queues, nested) inserted in one
 * transaction through `client.flow` (docs/decisions/0012-flows.md).
 *
 * Invariants:
 * - The body is the library's FlowSpec; zod checks its shape (strict objects, at every level),
 *   the core re-checks everything (limits, schemas of registered queues) and answers every issue
 *   at once as a 400 whose paths start with `body.` — nothing is written unless all is valid.
 * - Authorization: the key must hold `enqueue` on every queue the flow names (403 / 404 like an
 *   unknown queue otherwise, checked before anything is written).
 * - 201 with the tree of ids for a new flow; 200 with `duplicate: true` when the root's id (or
 *   unique key) matched an existing job (nothing was written). `Idempotency-Key` works as on
 *   enqueue: the key derives the root's id, and a replay answers the existing root.
 */
import { MAX_FLOW_DEPTH, MAX_FLOW_NODES, ValidationError, type FlowNode, type FlowSpec, type JobOptions } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { authorize } from '../auth/guard.js';
import { withIdempotency } from '../http/idempotency.js';
import { JobOptionsSchema, NameSchema, PROBLEM_RESPONSES, StateSchema } from '../http/schemas.js';

/**
 * One node of a flow: a job and, optionally, the jobs it waits for. The children are nodes of
 * this same shape; zod checks the top level strictly and the core checks every level (unknown
 * keys, names, options, limits) before anything is written. Not a recursive zod schema: the
 * OpenAPI document of this server inlines every schema, and a self-reference cannot be inlined.
 */
const FlowNodeBody = z.strictObject({
  queue: NameSchema.describe('The queue of this job (children may be in other queues).'),
  name: NameSchema.describe('The job type.'),
  payload: z.unknown().optional().describe('Any JSON value; default null.'),
  opts: JobOptionsSchema.optional().describe("Job options; `id`, `uniqueKey` and `unique` on the root only (a root's `unique` may not replace)."),
  onChildFailure: z.enum(['fail', 'continue']).optional().describe('fail (default): a dead or cancelled child ends this job dead; continue: it runs anyway once all children finished.'),
  children: z
    .array(z.record(z.string(), z.unknown()))
    .max(1000)
    .optional()
    .describe(`The jobs this one waits for: nodes of this same shape (queue, name, payload, opts, onChildFailure, children), at most ${MAX_FLOW_NODES} nodes and ${MAX_FLOW_DEPTH} levels in all.`),
});

/** A node of the inserted tree; `children` are nodes of the same shape. */
const FlowNodeView = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  status: StateSchema,
  children: z.array(z.unknown()).describe('Nodes of this same shape, in the order of the request.'),
});

const FlowResult = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  status: StateSchema,
  duplicate: z.boolean().describe("True when the root's id or unique key matched an existing job: nothing was written."),
  children: z.array(FlowNodeView),
});

interface NodeView {
  id: string;
  queue: string;
  name: string;
  status: FlowNode['state'];
  children: NodeView[];
}

function nodeView(node: FlowNode): NodeView {
  return { id: node.id, queue: node.queue, name: node.name, status: node.state, children: node.children.map(nodeView) };
}

/** The spec with the HTTP default of every node's payload (null when left out, as on enqueue). */
function withDefaults(spec: FlowSpec, depth = 1): FlowSpec {
  const node: FlowSpec = { ...spec, payload: spec.payload ?? null };
  if (Array.isArray(spec.children) && depth <= MAX_FLOW_DEPTH) {
    node.children = spec.children.map((child) => (child !== null && typeof child === 'object' && !Array.isArray(child) ? withDefaults(child, depth + 1) : child));
  }
  return node;
}

/**
 * Every queue a spec names, for the access check (zod checked the top level only: nested nodes
 * that are not well-formed are skipped here and refused by the core).
 */
function queuesOf(spec: FlowSpec, into = new Set<string>(), depth = 1): Set<string> {
  if (typeof spec.queue === 'string') into.add(spec.queue);
  if (depth > MAX_FLOW_DEPTH || !Array.isArray(spec.children)) return into;
  for (const child of spec.children) if (child !== null && typeof child === 'object') queuesOf(child, into, depth + 1);
  return into;
}

export function flowRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/flows',
      {
        config: { access: { action: 'enqueue', queue: 'job' } },
        schema: {
          tags: ['jobs'],
          summary: 'Insert a flow: a job that waits for its children (any queues, nested), all in one transaction',
          body: FlowNodeBody,
          response: { 201: FlowResult, 200: FlowResult, ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const spec = request.body as FlowSpec;
        for (const queue of queuesOf(spec)) authorize(request.grant, 'enqueue', queue);
        const root = { name: spec.name, payload: spec.payload ?? null, opts: (spec.opts ?? {}) as JobOptions };
        const outcome = await withIdempotency(client, request.headers['idempotency-key'], `flow:${request.grant.keyId}`, spec, [root]);
        if (outcome.kind === 'replay') {
          const job = outcome.jobs[0]!;
          return reply.code(200).header('idempotent-replayed', 'true').send({ id: job.id, queue: job.queue, name: job.name, status: job.state, duplicate: true, children: [] });
        }
        const opts = outcome.items[0]!.opts;
        try {
          const result = await client.flow({ ...withDefaults(spec), ...(Object.keys(opts).length > 0 ? { opts } : {}) });
          await outcome.written();
          return reply.code(result.inserted ? 201 : 200).send({ ...nodeView(result), duplicate: !result.inserted });
        } catch (err) {
          // The core's paths are relative to the spec: answer them as the body's.
          if (err instanceof ValidationError) throw new ValidationError(err.issues.map((i) => ({ ...i, path: i.path === 'spec' ? 'body' : `body.${i.path}` })));
          throw err;
        }
      },
    );
  };
}
