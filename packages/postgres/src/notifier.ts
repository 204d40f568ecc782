/**
 * The LISTEN connection: ONE dedicated pg.Client per backend (never from the pool), started
 * lazily by the first subscribe(), kept alive until stop().
 *
 * Invariants:
 * - On 'error' or 'end' the client is dropped and a new one connects after a capped exponential
 *   backoff (RETRY_MIN_MS doubling up to RETRY_MAX_MS, reset after a successful LISTEN).
 * - Every PING_INTERVAL_MS a `SELECT 1` must answer within PING_TIMEOUT_MS, else the socket is
 *   presumed silently dead and the client is replaced.
 * - Notifications missed while disconnected are lost: events are best effort; polling is the
 *   correctness path.
 * - Callbacks of a replaced client are ignored (each handler checks it is still the current one).
 */
import pg from 'pg';
import { endClient } from './db.js';

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;

export class Notifier {
  private client: pg.Client | null = null;
  private started = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private ready = false;
  private readyWaiters: Array<() => void> = [];

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
  ) {}

  /** Starts listening (idempotent). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.connect();
  }

  /** Resolves once LISTEN is active (now or after the next (re)connect). */
  whenListening(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  get listening(): boolean {
    return this.ready;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ready = false;
    const client = this.client;
    this.client = null;
    if (client) await endClient(client);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(this.clientConfig);
    this.client = client;
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      if (client === this.client && msg.channel === this.channel && msg.payload !== undefined) this.onPayload(msg.payload);
    });
    try {
      await client.connect();
      // The channel is `spindle:<validated schema>`: safe inside a quoted identifier.
      await client.query(`LISTEN "${this.channel}"`);
    } catch {
      this.lost(client);
      return;
    }
    if (client !== this.client) return;
    this.failures = 0;
    this.ready = true;
    for (const resolve of this.readyWaiters.splice(0)) resolve();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => void this.ping(client), PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  private async ping(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.query('SELECT 1'), timeout]);
    } catch {
      this.lost(client);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The current client failed: drop it and schedule a reconnect. */
  private lost(client: pg.Client): void {
    if (client !== this.client) return;
    this.client = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    void endClient(client);
    if (this.stopped) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures);
    this.failures += 1;
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }
}
