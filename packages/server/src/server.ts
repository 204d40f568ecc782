/**
 * `SpindleServer`: the HTTP server as a service with start/stop over one started Client.
 *
 * Invariants:
 * - It binds 127.0.0.1 unless told otherwise, and refuses to bind a non-loopback address
 *   without auth configured (nothing is exposed by accident).
 * - Header and request timeouts are set (slowloris: headers ≤ 10 s, whole request ≤ 30 s);
 *   long-polls and push streams are responses, so those limits do not cut them.
 * - `stop()` ends push streams and long-polls, waits for running operations, then closes the
 *   socket. It never closes the Client: the caller owns it.
 */
import { ValidationError, type Client } from '@spindle/core';
import { buildApp, type App, type RouteContext } from './app.js';
import { Operations } from './http/operations.js';
import { isLoopback, resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { EventLog } from './push/event-log.js';
import { QueueWaiter } from './push/queue-waiter.js';
import { KeyStore } from './auth/key-store.js';
import { logKeyChange } from './http/audit.js';
import { ServerMetrics } from './metrics/metrics.js';
import { HttpWorkerRegistry } from './push/http-workers.js';
import { AlertEngine } from './alerts/engine.js';
import { WebhookService } from './webhooks/webhooks.js';
import { LatencyWindow } from './metrics/latency-window.js';

export class SpindleServer {
  readonly options: ResolvedServerOptions;
  private readonly context: RouteContext;
  private appPromise: Promise<App> | null = null;
  private built: App | null = null;

  constructor(
    readonly client: Client,
    options: ServerOptions = {},
  ) {
    this.options = resolveServerOptions(options);
    const streams = new Set<() => void>();
    const events = new EventLog(this.options.eventBufferSize);
    this.context = {
      client,
      metrics: new ServerMetrics(client, () => streams.size),
      latency: new LatencyWindow(),
      httpWorkers: new HttpWorkerRegistry(client, this.options.workerReportMs, (err) => this.built?.log.warn({ err }, 'spindle: registering HTTP workers failed')),
      options: this.options,
      events,
      alerts: new AlertEngine(client, events, this.options.alerts, (err) => this.built?.log.warn({ err }, 'spindle: evaluating alert rules failed')),
      waiter: new QueueWaiter(),
      operations: new Operations(),
      streams,
      keys: null,
      webhooks: null,
    };
    if (this.options.webhooks) {
      this.context.webhooks = new WebhookService(client, this.options.webhooks, this.context.events, (err, what) => this.built?.log.warn({ err }, `spindle: ${what} failed`));
    }
    if (this.options.auth) {
      this.context.keys = new KeyStore(
        this.options.auth,
        (err) => this.built?.log.error({ err }, 'spindle: keys file reload failed; keeping the previous keys'),
        (change) => this.built && logKeyChange(this.built.log, change),
      );
    }
  }

  /** The Fastify app (built once): use `inject` on it in tests without listening. */
  app(): Promise<App> {
    if (!this.appPromise) {
      this.context.events.attach(this.client);
      this.context.waiter.attach(this.client);
      this.context.metrics.attach(this.context.events);
      this.context.latency.attach(this.context.events);
      this.context.httpWorkers.start();
      this.context.webhooks?.start();
      this.context.alerts.start();
      this.appPromise = buildApp(this.context).then(async (app) => {
        await app.ready();
        this.built = app;
        return app;
      });
    }
    return this.appPromise;
  }

  /** The server's event log (for tests and for publishing server-side events). */
  get events(): EventLog {
    return this.context.events;
  }

  /** Listens; resolves to the address, e.g. `http://127.0.0.1:7700`. */
  async start(): Promise<string> {
    if (!isLoopback(this.options.host) && !this.context.keys) {
      throw new ValidationError([{ path: 'options.host', message: `binding ${this.options.host} needs auth configured (API keys); bind 127.0.0.1 or configure auth` }]);
    }
    const app = await this.app();
    const address = await app.listen({ host: this.options.host, port: this.options.port });
    return address;
  }

  /** The bound port (after start; 0 before). */
  get port(): number {
    const address = this.built?.server.address();
    return address && typeof address === 'object' ? address.port : 0;
  }

  async stop(): Promise<void> {
    if (!this.appPromise) return;
    const app = await this.appPromise.catch(() => null);
    this.context.waiter.stop();
    for (const close of [...this.context.streams]) close();
    this.context.events.detach();
    this.context.metrics.detach();
    this.context.latency.detach();
    await this.context.httpWorkers.stop();
    await this.context.webhooks?.stop();
    await this.context.alerts.stop();
    await this.context.operations.settle();
    await app?.close();
  }
}
