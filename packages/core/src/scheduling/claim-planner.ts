/**
 * How a worker serving several queues shares its free slots among them: the scheduling decision
 * of DESIGN §5, kept free of I/O so that the worker and the capacity simulator (`simulate.ts`)
 * run the very same code.
 *
 * Strategies:
 * - `strict`: queues in the given order, most urgent first. Every free slot goes to the first
 *   queue that has work; only what it cannot fill goes to the next. A lower queue waits as long
 *   as a higher one has work (that is the point, and its danger: starvation under sustained load).
 * - `weighted`: weighted fair queuing over jobs started. Each slot goes to the ready queue with
 *   the least service relative to its weight (`served / weight`), so under saturation the
 *   started shares follow the weights (60/30/10 → 60 %, 30 %, 10 %), within one job.
 *   Work-conserving: a queue with no work is skipped and its share goes to the others.
 *
 * Invariants:
 * - `plan(free)` never hands out more than `free` slots, and only to queues reported ready.
 * - A queue that comes back after being empty starts at the current virtual time (the smallest
 *   `served / weight` among the queues that had work): an idle queue earns no credit, so it
 *   cannot monopolise the worker on return, and never falls further behind than one turn.
 * - Ties go to the earlier queue in the given order (deterministic: tests and the simulator
 *   reproduce exactly).
 */

export type SchedulingStrategy = 'strict' | 'weighted';

export interface PlannedClaim {
  queue: string;
  limit: number;
}

interface QueueState {
  name: string;
  weight: number;
  /** Jobs started (claimed) from this queue, in weight units after reactivation adjustments. */
  served: number;
  /** The last plan found work here (or it was never asked): false while known empty. */
  ready: boolean;
}

export class ClaimPlanner {
  private readonly states: QueueState[];
  private readonly byName = new Map<string, QueueState>();

  /**
   * `queues` in urgency order (strict) or with their weights (weighted; positive numbers).
   * Validation of user input happens before (worker options); this trusts its arguments.
   */
  constructor(
    readonly strategy: SchedulingStrategy,
    queues: ReadonlyArray<{ name: string; weight: number }>,
  ) {
    this.states = queues.map((q) => ({ name: q.name, weight: q.weight, served: 0, ready: true }));
    for (const s of this.states) this.byName.set(s.name, s);
  }

  get queues(): string[] {
    return this.states.map((s) => s.name);
  }

  serves(queue: string): boolean {
    return this.byName.has(queue);
  }

  isReady(queue: string): boolean {
    return this.byName.get(queue)?.ready ?? false;
  }

  /** True when some served queue may have work. */
  get anyReady(): boolean {
    return this.states.some((s) => s.ready);
  }

  /** The queue was found empty (a claim came back short): skip it until `markReady`. */
  markEmpty(queue: string): void {
    const s = this.byName.get(queue);
    if (s) s.ready = false;
  }

  /** The queue may have work again (an event, a poll): it rejoins at the current virtual time. */
  markReady(queue: string): void {
    const s = this.byName.get(queue);
    if (!s || s.ready) return;
    const vt = this.virtualTime();
    if (vt !== null) s.served = Math.max(s.served, vt * s.weight);
    s.ready = true;
  }

  /** Every queue may have work (the periodic poll: events are only a shortcut). */
  markAllReady(): void {
    for (const s of this.states) this.markReady(s.name);
  }

  /**
   * Splits `free` slots among the ready queues: at most one entry per queue, in the order the
   * claims should be made. Does not count anything as served: call `claimed` with what came back.
   */
  plan(free: number): PlannedClaim[] {
    if (free <= 0) return [];
    if (this.strategy === 'strict') {
      const first = this.states.find((s) => s.ready);
      return first ? [{ queue: first.name, limit: free }] : [];
    }
    const ready = this.states.filter((s) => s.ready);
    if (ready.length === 0) return [];
    if (ready.length === 1) return [{ queue: ready[0]!.name, limit: free }];
    const planned = new Map<QueueState, number>();
    for (let slot = 0; slot < free; slot++) {
      let best: QueueState | null = null;
      let bestLoad = Infinity;
      for (const s of ready) {
        const load = (s.served + (planned.get(s) ?? 0) + 1) / s.weight;
        if (load < bestLoad) {
          best = s;
          bestLoad = load;
        }
      }
      planned.set(best!, (planned.get(best!) ?? 0) + 1);
    }
    return ready.filter((s) => planned.has(s)).map((s) => ({ queue: s.name, limit: planned.get(s)! }));
  }

  /**
   * `got` jobs came back from a claim of up to `limit` from `queue`: they count as served; a short
   * answer marks the queue empty.
   */
  claimed(queue: string, got: number, limit: number): void {
    const s = this.byName.get(queue);
    if (!s) return;
    s.served += got;
    if (got < limit) s.ready = false;
  }

  /** The smallest `served / weight` among queues that have work, or null if none has. */
  private virtualTime(): number | null {
    let vt: number | null = null;
    for (const s of this.states) {
      if (!s.ready) continue;
      const t = s.served / s.weight;
      if (vt === null || t < vt) vt = t;
    }
    return vt;
  }
}
