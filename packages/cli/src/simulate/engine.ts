/**
 * The capacity simulator: a discrete-event simulation on a virtual clock of jobs arriving in
 * queues and workers taking them. Each simulated worker shares its slots with the very
 * `ClaimPlanner` a real worker uses (strict or weighted), so what it predicts is what that
 * scheduling code does; the database, claims' latency and failures are not modelled.
 *
 * Invariants:
 * - Deterministic: the same checked spec (and seed) gives the same result, event for event.
 * - A worker never runs more than its concurrency; a job starts once and finishes once.
 * - Time only moves forward: events are processed in (time, insertion) order.
 * - Inside a queue, jobs start by priority (lower first), then arrival order — as claims order
 *   them (priority, run_at, insertion).
 */
import { ClaimPlanner } from '@spindle/core';
import { mulberry32, type Random } from '../demo/prng.js';
import type { CheckedSpec, ServiceTime } from './spec.js';

export interface QueueResult {
  name: string;
  arrived: number;
  completed: number;
  /** Still waiting or running when the simulation stopped. */
  unfinished: number;
  /** Share of all completed jobs. */
  share: number;
  /** Waiting time (arrival → start), ms; null when nothing started. */
  waitMs: { p50: number; p95: number; p99: number; max: number; mean: number } | null;
  /** When its last job finished (ms from the start), or null. */
  lastFinishMs: number | null;
  /** The same per priority class, when the queue has more than one. */
  byPriority?: Array<{ priority: number; arrived: number; completed: number; waitMs: QueueResult['waitMs'] }>;
}

export interface SimulationResult {
  /** Virtual time of the last event processed (ms). */
  endMs: number;
  /** Every job finished before `untilSeconds`. */
  drained: boolean;
  completed: number;
  /** Busy slot-time ÷ available slot-time over the run. */
  utilization: number;
  queues: QueueResult[];
}

interface PriorityClass {
  arrived: number;
  completed: number;
  waits: number[];
}

interface SimQueue {
  name: string;
  /** Waiting jobs, next to start on top: by priority, then arrival. */
  waiting: MinHeap<{ priority: number; at: number; seq: number }>;
  service: ServiceTime;
  arrived: number;
  completed: number;
  waits: number[];
  lastFinishMs: number | null;
  classes: Map<number, PriorityClass>;
}

/** A binary min-heap under `less`. */
class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.less(items[l]!, items[m]!)) m = l;
        if (r < items.length && this.less(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }
}

interface SimWorker {
  planner: ClaimPlanner;
  queues: SimQueue[];
  concurrency: number;
  busy: number;
}

/** Events by (time, insertion). */
class EventHeap {
  private readonly heap = new MinHeap<{ t: number; seq: number; run: () => void }>((a, b) => a.t < b.t || (a.t === b.t && a.seq < b.seq));
  private seq = 0;

  get size(): number {
    return this.heap.size;
  }

  push(t: number, run: () => void): void {
    this.heap.push({ t, seq: this.seq++, run });
  }

  pop(): { t: number; run: () => void } {
    return this.heap.pop();
  }
}

function sample(service: ServiceTime, random: Random): number {
  switch (service.kind) {
    case 'fixed':
      return service.ms;
    case 'exp':
      return -Math.log(1 - random()) * service.meanMs;
    case 'uniform':
      return service.minMs + random() * (service.maxMs - service.minMs);
    case 'lognormal': {
      // Box–Muller for a standard normal.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      return service.medianMs * Math.exp(service.sigma * z);
    }
  }
}

