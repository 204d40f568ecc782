/**
 * Wake-ups for long-polling HTTP claims: a claim that found its queue empty waits here until an
 * event says the queue may have work (a job became `queued`, the queue was resumed or its limits
 * changed — or, for a claim a concurrency limit cut short, a job of the queue left `running`),
 * a fallback timer fires, the request goes away, or the server stops.
 *
 * Invariant: waiting is only an optimisation. Whatever wakes a waiter, the route claims again
 * from the database; a missed event costs at most the fallback interval.
 */
import type { Client, JobOrQueueEvent } from '@spindle/core';

type Wake = (() => void) & { onFinish?: boolean };

export class QueueWaiter {
  private readonly waiters = new Map<string, Set<Wake>>();
  private unsubscribe: (() => void) | null = null;
  private stopped = false;

  attach(client: Client): void {
    this.unsubscribe?.();
    this.unsubscribe = client.on('event', (event) => this.onEvent(event));
  }

  /** Wakes every waiter and refuses new waits (server shutdown). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const set of this.waiters.values()) for (const wake of set) wake();
    this.waiters.clear();
  }

  /**
   * Resolves when `queue` may have work, after `maxMs`, when `signal` aborts, or on stop.
   * Resolves to false when the wait should end for good (aborted or stopped).
   */
  wait(queue: string, maxMs: number, signal: AbortSignal, options: { wakeOnFinish?: boolean } = {}): Promise<boolean> {
    if (this.stopped || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.waiters.get(queue);
      if (!set) {
        set = new Set();
        this.waiters.set(queue, set);
      }
      const finish = (keepGoing: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(queue) === set) this.waiters.delete(queue);
        resolve(keepGoing && !this.stopped);
      };
      const wake: Wake = () => finish(true);
      if (options.wakeOnFinish) wake.onFinish = true;
      const onAbort = () => finish(false);
      const timer = setTimeout(wake, maxMs);
      signal.addEventListener('abort', onAbort, { once: true });
      set.add(wake);
    });
  }

  private onEvent(event: JobOrQueueEvent): void {
    const set = this.waiters.get(event.queue);
    if (!set) return;
    // A job left `running`: only waiters held back by a concurrency limit care (a slot freed).
    if ('jobId' in event && event.state !== 'queued' && event.state !== 'running') {
      for (const wake of [...set]) if (wake.onFinish) wake();
      return;
    }
    const claimable = 'jobId' in event ? event.state === 'queued' : event.type === 'resumed' || event.type === 'limits_changed';
    if (!claimable) return;
    // Wake one waiter per job-becoming-queued event would be fairer but can strand jobs when a
    // waiter then finds nothing; waking all is simple and the claims sort it out.
    for (const wake of [...set]) wake();
  }
}
