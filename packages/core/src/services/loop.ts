/**
 * `Loop`: the one way Spindle runs something periodically. It calls `tick()`, then sleeps for
 * the delay the tick returns (or the default interval) unless `wake()` cuts the sleep short.
 * Failing ticks are logged and retried with capped exponential backoff.
 *
 * Invariants: at most one tick runs at a time; `stop()` is idempotent, safe before `start()`,
 * and resolves only after the running tick (if any) has finished. Timers are unref'ed so an
 * idle loop never keeps the process alive.
 */
import type { Logger } from '../logger.js';

/**
 * Longest retry delay of the services that must come back soon after the database does: the
 * leader election and the leader's promoter, rescuer and schedule runner retry a failing tick
 * at least this often (or at their own interval, when longer). With the default 30 s cap, a
 * few failed ticks during a brief database outage kept maintenance — rescue of expired leases,
 * promotion of due retries — off for up to 30 s after the database was back (chaos C3); the
 * reliability target is ≤ 5 s.
 */
export const RESUME_RETRY_CAP_MS = 5000;

/** Every long-lived part of a client (workers, maintenance) is a Service. */
export interface Service {
  start(): void;
  stop(): Promise<void>;
}

export interface LoopOptions {
  name: string;
  intervalMs: number;
  /** Returns the ms to sleep before the next tick, or undefined for `intervalMs`. */
  tick: () => Promise<number | void>;
  logger: Logger;
  /** Longest sleep after consecutive failures. */
  maxBackoffMs?: number;
}

export class Loop implements Service {
  private running = false;
  private current: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  private wakeRequested = false;
  private failures = 0;

  constructor(private readonly options: LoopOptions) {}

  get started(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.current = this.run();
  }

  /** Ends the current sleep now (or makes the next one zero if a tick is running). */
  wake(): void {
    this.wakeRequested = true;
    this.wakeSleep?.();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeSleep?.();
    await this.current;
    this.current = null;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.wakeRequested = false;
      let delay: number;
      try {
        const next = await this.options.tick();
        this.failures = 0;
        delay = typeof next === 'number' ? next : this.options.intervalMs;
      } catch (err) {
        this.failures += 1;
        delay = Math.min(this.options.intervalMs * 2 ** Math.min(this.failures, 10), this.options.maxBackoffMs ?? 30_000);
        this.options.logger.warn({ err }, `spindle: ${this.options.name} failed (attempt ${this.failures}); retrying in ${delay} ms`);
      }
      if (!this.running) break;
      if (this.wakeRequested && this.failures === 0) continue;
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.wakeSleep = null;
        resolve();
      };
      this.wakeSleep = done;
      this.timer = setTimeout(done, Math.max(0, ms));
      this.timer.unref();
    });
  }
}
