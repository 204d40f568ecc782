/** `GET /metrics`: Prometheus text exposition of the server's registry (metrics/metrics.ts). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServerMetrics } from '../metrics/metrics.js';

export function metricsRoutes(metrics: ServerMetrics): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/metrics', { config: { access: { action: 'read', queue: 'all' } }, schema: { tags: ['ops'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.type(contentType).send(body);
    });
  };
}
