/**
 * Fault driver: a loopback TCP proxy (Node `net`) between clients and one server — PostgreSQL
 * or Spindle's HTTP API — whose behaviour is switched at run time (reliability.md §5.1 "Network";
 * scenarios C5 and C13). It owns its listening socket and every client/upstream socket pair it
 * made; the server and the clients are not its business.
 *
 * Modes:
 * - `pass`: bytes flow both ways unchanged.
 * - `latency`: every chunk waits `ms ± jitterMs` before it is passed on, in order per direction.
 * - `blackhole`: nothing is forwarded either way and nothing is closed or reset — like packets
 *   dropped by a partition. Connections stay open (new ones are accepted, their upstream opened
 *   only on heal); bytes, FINs and resets that arrive meanwhile are held, and delivered in order
 *   when the mode changes, as TCP retransmission would after a short partition.
 * - `reset`: every open pair is reset (RST, both sides) on entry; new connections are reset at
 *   once.
 * - `dropResponsesAfterRequest`: client→server bytes pass; a server→client chunk is swallowed
 *   (with `probability`, default 1, per chunk) and then both sides are reset — the request may
 *   have taken effect, the client can only see an unknown outcome.
 *
 * Invariants:
 * - Per direction, bytes are delivered in the order received, or not at all (only a reset
 *   drops them). Nothing is ever delivered out of order or to another connection.
 * - A reset is an RST (`resetAndDestroy`), never a FIN: the peer sees ECONNRESET.
 * - Backpressure: a source socket stops being read while its destination's buffer is full,
 *   while more than HIGH_WATER bytes wait in its queue, or while blackholed.
 * - `setMode` takes effect at once for later chunks; chunks already delayed keep their due time.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { type FaultRecorder, recordFault } from './nemesis.js';

export type ProxyMode =
  | { kind: 'pass' }
  | { kind: 'latency'; ms: number; jitterMs?: number }
  | { kind: 'blackhole' }
  | { kind: 'reset' }
  | { kind: 'dropResponsesAfterRequest'; probability?: number };

export interface TcpProxyOptions {
  target: { host?: string; port: number };
  /** Port to listen on (127.0.0.1). Default: one the kernel picks. */
  port?: number;
  mode?: ProxyMode;
  /** Random source in [0, 1) for jitter and drop probability. Default Math.random. */
  random?: () => number;
  /** Every non-`pass` mode is recorded as a `fault` op, healed when the mode goes back to `pass`. */
  recorder?: FaultRecorder;
}

export interface ProxyStats {
  accepted: number;
  open: number;
  /** Connections (pairs) this proxy reset. */
  resets: number;
  /** Server→client chunks swallowed in `dropResponsesAfterRequest`. */
  droppedResponses: number;
  bytesUp: number;
  bytesDown: number;
}

export interface TcpProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly mode: ProxyMode;
  readonly stats: Readonly<ProxyStats>;
  setMode(mode: ProxyMode): void;
  close(): Promise<void>;
}

const HIGH_WATER = 1 << 20;

type Item = { data: Buffer; due: number } | { end: true; due: number } | { reset: true; due: number };

interface Direction {
  queue: Item[];
  queued: number;
  lastDue: number;
  waitingDrain: boolean;
  timer: NodeJS.Timeout | null;
}

const direction = (): Direction => ({ queue: [], queued: 0, lastDue: 0, waitingDrain: false, timer: null });

/**
 * Sends RST and destroys. Deferred to the next loop turn: on Node 20, `resetAndDestroy` called on
 * a socket in the same turn it was accepted leaves the event loop spinning at 100 % CPU (timers
 * never fire again, the process cannot exit). Nothing is read or written meanwhile (paused).
 */
