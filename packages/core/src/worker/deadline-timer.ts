/**
 * One timer for many deadlines (per-job timeouts and abort grace periods), so a worker never
 * holds a timer per job. Deadlines are few (at most the worker's concurrency, twice), so the
 * earliest one is found by a scan.
 *
 * Invariant: each callback runs at most once, never after `delete(key)` or `clear()`.
 */
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
    this.timer = setTimeout(() => this.fire(), Math.max(0, earliest - Date.now()));
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    const now = Date.now();
    for (const [key, d] of [...this.deadlines]) {
      if (d.at <= now && this.deadlines.get(key) === d) {
        this.deadlines.delete(key);
        d.fn();
      }
    }
    if (this.deadlines.size > 0) this.arm();
  }
}
