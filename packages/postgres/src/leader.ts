/**
 * Maintenance leadership: a session-level `pg_try_advisory_lock(<key of schema:leader>)` held on
 * a dedicated pg.Client (never from the pool) for as long as this instance leads.
 *
 * Invariants:
 * - Leadership lives exactly as long as the session holding the lock: if that connection dies,
 *   PostgreSQL releases the lock and another process can take it.
 * - Every tryAcquire verifies the held connection (`SELECT 1`, bounded by VERIFY_TIMEOUT_MS);
 *   a dead one is discarded (with the leadership) and the lock is tried on a fresh connection.
 * - Within one instance only one holderId leads at a time (advisory locks are re-entrant per
 *   session, so this is enforced here). Calls are serialised.
 * - release unlocks and ends the client; close ends it without asking.
 */
import pg from 'pg';
import { endClient, toBackendError } from './db.js';

const VERIFY_TIMEOUT_MS = 5_000;

export class Leadership {
  private client: pg.Client | null = null;
  private alive = false;
  private holder: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    private readonly lockKey: string,
  ) {}

  tryAcquire(holderId: string): Promise<boolean> {
    return this.serial(async () => {
      if (this.closed) return false;
      if (this.holder !== null) {
        if (await this.verify()) return this.holder === holderId;
        this.drop(); // the connection died: so did the lock
      }
      // A follower keeps its connection between tries; if it died meanwhile, try once more on a
      // fresh one.
      for (let attempt = 1; ; attempt++) {
        const reused = this.client !== null && this.alive;
        const client = await this.connectedClient();
        try {
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [this.lockKey]);
          if (rows[0]?.ok === true) this.holder = holderId;
          return this.holder === holderId;
        } catch (err) {
          this.drop();
          if (!reused || attempt >= 2) throw toBackendError('tryAcquireLeadership', err);
        }
      }
    });
  }

  release(holderId: string): Promise<void> {
    return this.serial(async () => {
      if (this.holder !== holderId || !this.client) return;
      const client = this.client;
      this.holder = null;
      this.client = null;
      try {
        if (this.alive) await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.lockKey]);
      } catch {
        // The session is gone or going: the lock goes with it.
      } finally {
        this.alive = false;
        await endClient(client);
      }
    });
  }

  /** Ends the connection (and thereby the lock). Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    return this.serial(async () => {
      const client = this.client;
      this.client = null;
      this.alive = false;
      this.holder = null;
      if (client) await endClient(client);
    });
  }

  private async verify(): Promise<boolean> {
    const client = this.client;
    if (!client || !this.alive) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('leader connection check timed out')), VERIFY_TIMEOUT_MS);
        }),
      ]);
      return this.alive;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async connectedClient(): Promise<pg.Client> {
    if (this.client && this.alive) return this.client;
    this.drop();
    const client = new pg.Client(this.clientConfig);
    const dead = (): void => {
      if (this.client === client) this.alive = false;
    };
    client.on('error', dead);
    client.on('end', dead);
    try {
      await client.connect();
    } catch (err) {
      await endClient(client);
      throw toBackendError('tryAcquireLeadership', err);
    }
    this.client = client;
    this.alive = true;
    return client;
  }

  /** Forgets the client and any leadership that came with it (ending it, not waiting). */
  private drop(): void {
    const client = this.client;
    this.client = null;
    this.alive = false;
    this.holder = null;
    if (client) void endClient(client);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}
