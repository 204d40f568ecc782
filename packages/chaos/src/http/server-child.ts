/**
 * The API server process of the HTTP scenarios (one incarnation): opens the run's database from
 * the environment (scenario/backends.ts variables), starts a Client and a SpindleServer on
 * 127.0.0.1:<CHAOS_HTTP_PORT>, then prints `{"ev":"ready","pid":…}` on stdout.
 *
 * Invariants:
 * - No maintenance here (`maintenance: false`): the scenario's recorded maintainer rescues and
 *   promotes, so every rescue is in the history. No migration (the harness migrated), retention
 *   off (finished jobs stay for the final state), no dashboard.
 * - SIGTERM stops the server, closes the client and exits 0; SIGKILL is the scenario's fault.
 */
import { Client, type Logger } from '@spindle/core';
import { openBackend, targetFromEnv } from '../scenario/backends.js';
import { SpindleServer } from '@spindle/server';

const port = Number(process.env.CHAOS_HTTP_PORT);

const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error(obj, msg) {
    process.stderr.write(`${new Date().toISOString()} error ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}\n`);
  },
};

const backend = openBackend(targetFromEnv(process.env), 8);
const client = new Client({
  backend,
  maintenance: false,
  autoMigrate: false,
  retention: { completedMs: null, cancelledMs: null, deadMs: null },
  telemetry: false,
  tracing: false,
  logger,
});
await client.start();
const server = new SpindleServer(client, { port, dashboard: false, logger: { level: 'error' } });
await server.start();
process.stdout.write(`${JSON.stringify({ ev: 'ready', pid: process.pid, port })}\n`);

process.once('SIGTERM', () => {
  void server
    .stop()
    .then(() => client.close({ graceMs: 1000 }))
    .catch((err: unknown) => process.stderr.write(`stop failed: ${String(err)}\n`))
    .finally(() => process.exit(0));
});