function waitStats(waits: number[]): QueueResult['waitMs'] {
  if (waits.length === 0) return null;
  const sorted = waits.slice().sort((x, y) => x - y);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function simulate(spec: CheckedSpec): SimulationResult {
  const random = mulberry32(spec.seed);
  const heap = new EventHeap();
  const queues = new Map<string, SimQueue>();
  for (const q of spec.queues) {
    queues.set(q.name, {
      name: q.name,
      waiting: new MinHeap((a, b) => a.priority < b.priority || (a.priority === b.priority && (a.at < b.at || (a.at === b.at && a.seq < b.seq)))),
      service: q.service,
      arrived: 0,
      completed: 0,
      waits: [],
      lastFinishMs: null,
      classes: new Map(),
    });
  }
  const workers: SimWorker[] = [];
  for (const pool of spec.pools) {
    for (let i = 0; i < pool.count; i++) {
      workers.push({
        planner: new ClaimPlanner(pool.served.strategy, pool.served.queues),
        queues: pool.served.queues.map((q) => queues.get(q.name)!),
        concurrency: pool.concurrency,
        busy: 0,
      });
    }
  }
  const servedBy = new Map<SimQueue, SimWorker[]>();
  for (const w of workers) for (const q of w.queues) servedBy.set(q, [...(servedBy.get(q) ?? []), w]);

  let now = 0;
  let busySlotMs = 0;
  let lastBusyChange = 0;
  let busySlots = 0;
  const totalSlots = workers.reduce((sum, w) => sum + w.concurrency, 0);
  const setBusy = (delta: number) => {
    busySlotMs += busySlots * (now - lastBusyChange);
    lastBusyChange = now;
    busySlots += delta;
  };

  let seq = 0;
  const classOf = (queue: SimQueue, priority: number): PriorityClass => {
    let c = queue.classes.get(priority);
    if (!c) queue.classes.set(priority, (c = { arrived: 0, completed: 0, waits: [] }));
    return c;
  };

  const start = (worker: SimWorker, queue: SimQueue) => {
    const job = queue.waiting.pop();
    const cls = classOf(queue, job.priority);
    queue.waits.push(now - job.at);
    cls.waits.push(now - job.at);
    worker.busy += 1;
    setBusy(1);
    heap.push(now + sample(queue.service, random), () => {
      worker.busy -= 1;
      setBusy(-1);
      queue.completed += 1;
      cls.completed += 1;
      queue.lastFinishMs = now;
      fill(worker);
    });
  };

  /** Starts jobs on a worker's free slots as its planner decides (what a claim would take). */
  const fill = (worker: SimWorker) => {
    for (;;) {
      const free = worker.concurrency - worker.busy;
      if (free <= 0) return;
      // The real worker learns emptiness from short claims and work from events: here both are exact.
      for (const q of worker.queues) {
        if (q.waiting.size > 0) worker.planner.markReady(q.name);
        else worker.planner.markEmpty(q.name);
      }
      const plan = worker.planner.plan(free);
      if (plan.length === 0) return;
      for (const { queue: name, limit } of plan) {
        const q = queues.get(name)!;
        const got = Math.min(limit, q.waiting.size);
        for (let k = 0; k < got; k++) start(worker, q);
        worker.planner.claimed(name, got, limit);
      }
    }
  };

  const enqueue = (queue: SimQueue, priority: number) => {
    queue.waiting.push({ priority, at: now, seq: seq++ });
    queue.arrived += 1;
    classOf(queue, priority).arrived += 1;
  };

  const arrive = (queue: SimQueue, priority: number) => {
    enqueue(queue, priority);
    for (const w of servedBy.get(queue) ?? []) {
      if (w.busy < w.concurrency) {
        fill(w);
        if (queue.waiting.size === 0) break;
      }
    }
  };

  for (const q of spec.queues) {
    const queue = queues.get(q.name)!;
    for (const { count, priority } of q.initial) for (let i = 0; i < count; i++) enqueue(queue, priority);
    for (const a of q.arrivals) {
      // Arrivals are generated lazily, one event ahead, so a long run holds few events.
      const end = a.startMs + a.forMs;
      const gap = () => (a.pattern === 'even' ? 1000 / a.perSecond : (-Math.log(1 - random()) * 1000) / a.perSecond);
      const next = (t: number) => {
        if (t >= end) return;
        heap.push(t, () => {
          arrive(queue, a.priority);
          next(now + gap());
        });
      };
      next(a.startMs + (a.pattern === 'even' ? 0 : gap()));
    }
  }
  for (const w of workers) fill(w);

  let drained = true;
  while (heap.size > 0) {
    const event = heap.pop();
    if (event.t > spec.untilMs) {
      drained = false;
      now = spec.untilMs;
      break;
    }
    now = event.t;
    event.run();
  }
  setBusy(0);
  const completed = [...queues.values()].reduce((sum, q) => sum + q.completed, 0);
  const results = [...queues.values()].map((q): QueueResult => {
    const unfinished = q.arrived - q.completed;
    if (unfinished > 0) drained = false;
    const result: QueueResult = {
      name: q.name,
      arrived: q.arrived,
      completed: q.completed,
      unfinished,
      share: completed === 0 ? 0 : q.completed / completed,
      waitMs: waitStats(q.waits),
      lastFinishMs: q.lastFinishMs,
    };
    if (q.classes.size > 1) {
      result.byPriority = [...q.classes.entries()]
        .sort(([a], [b]) => a - b)
        .map(([priority, c]) => ({ priority, arrived: c.arrived, completed: c.completed, waitMs: waitStats(c.waits) }));
    }
    return result;
  });
  return { endMs: now, drained, completed, utilization: now === 0 || totalSlots === 0 ? 0 : busySlotMs / (totalSlots * now), queues: results };
}
