/**
 * Registers HTTP workers in the shared worker registry (`upsertWorkers`), so `GET /workers` and
 * the dashboard show them next to library workers. A claim is an HTTP worker's sign of life:
 * each one is noted in memory, and a timer writes everything noted since the last write in ONE
 * statement (default every 5 s) — never a write per request.
 *
 * Invariant: registration is best effort and off the request path: a failed write is logged and
 * retried with the next batch; a claim never waits for it.
 */
import { hostname } from 'node:os';
import type { Client, WorkerUpsert } from '@spindle/core';

interface Seen {
  queue: string;
  batch: number;
  busy: number;
  remote: string;
}

export class HttpWorkerRegistry {
  private readonly pending = new Map<string, Seen>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly client: Client,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  /** Notes a claim by `workerId` on `queue` that asked for `batch` jobs and got `got`. */
  seen(workerId: string, queue: string, batch: number, got: number, remote: string): void {
    this.pending.set(`${queue}\n${workerId}`, { queue, batch, busy: got, remote });
  }

  async flush(): Promise<void> {
    if (this.flushing || this.pending.size === 0) return this.flushing ?? undefined;
    const rows: WorkerUpsert[] = [];
    for (const [key, s] of this.pending) {
      const workerId = key.slice(key.indexOf('\n') + 1);
      rows.push({ id: `http:${s.queue}:${workerId}`.slice(0, 200), queue: s.queue, host: s.remote.slice(0, 255) || hostname(), concurrency: Math.max(1, s.batch), busy: Math.min(s.busy, Math.max(1, s.batch)), kind: 'http', meta: JSON.stringify({ workerId }) });
      if (rows.length === 1000) break;
    }
    for (const row of rows) this.pending.delete(`${row.queue}\n${JSON.parse(row.meta!).workerId as string}`);
    this.flushing = this.client
      .run((b) => b.upsertWorkers({ workers: rows }))
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
