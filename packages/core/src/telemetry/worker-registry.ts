/**
 * WorkerRegistry: keeps a client's library workers in the worker registry (stores.ts). A worker
 * is registered when it starts, its busy slots are reported every `heartbeatMs`, and it is
 * removed when it closes. The leader's pruner deletes rows of processes that died without
 * closing (maintenance.ts, `workerExpiryMs`).
 *
 * Invariants:
 * - ONE statement per heartbeat for all of the client's workers (`upsertWorkers`), never one
 *   per worker or per job; a worker that starts wakes the loop, so it appears at once, and
 *   workers started together share that statement.
 * - Registry writes of a client are serialised: a removal is never overtaken by a heartbeat
 *   that still listed the worker (which would bring its row back).
 * - Failures are logged and retried by the loop; the registry never affects job processing.
 */
import { hostname } from 'node:os';
import type { Backend } from '../backend/backend.js';
import { MAX_WORKERS_PER_UPSERT } from '../backend/store-checks.js';
import type { WorkerUpsert } from '../backend/stores.js';
import type { Logger } from '../logger.js';
import { Loop, type Service } from '../services/loop.js';

/** What the registry reads of a worker. */
export interface RegisteredWorker {
  readonly id: string;
  /** A worker serving several queues is listed once per queue (same id). */
  readonly queues: readonly string[];
  /** How a multi-queue worker shares its slots (reported in the row's `meta`). */
  readonly strategy: string;
  /** Slots in use by jobs of `queue`. */
  runningIn(queue: string): number;
  readonly concurrency: number;
}

export interface WorkerRegistryOptions {
  backend: Backend;
  heartbeatMs: number;
  logger: Logger;
}

const HOST = hostname().slice(0, 255) || 'unknown';

/**
 * The registry row ids of a worker: its id, or for a worker serving several queues one row per
 * queue, `<id>@<queue>` (the registry is keyed by id; listings and metrics are per queue).
 */
export function registryIds(worker: Pick<RegisteredWorker, 'id' | 'queues'>): string[] {
  if (worker.queues.length === 1) return [worker.id];
  return worker.queues.map((queue) => `${worker.id}@${queue}`.slice(0, 200));
}

export class WorkerRegistry implements Service {
  private readonly workers = new Map<string, RegisteredWorker>();
  private readonly loop: Loop;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WorkerRegistryOptions) {
    this.loop = new Loop({ name: 'worker heartbeat', intervalMs: options.heartbeatMs, logger: options.logger, tick: () => this.beat() });
  }

  /** Starts the heartbeat (the client calls it once started: the schema is ready). */
  start(): void {
    this.loop.start();
  }

  /** A worker started: registered with the next heartbeat, which happens now. */
  add(worker: RegisteredWorker): void {
    this.workers.set(worker.id, worker);
    this.loop.wake();
  }

  /** A worker closed: its row is deleted (resolves when done; failures are logged). */
  async remove(worker: RegisteredWorker): Promise<void> {
    if (this.workers.get(worker.id) !== worker) return;
    this.workers.delete(worker.id);
    if (!this.loop.started) return; // never written
    await this.serial(() => this.options.backend.removeWorkers({ ids: registryIds(worker) })).catch((err: unknown) => {
      this.options.logger.warn({ err, workerId: worker.id }, 'spindle: removing a worker from the registry failed; the leader prunes it later');
    });
  }

  /** Writes a heartbeat now (tests, and the server before it answers a listing). */
  beatNow(): Promise<void> {
    return this.beat();
  }

  /** Stops the heartbeat; workers still registered are removed. */
  async stop(): Promise<void> {
    const wasStarted = this.loop.started;
    await this.loop.stop();
    const ids = [...this.workers.values()].flatMap(registryIds);
    this.workers.clear();
    if (wasStarted && ids.length > 0) {
      await this.serial(async () => {
        for (let i = 0; i < ids.length; i += MAX_WORKERS_PER_UPSERT) {
          await this.options.backend.removeWorkers({ ids: ids.slice(i, i + MAX_WORKERS_PER_UPSERT) });
        }
      }).catch((err: unknown) => this.options.logger.warn({ err }, 'spindle: removing workers from the registry at close failed'));
    }
    await this.chain;
  }

  private beat(): Promise<void> {
    return this.serial(async () => {
      // Read at write time (inside the chain): a worker removed meanwhile is not listed.
      const rows: WorkerUpsert[] = [];
      for (const w of this.workers.values()) {
        const ids = registryIds(w);
        for (const [i, queue] of w.queues.entries()) {
          rows.push({
            id: ids[i]!,
            queue,
            host: HOST,
            pid: process.pid,
            concurrency: w.concurrency,
            busy: Math.min(w.runningIn(queue), w.concurrency),
            kind: 'library',
            meta: w.queues.length > 1 ? JSON.stringify({ queues: w.queues, strategy: w.strategy }) : null,
          });
        }
      }
      for (let i = 0; i < rows.length; i += MAX_WORKERS_PER_UPSERT) {
        await this.options.backend.upsertWorkers({ workers: rows.slice(i, i + MAX_WORKERS_PER_UPSERT) });
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
