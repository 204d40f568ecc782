/**
 * The CLI's exit codes and the one error type commands throw (`CliError`), plus `toCliError`,
 * which turns anything thrown below the commands (commander usage errors, core SpindleErrors,
 * HTTP problems, fetch/driver connection failures) into one line and a typed exit code.
 *
 * Invariant: the user sees `spindle: <one line>` on stderr and never a stack trace, unless
 * SPINDLE_DEBUG=1 (main.ts prints the stack then). Codes are part of the CLI's contract
 * (README "Exit codes"): adding one is fine, changing one is breaking.
 */
import { SpindleError } from '@spindle/core';

export const EXIT = {
  ok: 0,
  /** Anything not covered below (an unexpected error, a conflict, a schema not migrated). */
  failure: 1,
  /** Bad usage or input: unknown command/option, bad JSON, bad number, invalid name. Nothing was changed. */
  usage: 2,
  /** The job, queue or dead job named does not exist. */
  notFound: 3,
  /** Cannot reach the server or the database (refused, unreachable, timed out, 503). */
  unreachable: 4,
  /** `jobs tail`: the job ended dead or cancelled. */
  jobFailed: 5,
  /** The server refused the API key (401/403). */
  denied: 6,
  /** Interrupted by Ctrl-C before finishing (`jobs tail`). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** Thrown by a command that has already said everything and only needs an exit code. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'Exit';
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);
export const notFound = (message: string): CliError => new CliError(message, EXIT.notFound);

/** An `application/problem+json` answer of the server. */
export class HttpProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'HttpProblemError';
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** The first `code` found along an error's `cause` chain (fetch wraps the socket error). */
function networkCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in NETWORK_CODES) return code;
  }
  return undefined;
}

function httpExitCode(status: number): number {
  if (status === 401 || status === 403) return EXIT.denied;
  if (status === 404) return EXIT.notFound;
  if (status === 502 || status === 503 || status === 504) return EXIT.unreachable;
  if (status >= 400 && status < 500 && status !== 409) return EXIT.usage;
  return EXIT.failure;
}

/** The first line of a message, so nothing multi-line reaches the terminal as "one line". */
export function oneLine(text: string): string {
  const line = text.split('\n', 1)[0]!.trim();
  return line.length > 0 ? line : 'unexpected error';
}

/** Maps anything thrown to a CliError (message and exit code). `target` names the server/database. */
export function toCliError(err: unknown, target?: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof HttpProblemError) {
    const where = err.status === 503 ? ` (${target ?? 'server'}: the server's database is unavailable)` : '';
    return new CliError(`${oneLine(err.message)}${where}`, httpExitCode(err.status), { cause: err });
  }
  if (err instanceof SpindleError) {
    switch (err.code) {
      case 'validation_failed':
        return new CliError(oneLine(err.message), EXIT.usage, { cause: err });
      case 'not_found':
        return new CliError(oneLine(err.message), EXIT.notFound, { cause: err });
      case 'offset_out_of_range':
        return new CliError(oneLine(err.message), EXIT.usage, { cause: err });
      case 'backend_error': {
        const net = networkCode(err);
        const detail = net ? `${NETWORK_CODES[net]} (${net})` : oneLine(err.message);
        return new CliError(`cannot use the database${target ? ` ${target}` : ''}: ${detail}`, EXIT.unreachable, { cause: err });
      }
      default:
        return new CliError(oneLine(err.message), EXIT.failure, { cause: err });
    }
  }
  const net = networkCode(err);
  if (net) return new CliError(`cannot connect to ${target ?? 'the server'}: ${NETWORK_CODES[net]}`, EXIT.unreachable, { cause: err });
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new CliError(`${target ?? 'the server'} did not answer in time`, EXIT.unreachable, { cause: err });
  }
  if (err instanceof Error && err.message === 'fetch failed') {
    return new CliError(`cannot connect to ${target ?? 'the server'}: ${oneLine(String((err.cause as Error | undefined)?.message ?? err.message))}`, EXIT.unreachable, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CliError(oneLine(message), EXIT.failure, { cause: err });
}
