/**
 * One timer for many deadlines (per-job timeouts and abort grace periods), so a worker never
 * holds a timer per job. Deadlines are few (at most the worker's concurrency, twice), so the
 * earliest one is found by a scan.
 *
 * Invariants:
 * - Each callback runs at most once, never after `delete(key)` or `clear()`.
 * - Deadlines are instants of the monotonic clock (`monotonicNow()`), never of the wall clock: a
 *   wall-clock step (NTP, a VM resume, an operator) must neither fire a timeout early nor hold
 *   one back (chaos scenario C6 found both when deadlines were wall-clock times).
 */

/** The clock of worker-local deadlines: monotonic milliseconds (not an epoch time). */
export const monotonicNow = (): number => performance.now();

export class DeadlineTimer {
  private readonly deadlines = new Map<string, { at: number; fn: () => void }>();
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Infinity;

  set(key: string, at: number, fn: () => void): void {
    this.deadlines.set(key, { at, fn });
    if (at < this.armedAt) this.arm();
  }

  delete(key: string): void {
    this.deadlines.delete(key);
    if (this.deadlines.size === 0) this.disarm();
  }

  clear(): void {
    this.deadlines.clear();
    this.disarm();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
  }

  private arm(): void {
    this.disarm();
    let earliest = Infinity;
    for (const d of this.deadlines.values()) earliest = Math.min(earliest, d.at);
    if (earliest === Infinity) return;
    this.armedAt = earliest;
    this.timer = setTimeout(() => this.fire(), Math.max(0, earliest - monotonicNow()));
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    const now = monotonicNow();
    for (const [key, d] of [...this.deadlines]) {
      if (d.at <= now && this.deadlines.get(key) === d) {
        this.deadlines.delete(key);
        d.fn();
      }
    }
    if (this.deadlines.size > 0) this.arm();
  }
}
