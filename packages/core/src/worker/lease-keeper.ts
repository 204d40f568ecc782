/**
 * Keeps a worker's leases alive: one `extendLeases` call for all of the worker's running jobs
 * per heartbeat, never a timer or a query per job. Reports leases the database says are lost
 * (another attempt or the rescuer owns the job) and cancel requests seen on the row.
 *
 * Invariant: a report is only made for a lease that is still tracked when the answer arrives — a job finalized while the heartbeat was in flight is not reported lost.
 */
import type { Backend, LeaseRef } from '../backend/backend.js';
import type { Logger } from '../logger.js';
import { Loop, type Service } from '../services/loop.js';

export interface LeaseKeeperOptions {
  backend: Backend;
  leaseMs: number;
  heartbeatMs: number;
  logger: Logger;
  onLost: (lease: LeaseRef) => void;
  onCancelRequested: (lease: LeaseRef) => void;
}

export class LeaseKeeper implements Service {
  /** Keyed by lease token: a job may briefly have two attempts here (a stale one and its successor). */
  private readonly leases = new Map<string, LeaseRef>();
  private readonly loop: Loop;

  constructor(private readonly options: LeaseKeeperOptions) {
    // A failed heartbeat is retried at the heartbeat pace, never slower: backing off beyond it
    // (the Loop default doubles up to 30 s) would let a brief database blip expire the leases.
    this.loop = new Loop({
      name: 'heartbeat',
      intervalMs: options.heartbeatMs,
      maxBackoffMs: options.heartbeatMs,
      logger: options.logger,
      tick: () => this.beat(),
    });
  }

  get size(): number {
    return this.leases.size;
  }

  track(lease: LeaseRef): void {
    this.leases.set(lease.leaseToken, { id: lease.id, attempt: lease.attempt, leaseToken: lease.leaseToken });
  }

  untrack(lease: LeaseRef): void {
    this.leases.delete(lease.leaseToken);
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async beat(): Promise<void> {
    if (this.leases.size === 0) return;
    const leases = [...this.leases.values()];
    const outcomes = await this.options.backend.extendLeases({ leases, leaseMs: this.options.leaseMs });
    leases.forEach((lease, i) => {
      const answer = outcomes[i];
      if (!answer || !this.leases.has(lease.leaseToken)) return;
      if (answer.outcome !== 'ok') {
        this.leases.delete(lease.leaseToken);
        this.options.onLost(lease);
      } else if (answer.cancelRequested) {
        this.options.onCancelRequested(lease);
      }
    });
  }
}
