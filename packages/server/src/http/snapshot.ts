/**
 * A read that callers may accept a little old: the last result and when it was read, shared by
 * every caller that allows that much staleness. `GET /queues?maxAgeMs=` uses it for the counts
 * of every queue, which cost a scan of each state's index (100–250 ms with a million retained
 * jobs on this VM: bench/DASHBOARD.md), so that a dashboard refreshing every few seconds pays
 * that at most once per window, however many pages are open.
 *
 * Invariants:
 * - `get(0)` always reads (the API's default: exact answers).
 * - A result older than the caller's `maxAgeMs` is never returned; the age is measured from the
 *   moment its read STARTED, so nothing committed before that moment is missing from it.
 * - At most one read is in flight: callers that would start one while another runs wait for it
 *   instead (its start is then recent enough for them). A failed read is not kept.
 */
export class Snapshot<T> {
  private last: { startedAt: number; value: T } | null = null;
  private inflight: { startedAt: number; promise: Promise<T> } | null = null;

  constructor(private readonly read: () => Promise<T>, private readonly clock: () => number = Date.now) {}

  /** The value and the time (epoch ms) its read started. */
  async get(maxAgeMs: number): Promise<{ value: T; startedAt: number }> {
    const now = this.clock();
    if (maxAgeMs > 0 && this.last && now - this.last.startedAt <= maxAgeMs) return this.last;
    if (maxAgeMs > 0 && this.inflight) {
      const { startedAt, promise } = this.inflight;
      return { value: await promise, startedAt };
    }
    const startedAt = now;
    const promise = this.read();
    const entry = { startedAt, promise };
    this.inflight = entry;
    try {
      const value = await promise;
      if (!this.last || this.last.startedAt <= startedAt) this.last = { startedAt, value };
      return { value, startedAt };
    } finally {
      if (this.inflight === entry) this.inflight = null;
    }
  }
}
