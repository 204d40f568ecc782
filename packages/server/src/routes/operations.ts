/** `GET /operations/:id`: progress and outcome of a background operator action (http/operations.ts). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { PROBLEM_RESPONSES } from '../http/schemas.js';

const OperationView = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.enum(['running', 'succeeded', 'failed']),
  processed: z.int(),
  result: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});

export function operationRoutes({ operations }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/operations/:id',
      { config: { access: { action: 'read', queue: 'any' } }, schema: { tags: ['operations'], summary: 'A background operation (bulk action, DLQ replay by filter)', params: z.strictObject({ id: z.uuid() }), response: { 200: OperationView, ...PROBLEM_RESPONSES } } },
      async (request) => {
        const op = operations.get(request.params.id);
        if (!op) throw new ApiProblem(404, 'not_found', `No operation ${request.params.id}.`);
        return op;
      },
    );
  };
}
