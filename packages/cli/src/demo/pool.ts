/**
 * The transcoder pool: N slots shared by the handlers of two queues (video.paid and video.free),
 * granted by smooth weighted round-robin between the lanes that have someone waiting — 3:1 paid
 * first by default, and work-conserving (a lane with nobody waiting gives its share away).
 *
 * Why: a Spindle worker serves one queue. Two workers, each as wide as the pool, with this gate
 * in their handlers, behave like one pool serving both queues. A job waiting here is claimed
 * (state `running`, lease kept alive), like a job in a worker's `prefetch` buffer.
 *
 * Invariants: at most `size` grants are held; a waiter whose signal aborts leaves the queue
 * (its promise rejects with the signal's reason); after close() nothing more is granted.
 */
export class TranscoderPool<Lane extends string> {
  private readonly busy = new Map<Lane, number>();
  private readonly waiters = new Map<Lane, Array<() => void>>();
  private readonly credit = new Map<Lane, number>();
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly size: number,
    private readonly weights: Record<Lane, number>,
  ) {
    for (const lane of Object.keys(weights) as Lane[]) {
      this.busy.set(lane, 0);
      this.waiters.set(lane, []);
      this.credit.set(lane, 0);
    }
  }

  /** Resolves with a release function once a slot is granted to `lane`. */
  acquire(lane: Lane, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const queue = this.waiters.get(lane)!;
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.busy.set(lane, this.busy.get(lane)! + 1);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.busy.set(lane, this.busy.get(lane)! - 1);
          this.grantFree();
          if (this.inUse() === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
      this.grantFree();
    });
  }

  /** Stops granting; jobs waiting keep waiting until their signal aborts (worker shutdown). */
  close(): void {
    this.closed = true;
  }

  /** Resolves when no slot is held, or after `ms`. */
  idle(ms: number): Promise<void> {
    if (this.inUse() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.idleWaiters = self.idleWaiters.filter((w) => w !== done);
        resolve();
      }
      this.idleWaiters.push(done);
    });
  }

  /** Slots held and jobs waiting, per lane. */
  stats(): { size: number; busy: Record<Lane, number>; waiting: Record<Lane, number> } {
    const busy = Object.fromEntries(this.busy) as Record<Lane, number>;
    const waiting = Object.fromEntries([...this.waiters].map(([lane, q]) => [lane, q.length])) as Record<Lane, number>;
    return { size: this.size, busy, waiting };
  }

  private inUse(): number {
    let n = 0;
    for (const b of this.busy.values()) n += b;
    return n;
  }

  /** Smooth weighted round-robin over the lanes that have waiters, while slots are free. */
  private grantFree(): void {
    while (!this.closed && this.inUse() < this.size) {
      const contenders: Lane[] = [];
      for (const [lane, q] of this.waiters) {
        if (q.length > 0) contenders.push(lane);
        else this.credit.set(lane, 0); // an idle lane neither banks nor owes turns
      }
      if (contenders.length === 0) return;
      let best = contenders[0]!;
      let total = 0;
      for (const lane of contenders) {
        const w = this.weights[lane];
        total += w;
        this.credit.set(lane, this.credit.get(lane)! + w);
        if (this.credit.get(lane)! > this.credit.get(best)!) best = lane;
      }
      this.credit.set(best, this.credit.get(best)! - total);
      this.waiters.get(best)!.shift()!();
    }
  }
}
