/**
 * Builds the Fastify application of a Spindle server over one Client: the strict JSON parser,
 * problem+json errors, OpenAPI, and every route group. `buildApp` does not listen: tests use
 * `app.inject`, and `SpindleServer` (server.ts) adds the socket, timeouts and lifecycle.
 *
 * Invariants:
 * - Every answer that is not 2xx is problem+json (error handler, 404/405 handler, 415 hook).
 * - A request with a body must be `application/json`; the body goes through `parseJsonBody`.
 * - Path parameters and query values holding U+0000 or a lone surrogate are a 400 `invalid_text`,
 *   like such a body (json-body.ts `checkText`).
 * - Response schemas document the API; responses are serialized with plain JSON.stringify
 *   (no per-response re-validation on the hot path).
 */
import { createServer } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import type { Client } from '@spindle/core';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { checkText, parseJsonBody } from './http/json-body.js';
import { ApiProblem, problem, sendProblem, toProblem } from './http/problem.js';
import { RouteTable } from './http/route-table.js';
import type { ResolvedServerOptions } from './options.js';
import type { EventLog } from './push/event-log.js';
import { registerAuth } from './auth/guard.js';
import type { KeyStore } from './auth/key-store.js';
import { KeyRateLimiter } from './http/rate-limit.js';
import { loggerOptions } from './http/logging.js';
import { registerAudit } from './http/audit.js';
import type { ServerMetrics } from './metrics/metrics.js';
import type { LatencyWindow } from './metrics/latency-window.js';
import { metricsRoutes } from './routes/metrics.js';
import type { QueueWaiter } from './push/queue-waiter.js';
import type { Operations } from './http/operations.js';
import { operationRoutes } from './routes/operations.js';
import { docsRoutes } from './routes/docs.js';
import { dlqRoutes } from './routes/dlq.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { flowRoutes } from './routes/flows.js';
import { jobActionRoutes } from './routes/job-actions.js';
import { queueRoutes } from './routes/queues.js';
import { scheduleRoutes } from './routes/schedules.js';
import { topicGroupRoutes } from './routes/topic-groups.js';
import { topicRoutes } from './routes/topics.js';
import { workerProtocolRoutes } from './routes/worker-protocol.js';
import { wsRoutes } from './routes/ws.js';
import { workerRoutes } from './routes/workers.js';
import type { HttpWorkerRegistry } from './push/http-workers.js';
import type { AlertEngine } from './alerts/engine.js';
import type { WebhookService } from './webhooks/webhooks.js';
import { statsRoutes } from './routes/stats.js';
import { alertRoutes } from './routes/alerts.js';
import { dashboardPlugin } from '@spindle/dashboard';
import { SPINDLE_VERSION } from './version.js';

export type App = FastifyInstance;

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route of the Spindle API (method and URL pattern). */
    spindleRoutes: RouteTable;
  }
}

/** What every route group receives. */
export interface RouteContext {
  client: Client;
  options: ResolvedServerOptions;
  events: EventLog;
  waiter: QueueWaiter;
  operations: Operations;
  metrics: ServerMetrics;
  /** Wait and run-time percentiles of recent minutes (for `GET /stats`). */
  latency: LatencyWindow;
  httpWorkers: HttpWorkerRegistry;
  alerts: AlertEngine;
  /** Webhook deliveries, or null when webhooks are not configured. */
  webhooks: WebhookService | null;
  /** API keys, or null when auth is off (loopback only). */
  keys: KeyStore | null;
  /** Closers of open push streams (SSE, WebSocket), called when the server stops. */
  streams: Set<() => void>;
}

export const API_PREFIX = '/api/v1';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Whether a request carries a body at all (a length above 0, or a chunked one). */
function hasBody(headers: FastifyRequest['headers']): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's body schema is optional: a request without any body skips the JSON check. */
    optionalBody?: boolean;
  }
}

