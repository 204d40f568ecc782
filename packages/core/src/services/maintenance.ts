/**
 * The leader-only maintenance services, each a `Loop` over one backend operation:
 * - promoter: scheduled/retrying jobs whose runAt is due → queued. It sleeps until the next due
 *   time (bounded by its interval) and is woken when a job is scheduled earlier than that;
 * - rescuer: running jobs whose lease expired → retrying (each due at its own random moment
 *   within `rescueSpreadMs`, so a crashed worker's batch is not claimed together again — ADR
 *   0019), dead or cancelled (counts an attempt);
 * - pruner: finished jobs past their retention → deleted; then the stores (stores.ts): workers
 *   not seen for `workerExpiryMs`, expired idempotency keys, stats older than `statsRetentionMs`;
 * - schedule runner (schedule-runner.ts): due cron/interval schedules → their tick jobs.
 * Every operation is a compare-and-set in the backend, so a second leader (during a handover)
 * wastes work but never corrupts a job. Each loop drains in batches until a batch comes back short.
 * A failing tick of the promoter or rescuer is retried at least every RESUME_RETRY_CAP_MS (or
 * its interval, if longer), so they resume within that long once the database is back.
 */
import type { Backend, RetentionDefaults } from '../backend/backend.js';
import type { EventHub } from '../events.js';
import type { Logger } from '../logger.js';
import { Loop, RESUME_RETRY_CAP_MS, type Service } from './loop.js';
import type { StatsRecorder } from '../telemetry/stats-recorder.js';

export interface MaintenanceIntervals {
  /** Longest sleep of the promoter between checks (it wakes earlier for due jobs). Default 1000. */
  promoteIntervalMs: number;
  /** How often expired leases are looked for. Default 5000. */
  rescueIntervalMs: number;
  /**
   * Rescued jobs that will run again come due at random moments within this many ms of their
   * rescue (state `retrying` meanwhile), so the jobs of one crashed worker — a poison job among
   * them — are claimed apart rather than together again. Adds at most this much to the
   * re-claim of an orphaned job. 0: `queued` at once (every job of a crashed batch due at the
   * same moment). Default 1000 (docs/decisions/0019-rescue-spread.md).
   */
  rescueSpreadMs: number;
  /** How often retention is applied. Default 60000. */
  pruneIntervalMs: number;
  /** Longest sleep of the schedule runner between checks (it wakes earlier for due schedules). Default 1000. */
  scheduleIntervalMs: number;
}

export const DEFAULT_MAINTENANCE: MaintenanceIntervals = {
  promoteIntervalMs: 1000,
  rescueIntervalMs: 5000,
  rescueSpreadMs: 1000,
  pruneIntervalMs: 60_000,
  scheduleIntervalMs: 1000,
};

const BATCH = 1000;
/** Upper bound of batches per tick so one tick cannot monopolise the database. */
const MAX_BATCHES_PER_TICK = 50;

export interface MaintenanceContext {
  backend: Backend;
  logger: Logger;
  hub: EventHub;
  intervals: MaintenanceIntervals;
  retention: RetentionDefaults;
  /** Limits of the stores' pruning (default: workers 60 s, stats 7 days). */
  stores?: { workerExpiryMs: number | null; statsRetentionMs: number | null };
  /** Counts what the rescuer moved (throughput counters); absent when telemetry is off. */
  stats?: StatsRecorder | null;
}

const DEFAULT_STORE_LIMITS = { workerExpiryMs: 60_000, statsRetentionMs: 7 * 24 * 3600 * 1000 };

/** A promoter that sleeps until the next due job; internal events wake it for earlier ones. */
export class Promoter implements Service {
  private readonly loop: Loop;
  private unsubscribe: (() => void) | null = null;
  private sleepingUntil = Infinity;

  constructor(private readonly ctx: MaintenanceContext) {
    const intervalMs = ctx.intervals.promoteIntervalMs;
    this.loop = new Loop({ name: 'promoter', intervalMs, maxBackoffMs: Math.max(intervalMs, RESUME_RETRY_CAP_MS), logger: ctx.logger, tick: () => this.tick() });
  }

  start(): void {
    this.unsubscribe = this.ctx.hub.addInternal((event) => {
      if (!('jobId' in event)) return;
      if (event.state === 'scheduled' || event.state === 'retrying') {
        // Only re-plan when the new job may be due before the current wake-up time.
        if (this.sleepingUntil > Date.now()) this.loop.wake();
      }
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.loop.stop();
  }

  private async tick(): Promise<number> {
    for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
      const { promoted } = await this.ctx.backend.promoteDueJobs({ limit: BATCH });
      if (promoted < BATCH) break;
    }
    const next = await this.ctx.backend.nextDueAt();
    const interval = this.ctx.intervals.promoteIntervalMs;
    const delay = next === null ? interval : Math.min(interval, Math.max(0, next.getTime() - Date.now()));
    this.sleepingUntil = Date.now() + delay;
    return delay;
  }
}

export function createRescuer(ctx: MaintenanceContext): Loop {
  return new Loop({
    name: 'rescuer',
    intervalMs: ctx.intervals.rescueIntervalMs,
    maxBackoffMs: Math.max(ctx.intervals.rescueIntervalMs, RESUME_RETRY_CAP_MS),
    logger: ctx.logger,
    tick: async () => {
      for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
        const result = await ctx.backend.rescueExpiredLeases({ limit: BATCH, retention: ctx.retention, spreadMs: ctx.intervals.rescueSpreadMs });
        const moved = result.requeued.length + result.dead.length + result.cancelled.length;
        if (moved > 0) ctx.logger.warn({ requeued: result.requeued.length, dead: result.dead.length }, 'spindle: rescued jobs whose lease expired');
        if (moved > 0 && ctx.stats) {
          await ctx.stats.countRescued(result).catch((err: unknown) => ctx.logger.warn({ err }, 'spindle: counting rescued jobs failed'));
        }
        if (moved < BATCH) break;
      }
    },
  });
}

export function createPruner(ctx: MaintenanceContext): Loop {
  return new Loop({
    name: 'pruner',
    intervalMs: ctx.intervals.pruneIntervalMs,
    logger: ctx.logger,
    tick: async () => {
      for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
        const deleted = await ctx.backend.pruneJobs({ limit: BATCH });
        if (deleted < BATCH) break;
      }
      const limits = ctx.stores ?? DEFAULT_STORE_LIMITS;
      for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
        const pruned = await ctx.backend.pruneStores({ ...limits, limit: BATCH });
        if (Math.max(pruned.workers, pruned.idempotencyKeys, pruned.stats) < BATCH) break;
      }
      // Topic retention (by age and size, per topic: docs/decisions/0017-topics.md).
      for (let i = 0; i < MAX_BATCHES_PER_TICK; i++) {
        if ((await ctx.backend.pruneTopics({ limit: BATCH })) < BATCH) break;
      }
    },
  });
}
