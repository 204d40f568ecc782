/**
 * The logging seam: a pino-compatible subset (`logger.warn({ err }, 'message')`), so a pino
 * instance can be passed as is. The default writes warnings and errors to stderr and drops the
 * rest. Spindle never logs payloads.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

function describeError(obj: object): string {
  const err = (obj as { err?: unknown }).err;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return err === undefined ? '' : String(err);
}

export const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    process.stderr.write(`[spindle] warn: ${msg ?? ''} ${describeError(obj)}\n`);
  },
  error(obj, msg) {
    process.stderr.write(`[spindle] error: ${msg ?? ''} ${describeError(obj)}\n`);
  },
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
