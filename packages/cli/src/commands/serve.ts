/**
 * `spindle serve`: the HTTP API, live push and metrics (SpindleServer) over a database, with
 * optional in-process workers (`--workers <module>`: an ES module whose default export is
 * `(client) => void | Promise<void>` and registers workers on the client). SIGINT/SIGTERM stop
 * it cleanly: the server stops (streams and long-polls end), then the client closes (workers
 * finish or release their jobs).
 *
 * `--alerts-file <path>`: alert rules (JSON, server `alerts` option: `{ builtin?, intervalMs?,
 * rules: [{ name, kind, queue?, threshold, forMs?, windowMs? }] }`), read once at start.
 *
 * Invariant: the workers module, keys file and alerts file are checked before the database is
 * opened (a bad alerts file exits 2 naming the file and the field).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { consoleLogger, type Client } from '@spindle/core';
import { describeTarget, openClient } from '../connection.js';
import { Context } from '../context.js';
import { CliError, EXIT, oneLine, toCliError, usageError } from '../errors.js';
import { parsePort } from '../parse.js';
import { startServer, waitForStop } from '../shutdown.js';

type RegisterWorkers = (client: Client) => void | Promise<void>;

interface ServeOptions {
  port: number;
  host: string;
  workers?: string;
  keysFile?: string;
  alertsFile?: string;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Imports the workers module and returns its default export (checked to be a function). */
export async function loadWorkers(path: string): Promise<RegisterWorkers> {
  const file = resolve(path);
  if (!existsSync(file)) throw usageError(`--workers ${path}: no such file`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new CliError(`--workers ${path} failed to load: ${oneLine((err as Error).message ?? String(err))}`, EXIT.failure, { cause: err });
  }
  if (typeof mod.default !== 'function') throw usageError(`--workers ${path} must export a default function (client) => void`);
  return mod.default as RegisterWorkers;
}

export function printUrls(ctx: Context, base: string): void {
  const c = ctx.out.color;
  ctx.out.line(`  ${c.dim('dashboard'.padEnd(10))}${base}/`);
  ctx.out.line(`  ${c.dim('API'.padEnd(10))}${base}/api/v1`);
  ctx.out.line(`  ${c.dim('docs'.padEnd(10))}${base}/docs`);
  ctx.out.line(`  ${c.dim('events'.padEnd(10))}${base}/api/v1/events`);
  ctx.out.line(`  ${c.dim('metrics'.padEnd(10))}${base}/metrics`);
}

async function serve(ctx: Context, options: ServeOptions): Promise<void> {
  const target = ctx.target({ allowHttp: false });
  if (target.kind === 'http') throw usageError('serve needs a database');
  if (!LOG_LEVELS.includes(options.logLevel)) throw usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  if (options.keysFile !== undefined && !existsSync(options.keysFile)) throw usageError(`--keys-file ${options.keysFile}: no such file`);
  const { SpindleServer, readAlertsFile } = await import('@spindle/server');
  let alerts: ReturnType<typeof readAlertsFile> | undefined;
  if (options.alertsFile !== undefined) {
    try {
      alerts = readAlertsFile(resolve(options.alertsFile), '');
    } catch (err) {
      const issues = (err as { issues?: Array<{ path: string; message: string }> }).issues;
      const text = issues ? issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ') : (err as Error).message;
      throw usageError(`--alerts-file ${options.alertsFile}: ${oneLine(text)}`);
    }
  }
  const register = options.workers === undefined ? null : await loadWorkers(options.workers);
  const client = await openClient(target, { create: true, migrate: true, maintenance: true, telemetry: true, events: true, logger: consoleLogger, poolMax: 10 });
  let server: InstanceType<typeof SpindleServer> | null = null;
  try {
    if (register) {
      try {
        await register(client);
      } catch (err) {
        throw new CliError(`--workers ${options.workers}: ${oneLine((err as Error)?.message ?? String(err))}`, EXIT.failure, { cause: err });
      }
    }
    server = new SpindleServer(client, {
      host: options.host,
      port: options.port,
      logger: { level: options.logLevel },
      ...(options.keysFile ? { auth: { keysFile: resolve(options.keysFile) } } : {}),
      ...(alerts ? { alerts } : {}),
    });
    const base = await startServer(server, options.host, options.port);
    ctx.out.line(`spindle serving ${describeTarget(target)} on ${base}`);
    printUrls(ctx, base);
    if (options.workers) ctx.out.line(`  ${ctx.out.color.dim('workers'.padEnd(10))}${options.workers}`);
    ctx.out.line(ctx.out.color.dim('Ctrl-C stops.'));
    await waitForStop();
    ctx.out.note('spindle: stopping (finishing running jobs)…');
  } catch (err) {
    throw toCliError(err, describeTarget(target));
  } finally {
    await server?.stop().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
  ctx.out.note('spindle: stopped');
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API, live push (SSE, WebSocket) and /metrics over the database')
    .option('--port <port>', 'TCP port (0 picks a free one)', parsePort, 7700)
    .option('--host <host>', 'address to bind (anything but loopback needs --keys-file)', '127.0.0.1')
    .option('--workers <module>', 'ES module whose default export (client) => … registers workers')
    .option('--keys-file <path>', 'API keys file (JSON records from generateApiKey); enables auth')
    .option('--alerts-file <path>', 'alert rules (JSON: { rules: [{ name, kind, queue, threshold, forMs, windowMs }] }), read at start')
    .option('--log-level <level>', `server log level: ${LOG_LEVELS.join(', ')}`, 'warn')
    .action((options: ServeOptions, command: Command) => serve(Context.from(command), options));
}