function reset(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  socket.pause();
  setImmediate(() => {
    if (socket.destroyed) return;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  });
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const random = options.random ?? Math.random;
  const targetHost = options.target.host ?? '127.0.0.1';
  let mode: ProxyMode = options.mode ?? { kind: 'pass' };
  let healFault: (() => void) | null = null;
  const stats: ProxyStats = { accepted: 0, open: 0, resets: 0, droppedResponses: 0, bytesUp: 0, bytesDown: 0 };
  const pairs = new Set<Pair>();

  class Pair {
    upstream: Socket | null = null;
    readonly up = direction(); // client → server
    readonly down = direction(); // server → client
    private done = false;

    constructor(readonly client: Socket) {
      client.on('data', (d: Buffer) => this.onData('up', d));
      client.on('end', () => this.push('up', { end: true, due: 0 }));
      client.on('error', () => this.push('up', { reset: true, due: 0 }));
      client.on('close', () => this.closed());
      if (mode.kind !== 'blackhole') this.connectUpstream();
      this.flow();
    }

    connectUpstream(): void {
      if (this.upstream || this.done) return;
      const upstream = connect({ host: targetHost, port: options.target.port, allowHalfOpen: true });
      this.upstream = upstream;
      upstream.on('connect', () => this.pump('up'));
      upstream.on('data', (d: Buffer) => this.onData('down', d));
      upstream.on('end', () => this.push('down', { end: true, due: 0 }));
      upstream.on('error', () => this.push('down', { reset: true, due: 0 }));
      upstream.on('close', () => this.closed());
      this.flow();
    }

    onData(dir: 'up' | 'down', data: Buffer): void {
      if (dir === 'down' && mode.kind === 'dropResponsesAfterRequest' && random() < (mode.probability ?? 1)) {
        stats.droppedResponses++;
        this.resetBoth();
        return;
      }
      if (dir === 'up') stats.bytesUp += data.length;
      else stats.bytesDown += data.length;
      this.push(dir, { data, due: 0 });
    }

    push(dir: 'up' | 'down', item: Item): void {
      const d = this[dir];
      const now = Date.now();
      const delay = mode.kind === 'latency' ? Math.max(0, mode.ms + (mode.jitterMs ?? 0) * (2 * random() - 1)) : 0;
      item.due = Math.max(d.lastDue, now + delay);
      d.lastDue = item.due;
      d.queue.push(item);
      if ('data' in item) d.queued += item.data.length;
      this.pump(dir);
    }

    /** Delivers the due items of one direction, in order, unless blackholed or waiting for drain. */
    pump(dir: 'up' | 'down'): void {
      const d = this[dir];
      const dest = dir === 'up' ? this.upstream : this.client;
      if (d.timer) {
        clearTimeout(d.timer);
        d.timer = null;
      }
      while (d.queue.length > 0 && !d.waitingDrain && !this.done && mode.kind !== 'blackhole') {
        if (!dest || dest.connecting) break; // upstream not open yet: connect/heal pumps again
        const head = d.queue[0]!;
        const wait = head.due - Date.now();
        if (wait > 0 && !dest.destroyed) {
          d.timer = setTimeout(() => this.pump(dir), wait);
          break;
        }
        d.queue.shift();
        if ('data' in head) d.queued -= head.data.length;
        if ('reset' in head) {
          this.resetBoth();
          return;
        }
        // Nothing can reach a closed socket: its items are dropped (a reset above still travels on).
        if (dest.destroyed) continue;
        if ('end' in head) {
          dest.end();
          continue;
        }
        if (!dest.write(head.data)) {
          d.waitingDrain = true;
          dest.once('drain', () => {
            d.waitingDrain = false;
            this.pump(dir);
          });
        }
      }
      this.flow();
    }

    /** Reads each source only while its direction can take more. */
    flow(): void {
      const set = (source: Socket | null, d: Direction): void => {
        if (!source || source.destroyed) return;
        if (mode.kind === 'blackhole' || d.waitingDrain || d.queued > HIGH_WATER) source.pause();
        else source.resume();
      };
      set(this.client, this.up);
      set(this.upstream, this.down);
    }

    resetBoth(): void {
      if (this.done) return;
      stats.resets++;
      this.done = true;
      reset(this.client);
      reset(this.upstream);
      this.closed();
    }

    closed(): void {
      const clientGone = this.client.destroyed;
      const upstreamGone = !this.upstream || this.upstream.destroyed;
      if (!this.done && !(clientGone && upstreamGone)) return;
      this.done = true;
      for (const d of [this.up, this.down]) if (d.timer) clearTimeout(d.timer);
      if (pairs.delete(this)) stats.open--;
    }

    heal(): void {
      this.connectUpstream();
      this.pump('up');
      this.pump('down');
    }
  }

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    stats.accepted++;
    if (mode.kind === 'reset') {
      client.on('error', () => {});
      reset(client);
      stats.resets++;
      return;
    }
    stats.open++;
    pairs.add(new Pair(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const proxy: TcpProxy = {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    stats,
    setMode(next) {
      const was = mode;
      if (next.kind !== 'pass' && JSON.stringify(was) !== JSON.stringify(next)) {
        healFault?.();
        healFault = recordFault(options.recorder, { fault: `proxy_${next.kind}`, target: `${targetHost}:${options.target.port}`, ...next });
      }
      mode = next;
      if (next.kind === 'reset') for (const p of [...pairs]) p.resetBoth();
      else if (was.kind === 'blackhole' && next.kind !== 'blackhole') for (const p of [...pairs]) p.heal();
      else for (const p of pairs) p.flow();
      if (next.kind === 'pass' && healFault) {
        healFault();
        healFault = null;
      }
    },
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const p of [...pairs]) p.resetBoth();
      await closed;
      healFault?.();
      healFault = null;
    },
  };
  if (mode.kind !== 'pass') {
    const initial = mode;
    mode = { kind: 'pass' };
    proxy.setMode(initial);
  }
  return proxy;
}
