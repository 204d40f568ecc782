/**
 * A sleep that can be cut short: the worker's fetch loop sleeps on it (idle queue, full slots,
 * claim backoff) and events, freed slots and shutdown wake it.
 *
 * Invariant: a wake with nobody sleeping is not remembered (callers re-check their state after
 * every sleep); at most one sleeper (the fetch loop) at a time.
 */
export class WakeSignal {
  private waiter: (() => void) | null = null;

  /** Resolves after `ms`, or at the next `wake()`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.waiter === done) this.waiter = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiter = done;
    });
  }

  wake(): void {
    this.waiter?.();
  }
}