export async function buildApp(context: RouteContext): Promise<App> {
  const { options } = context;
  const app = Fastify({
    // Redaction, scrubbed URLs and trimmed errors: http/logging.ts (reliability S9).
    logger: loggerOptions(options.logger),
    bodyLimit: options.bodyLimitBytes,
    routerOptions: { maxParamLength: 300 },
    // Our own http.Server: Node checks header/request timeouts only every
    // `connectionsCheckingInterval`, 30 s by default — too coarse for a 10 s header limit.
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: options.headersTimeoutMs,
          requestTimeout: options.requestTimeoutMs,
          connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
          maxHeaderSize: 16 * 1024,
        },
        handler,
      );
      // A connection cap (reliability S8): connections past it are closed as they arrive.
      server.maxConnections = options.maxConnections;
      return server;
    },
    return503OnClosing: true,
    // No implicit HEAD twins of GET routes: every route is declared, with its access rule.
    exposeHeadRoutes: false,
    // Our own parser handles JSON; these only concern Fastify's, kept strict for safety.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    genReqId: () => crypto.randomUUID(),
    // Malformed URLs and over-long path segments are refused before routing: answered as
    // problem+json like every other error, without echoing the path (Fastify's default does).
    frameworkErrors: (err, request, reply) => {
      const { body, headers } = toProblem(err, request);
      return sendProblem(reply, body, headers);
    },
  });
  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.method, route.url));
  app.decorate('spindleRoutes', routes);

  registerAuth(app, context.keys, context.keys && options.rateLimit ? new KeyRateLimiter(options.rateLimit) : null);
  registerAudit(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  // Routes that take a body answer 415 to anything but JSON (a missing Content-Type included);
  // routes without a body schema ignore an empty body; a route whose body is optional
  // (`config.optionalBody`) also takes a request that sends none at all.
  app.addHook('preValidation', async (request) => {
    if (!BODY_METHODS.has(request.method) || !request.routeOptions.schema?.body) return;
    if (request.routeOptions.config.optionalBody && !hasBody(request.headers)) return;
    const type = request.headers['content-type'];
    if (typeof type !== 'string' || !/^application\/json\s*(;|$)/i.test(type)) {
      throw new ApiProblem(415, 'unsupported_media_type', 'Send the body as application/json.');
    }
  });
  // Path parameters and query values obey the body's text rules (U+0000, lone surrogates: 400),
  // checked after validation so a malformed name still gets its validation_failed.
  app.addHook('preHandler', async (request) => {
    for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) checkText(value, `Path parameter ${name}`);
    for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) checkText(value, 'A query parameter');
  });
  app.addContentTypeParser('*', (request, _payload, done) => {
    // Any other media type: refuse it where a body is expected, otherwise leave the body unread.
    done(request.routeOptions.schema?.body ? new ApiProblem(415, 'unsupported_media_type', 'Send the body as application/json.') : null, undefined);
  });

  app.setErrorHandler((err, request, reply) => {
    const { body, headers } = toProblem(err, request);
    return sendProblem(reply, body, headers);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = routes.methodsFor(path);
    // A route exists for this path under other methods only: 405. Under this method too, the
    // handler itself called for a 404 (e.g. an unknown docs asset).
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return sendProblem(reply, problem(405, 'method_not_allowed', `${request.method} is not allowed here; use ${allowed.join(', ')}.`), { allow: allowed.join(', ') });
    }
    return sendProblem(reply, problem(404, 'route_not_found', 'No such route.'));
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Spindle API',
        version: SPINDLE_VERSION,
        description: 'Job queue HTTP API: enqueue, inspect and manage jobs, queues and dead letters; topics (publish, read, consumer groups); live push; HTTP workers.',
      },
      servers: [],
    },
    transform: jsonSchemaTransform,
  });

  const typed = app.withTypeProvider<ZodTypeProvider>();
  await typed.register(healthRoutes(context));
  await typed.register(docsRoutes());
  await typed.register(metricsRoutes(context.metrics));
  await typed.register(
    async (api) => {
      await api.register(queueRoutes(context));
      await api.register(scheduleRoutes(context));
      await api.register(topicRoutes(context));
      await api.register(topicGroupRoutes(context));
      await api.register(jobRoutes(context));
      await api.register(flowRoutes(context));
      await api.register(jobActionRoutes(context));
      await api.register(dlqRoutes(context));
      await api.register(operationRoutes(context));
      await api.register(workerRoutes(context));
      await api.register(statsRoutes(context));
      await api.register(alertRoutes(context));
      await api.register(workerProtocolRoutes(context));
      await api.register(eventRoutes(context));
      await api.register(wsRoutes(context));
    },
    { prefix: API_PREFIX },
  );
  // The web dashboard (ADR 0018): its own encapsulated context at `/`, reading and changing
  // data only through the API above, as the logged-in key.
  if (options.dashboard) {
    const keys = context.keys;
    await app.register(dashboardPlugin, {
      apiPrefix: API_PREFIX,
      authEnabled: keys !== null,
      verifyKey: (key) => keys?.describe(key) ?? null,
      version: SPINDLE_VERSION,
    });
  }
  return app;
}
