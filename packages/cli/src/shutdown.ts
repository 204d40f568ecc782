/**
 * How long-running commands (serve, demo) start their server (a listen error is one line) and
 * wait to be stopped: until SIGINT or SIGTERM, or a deadline. A second signal while stopping
 * exits at once with 130, so a stuck shutdown can always be cut short.
 */
import { CliError, EXIT } from './errors.js';

export type StopReason = 'signal' | 'deadline';

export function waitForStop(deadlineMs?: number): Promise<StopReason> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onSignal = () => {
      cleanup();
      // From now on, a second Ctrl-C means "stop waiting".
      const force = () => process.exit(130);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve('signal');
    };
    const cleanup = () => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (deadlineMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        resolve('deadline');
      }, deadlineMs);
    }
  });
}

/** Starts `server` and returns its base URL; a listen error becomes a one-line CliError. */
export async function startServer(server: { start(): Promise<string> }, host: string, port: number): Promise<string> {
  try {
    return await server.start();
  } catch (err) {
    const message = listenError(err, host, port);
    throw message ? new CliError(message, EXIT.failure, { cause: err }) : err;
  }
}

/** A listen error as a message: a busy port is the usual one. */
export function listenError(err: unknown, host: string, port: number): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return `cannot listen on ${host}:${port}: the port is in use (choose another with --port, or 0 for any free port)`;
  if (code === 'EACCES') return `cannot listen on ${host}:${port}: permission denied`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return `cannot listen on ${host}:${port}: no such local address`;
  return null;
}
