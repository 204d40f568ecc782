/**
 * Liveness and readiness: `/healthz` answers while the process serves requests; `/readyz` makes
 * a real database round trip (the database clock) and fails with 503 when the store is down or
 * its schema is behind this code. `/api/v1/info` says what this server is.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { Problem } from '../http/schemas.js';
import { SPINDLE_VERSION } from '../version.js';

export function healthRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/healthz', { config: { public: true }, schema: { tags: ['ops'], summary: 'Liveness', response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

    app.get(
      '/readyz',
      { config: { public: true }, schema: { tags: ['ops'], summary: 'Readiness: a database round trip', response: { 200: z.object({ status: z.literal('ready'), databaseTime: z.string() }), 503: Problem } } },
      async () => {
        const now = await client.run((backend) => backend.checkSchema().then(() => backend.now()));
        return { status: 'ready' as const, databaseTime: now.toISOString() };
      },
    );

    app.get(
      '/api/v1/info',
      {
        config: { access: { action: 'read', queue: 'any' } },
        schema: {
          tags: ['ops'],
          summary: 'Version and backend',
          response: { 200: z.object({ version: z.string(), backend: z.string(), capabilities: z.record(z.string(), z.boolean()) }) },
        },
      },
      async () => ({ version: SPINDLE_VERSION, backend: client.backend.kind, capabilities: { ...client.backend.capabilities } }),
    );
  };
}
