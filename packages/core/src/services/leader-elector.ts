/**
 * Leader election for maintenance: every client competes; the one the backend says holds the
 * `maintenance` role runs the leader-only services (promote, rescue, prune) until it loses the
 * role or stops. Losing or gaining the role starts/stops those services.
 *
 * Invariant: leader services run only between a successful acquire and the next failed one
 * (or stop). Correctness never depends on there being exactly one leader — every maintenance
 * write is a compare-and-set — leadership only avoids duplicate work.
 */
import type { Backend } from '../backend/backend.js';
import type { Logger } from '../logger.js';
import { Loop, RESUME_RETRY_CAP_MS, type Service } from './loop.js';

export interface LeaderElectorOptions {
  backend: Backend;
  holderId: string;
  ttlMs: number;
  logger: Logger;
  /** Started on election, stopped on loss. */
  services: Service[];
}

export class LeaderElector implements Service {
  private leader = false;
  private readonly loop: Loop;

  constructor(private readonly options: LeaderElectorOptions) {
    const intervalMs = Math.max(50, Math.floor(options.ttlMs / 3));
    this.loop = new Loop({
      name: 'leader election',
      intervalMs,
      // A failed election (database down) is retried at least every RESUME_RETRY_CAP_MS, so
      // maintenance resumes soon after the database does (loop.ts).
      maxBackoffMs: Math.max(intervalMs, RESUME_RETRY_CAP_MS),
      logger: options.logger,
      tick: () => this.tick(),
    });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    if (this.leader) {
      this.leader = false;
      await Promise.all(this.options.services.map((s) => s.stop()));
      await this.options.backend.releaseLeadership(this.options.holderId).catch((err: unknown) => {
        this.options.logger.warn({ err }, 'spindle: releasing leadership failed');
      });
    }
  }

  private async tick(): Promise<void> {
    let elected: boolean;
    try {
      elected = await this.options.backend.tryAcquireLeadership({ holderId: this.options.holderId, ttlMs: this.options.ttlMs });
    } catch (err) {
      if (this.leader) await this.demote();
      throw err;
    }
    if (elected && !this.leader) {
      this.leader = true;
      this.options.logger.info({ holderId: this.options.holderId }, 'spindle: elected maintenance leader');
      for (const service of this.options.services) service.start();
    } else if (!elected && this.leader) {
      await this.demote();
    }
  }

  private async demote(): Promise<void> {
    this.leader = false;
    this.options.logger.info({ holderId: this.options.holderId }, 'spindle: lost maintenance leadership');
    await Promise.all(this.options.services.map((s) => s.stop()));
  }
}
