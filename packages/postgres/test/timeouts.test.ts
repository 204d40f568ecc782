/**
 * Bounded waits on a silent network (connectTimeoutMs / queryTimeoutMs, or the URL's
 * connect_timeout / query_timeout). Regression test for what the chaos scenario C5 found: with
 * the network to PostgreSQL blackholed (packets dropped, nothing closed) every call — a query
 * on an open connection, and opening a new one — waited until the network came back, however
 * long that took. Now each can be bounded; by default nothing changes.
 *
 * A "silent" peer here is a TCP listener that accepts and never answers (a handshake that never
 * completes), or a relay to the test database that stops forwarding (a query never answered).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { BackendError, ValidationError } from '@spindle/core';
import { PostgresBackend } from '../src/index.js';
import { connectTimeoutFromUrl } from '../src/config.js';
import { TEST_PG_URL, randomSchema } from './helpers.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function listen(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

/** Accepts connections and never sends a byte. */
const silentPort = (): Promise<number> => listen(() => {});

/** Relays to the test database until `silence()`; then drops every byte both ways (nothing is closed). */
async function relay(): Promise<{ port: number; silence(): void }> {
  const target = new URL(TEST_PG_URL);
  let silent = false;
  const port = await listen((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('data', (d) => { if (!silent) upstream.write(d); });
    upstream.on('data', (d) => { if (!silent) client.write(d); });
    client.on('close', () => upstream.destroy());
  });
  return { port, silence: () => { silent = true; } };
}

const urlOn = (port: number, params = ''): string => {
  const u = new URL(TEST_PG_URL);
  u.host = `127.0.0.1:${port}`;
  return `${u.toString()}${params}`;
};

/** Settles `p` within `ms`, or says it is still pending. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ state: 'resolved' | 'rejected' | 'pending'; error?: unknown; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); });
  const settled = p.then(() => 'resolved' as const, (error: unknown) => ({ error }));
  const out = await Promise.race([settled, pending]);
  clearTimeout(timer);
  if (out === 'pending') return { state: 'pending', ms: Date.now() - t0 };
  if (out === 'resolved') return { state: 'resolved', ms: Date.now() - t0 };
  return { state: 'rejected', error: out.error, ms: Date.now() - t0 };
}

describe('bounded waits on a silent network', () => {
  it('connectTimeoutMs: opening a connection to a peer that never answers fails with a BackendError', { timeout: 20_000 }, async () => {
    const port = await silentPort();
    const backend = new PostgresBackend({ connectionString: urlOn(port), schema: randomSchema(), listen: false, connectTimeoutMs: 300 });
    try {
      const r = await within(backend.now(), 8000);
      assert.equal(r.state, 'rejected', 'the call must fail, not wait for the network');
      assert.ok(r.error instanceof BackendError, String(r.error));
      // Leadership's dedicated connection is bounded the same way.
      const lead = await within(backend.tryAcquireLeadership({ holderId: 'h', ttlMs: 10_000 }), 8000);
      assert.equal(lead.state, 'rejected');
    } finally {
      await backend.close();
    }
  });

  it("the URL's connect_timeout (seconds, as libpq) sets it when the option is not given", { timeout: 20_000 }, async () => {
    assert.equal(connectTimeoutFromUrl('postgres://u@h:1/db?connect_timeout=2'), 2000);
    assert.equal(connectTimeoutFromUrl('postgres://u@h:1/db?connect_timeout=0'), null);
    assert.equal(connectTimeoutFromUrl('postgres://u@h:1/db'), null);
    assert.equal(connectTimeoutFromUrl(undefined), null);
    const port = await silentPort();
    const backend = new PostgresBackend({ connectionString: urlOn(port, '?connect_timeout=1'), schema: randomSchema(), listen: false });
    try {
      const r = await within(backend.now(), 8000);
      assert.equal(r.state, 'rejected');
    } finally {
      await backend.close();
    }
  });

  it('queryTimeoutMs: a statement on an open connection whose network went silent fails; without it, it keeps waiting (default unchanged)', { timeout: 20_000 }, async () => {
    const bounded = await relay();
    const unbounded = await relay();
    const a = new PostgresBackend({ connectionString: urlOn(bounded.port), schema: randomSchema(), listen: false, poolMax: 1, queryTimeoutMs: 400, connectTimeoutMs: 400 });
    const b = new PostgresBackend({ connectionString: urlOn(unbounded.port), schema: randomSchema(), listen: false, poolMax: 1 });
    try {
      await a.now(); // connections open and working
      await b.now();
      bounded.silence();
      unbounded.silence();
      const r = await within(a.now(), 8000);
      assert.equal(r.state, 'rejected');
      assert.ok(r.error instanceof BackendError, String(r.error));
      // The next call needs a new connection (the timed-out one was discarded): bounded too.
      assert.equal((await within(a.now(), 8000)).state, 'rejected');
      assert.equal((await within(b.now(), 1500)).state, 'pending', 'no bound configured: the call waits for the network');
    } finally {
      await Promise.all([a.close(), b.close()].map((p) => within(p, 3000)));
    }
  });

  it('rejects timeouts that are not a positive integer of ms', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new PostgresBackend({ connectionString: TEST_PG_URL, connectTimeoutMs: bad }), ValidationError);
      assert.throws(() => new PostgresBackend({ connectionString: TEST_PG_URL, queryTimeoutMs: bad }), ValidationError);
    }
  });
});
