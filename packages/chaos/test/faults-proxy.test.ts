/**
 * The TCP proxy's modes really happen, shown with a real echo server (bytes and socket events)
 * and with a private PostgreSQL cluster (what a pg client sees). Only lower bounds on time are
 * asserted: "nothing arrived within X ms" and "took at least X ms", never "faster than".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { startTcpProxy, type TcpProxy } from '../src/faults/tcp-proxy.js';
import { startPrivateCluster, type PrivateCluster } from '../src/faults/pg-cluster.js';
import { sleep } from '../src/faults/nemesis.js';

const proxies: TcpProxy[] = [];
const sockets: Socket[] = [];
const servers: Server[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function echoServer(): Promise<{ port: number; received: () => string }> {
  let received = '';
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (d) => {
      received += d.toString();
      s.write(d);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, received: () => received };
}

interface Conn {
  socket: Socket;
  data: () => string;
  errors: NodeJS.ErrnoException[];
  closed: () => boolean;
  /** Resolves once `text` has arrived in full. */
  waitFor(text: string): Promise<void>;
}

function open(port: number): Conn {
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let data = '';
  let closed = false;
  const errors: NodeJS.ErrnoException[] = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (d) => {
    data += d.toString();
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', (e) => errors.push(e));
  socket.on('close', () => {
    closed = true;
    waiters.splice(0).forEach((w) => w());
  });
  const conn: Conn = {
    socket,
    data: () => data,
    errors,
    closed: () => closed,
    async waitFor(text) {
      while (!data.includes(text)) {
        if (closed) throw new Error(`closed before '${text}' arrived (got '${data}')`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
  return conn;
}

const untilClosed = (c: Conn): Promise<void> => (c.closed() ? Promise.resolve() : new Promise((r) => c.socket.once('close', () => r())));

async function proxyTo(port: number): Promise<TcpProxy> {
  const p = await startTcpProxy({ target: { port } });
  proxies.push(p);
  return p;
}

describe('tcp proxy with an echo server', () => {
  it('pass forwards both ways; latency delays each direction and keeps the order', { timeout: 30_000 }, async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const a = open(proxy.port);
    a.socket.write('hello');
    await a.waitFor('hello');

    proxy.setMode({ kind: 'latency', ms: 150 });
    const t0 = Date.now();
    a.socket.write('slow');
    await a.waitFor('slow');
    assert.ok(Date.now() - t0 >= 290, `round trip took ${Date.now() - t0} ms, at least 2 × 150 expected`);

    proxy.setMode({ kind: 'latency', ms: 60, jitterMs: 50 });
    const parts = Array.from({ length: 30 }, (_, i) => `<${i}>`);
    for (const part of parts) {
      a.socket.write(part);
      await sleep(2);
    }
    await a.waitFor('<29>');
    assert.equal(a.data(), `helloslow${parts.join('')}`, 'in order despite jitter');
    proxy.setMode({ kind: 'pass' });
  });

  it('blackhole holds open and new connections silently, without closing them, and delivers on heal', { timeout: 30_000 }, async () => {
    const echo = await echoServer();
    const recorded: string[] = [];
    const proxy = await startTcpProxy({ target: { port: echo.port }, recorder: { faultStarted: (a) => (recorded.push(`start ${a.fault}`), () => recorded.push(`heal ${a.fault}`)) } });
    proxies.push(proxy);
    const a = open(proxy.port);
    a.socket.write('one');
    await a.waitFor('one');

    proxy.setMode({ kind: 'blackhole' });
    a.socket.write('two');
    const b = open(proxy.port);
    await new Promise((r) => b.socket.once('connect', r));
    b.socket.write('three');
    await sleep(400);
    assert.equal(a.data(), 'one', 'nothing came back');
    assert.equal(echo.received(), 'one', 'nothing reached the server');
    assert.equal(b.data(), '');
    for (const c of [a, b]) {
      assert.equal(c.closed(), false);
      assert.deepEqual(c.errors, []);
    }

    proxy.setMode({ kind: 'pass' });
    await a.waitFor('onetwo');
    await b.waitFor('three');
    assert.deepEqual(recorded, ['start proxy_blackhole', 'heal proxy_blackhole']);
  });

  it('reset sends RST to open connections and to new ones; pass works again after', { timeout: 30_000 }, async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const a = open(proxy.port);
    a.socket.write('x');
    await a.waitFor('x');

    proxy.setMode({ kind: 'reset' });
    await untilClosed(a);
    assert.equal(a.errors[0]?.code, 'ECONNRESET');
    const b = open(proxy.port);
    await untilClosed(b);
    assert.equal(b.errors[0]?.code, 'ECONNRESET');
    assert.ok(proxy.stats.resets >= 2);

    proxy.setMode({ kind: 'pass' });
    const c = open(proxy.port);
    c.socket.write('back');
    await c.waitFor('back');
  });

  it('dropResponsesAfterRequest delivers the request, swallows the response, then resets', { timeout: 30_000 }, async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port);
    const a = open(proxy.port);
    a.socket.write('ping');
    await a.waitFor('ping');

    proxy.setMode({ kind: 'dropResponsesAfterRequest' });
    a.socket.write('request');
    await untilClosed(a);
    assert.equal(echo.received(), 'pingrequest', 'the server got the request');
    assert.equal(a.data(), 'ping', 'its response never reached the client');
    assert.equal(a.errors[0]?.code, 'ECONNRESET');
    assert.equal(proxy.stats.droppedResponses, 1);
  });
});

describe('tcp proxy in front of PostgreSQL', () => {
  let cluster: PrivateCluster;
  let proxy: TcpProxy;
  const clients: pg.Client[] = [];
  before(async () => {
    cluster = await startPrivateCluster();
    proxy = await proxyTo(cluster.port);
    const direct = await client(cluster.port);
    await direct.query('CREATE TABLE t (v text)');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await cluster?.destroy();
  });

  async function client(port: number, connectionTimeoutMillis = 0): Promise<pg.Client> {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis });
    c.on('error', () => {});
    clients.push(c);
    await c.connect();
    return c;
  }

  const settleWithin = async <T>(p: Promise<T>, ms: number): Promise<'pending' | 'settled'> =>
    Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);

  it('pass, latency, blackhole (hang, then heal), reset and a lost response after a commit', { timeout: 60_000 }, async () => {
    proxy.setMode({ kind: 'pass' });
    const c1 = await client(proxy.port);
    assert.equal((await c1.query<{ v: number }>('SELECT 1 AS v')).rows[0]!.v, 1);

    proxy.setMode({ kind: 'latency', ms: 100 });
    const t0 = Date.now();
    await c1.query('SELECT 1');
    assert.ok(Date.now() - t0 >= 190, `a round trip took ${Date.now() - t0} ms, at least 2 × 100 expected`);

    proxy.setMode({ kind: 'blackhole' });
    const stuck = c1.query<{ v: number }>('SELECT 2 AS v');
    assert.equal(await settleWithin(stuck, 500), 'pending', 'the query hangs in the blackhole');
    await assert.rejects(client(proxy.port, 300), /timeout/i, 'a new connection cannot even log in');
    proxy.setMode({ kind: 'pass' });
    assert.equal((await stuck).rows[0]!.v, 2, 'held bytes are delivered after the heal');

    proxy.setMode({ kind: 'reset' });
    await assert.rejects(c1.query('SELECT 1'), /ECONNRESET|terminated|Connection/i);
    await assert.rejects(client(proxy.port), /ECONNRESET|terminated|Connection/i);

    proxy.setMode({ kind: 'pass' });
    const c2 = await client(proxy.port);
    proxy.setMode({ kind: 'dropResponsesAfterRequest' });
    await assert.rejects(c2.query(`INSERT INTO t VALUES ('lost-ack')`));
    proxy.setMode({ kind: 'pass' });
    const direct = await client(cluster.port);
    assert.deepEqual((await direct.query('SELECT v FROM t')).rows, [{ v: 'lost-ack' }], 'committed though the client saw an error');
  });
});
