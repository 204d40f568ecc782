/**
 * Shared plumbing of the client-level suite: a client with fast maintenance loops, a `waitFor`
 * that polls instead of sleeping a fixed time, and the factory type every suite takes.
 */
import { Client, silentLogger, type Backend, type ClientOptions } from '@spindle/core';

export interface BackendFactory {
  /** Human name used in test titles, e.g. 'sqlite'. */
  name: string;
  /** A fresh, migrated, empty backend and its cleanup. */
  makeBackend: () => Promise<{ backend: Backend; cleanup(): Promise<void>; openAnother?: () => Promise<Backend> }>;
}

/** Maintenance fast enough that tests see promotions and rescues within ~100 ms. */
export const FAST_MAINTENANCE = { promoteIntervalMs: 20, rescueIntervalMs: 40, pruneIntervalMs: 50, leaderTtlMs: 2000 };

export function makeClient(backend: Backend, options: Partial<ClientOptions> = {}): Client {
  return new Client({ backend, logger: silentLogger, maintenance: FAST_MAINTENANCE, closeBackend: false, ...options });
}

/** Polls `probe` every 10 ms until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A promise with its resolve function, for handlers that block until the test releases them. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Runs `body` with a fresh backend and a started client, always cleaning up. */
export async function withClient(factory: BackendFactory, body: (client: Client, backend: Backend) => Promise<void>, options: Partial<ClientOptions> = {}): Promise<void> {
  const { backend, cleanup } = await factory.makeBackend();
  const client = makeClient(backend, options);
  try {
    await client.start();
    await body(client, backend);
  } finally {
    await client.close({ graceMs: 200 });
    await cleanup();
  }
}
