/**
 * The upload producer: bursts of uploads on a timer (sizes and gaps from the seeded PRNG), each
 * one `process_video` job added to video.paid or video.free — the add returns the job's id at
 * once, as an upload API would, and the workers smooth the burst out.
 *
 * Numbering continues across restarts: start() reads the highest upload number already in the
 * queues and goes on from there (job ids are Spindle's own, so nothing can clash).
 *
 * Invariants: after stop() resolves no add is in flight and none will start.
 */
import type { Client } from '@spindle/core';
import { scaled, type ResolvedDemoOptions } from './options.js';
import { burstGaps, burstSizes, isUploadPlan, planUpload, QUEUES } from './scenario.js';
import type { DemoQueues } from './workers.js';

export class Producer {
  /** Uploads added by this run. */
  submitted = 0;
  bursts = 0;
  /** The first upload number of this run (1 on a fresh database). */
  firstSeq = 1;
  private nextSeq = 1;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;
  private nextSize: () => number = () => 0;
  private nextGap: () => number = () => 0;

  constructor(
    private readonly client: Client,
    private readonly queues: DemoQueues,
    private readonly o: ResolvedDemoOptions,
  ) {}

  /** Finds where numbering resumes, then sends the first burst at once. */
  async start(): Promise<void> {
    this.firstSeq = this.nextSeq = (await this.highestSeq()) + 1;
    this.nextSize = burstSizes(this.o.seed, this.firstSeq, this.o.burstMin, this.o.burstMax);
    this.nextGap = burstGaps(this.o.seed, this.firstSeq, scaled(this.o.burstEveryMs, this.o.speed));
    if (this.o.maxUploads > 0 && !this.stopped) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  get done(): boolean {
    return this.submitted >= this.o.maxUploads;
  }

  private async highestSeq(): Promise<number> {
    let max = 0;
    for (const queue of [QUEUES.paid, QUEUES.free]) {
      const page = await this.client.listJobs({ filter: { queue, name: 'process_video' }, limit: 20, order: 'newest' });
      for (const job of page.jobs) if (isUploadPlan(job.payload)) max = Math.max(max, job.payload.seq);
    }
    return max;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inFlight = this.burst().finally(() => {
        this.inFlight = null;
        if (!this.stopped && !this.done) this.schedule(this.nextGap());
      });
    }, ms);
  }

  private async burst(): Promise<void> {
    const size = Math.min(this.nextSize(), this.o.maxUploads - this.submitted);
    const plans = Array.from({ length: size }, () => planUpload(this.o.seed, this.nextSeq++));
    this.bursts += 1;
    const outcomes = await Promise.allSettled(
      plans.map((plan) => (plan.tier === 'paid' ? this.queues.paid : this.queues.free).add('process_video', plan)),
    );
    const failed = outcomes.filter((r) => r.status === 'rejected');
    this.submitted += size - failed.length; // counted once committed
    const paid = plans.filter((p) => p.tier === 'paid').length;
    const first = outcomes.find((r) => r.status === 'fulfilled');
    const sample = first?.status === 'fulfilled' ? `, e.g. ${plans[outcomes.indexOf(first)]!.file} -> job ${first.value.id}` : '';
    this.o.log(`burst  #${this.bursts}: ${size} uploads (${paid} paid, ${size - paid} free)${sample}`);
    if (failed.length > 0) {
      const reason = (failed[0] as PromiseRejectedResult).reason as { message?: string; code?: string } | undefined;
      this.o.log(`error  ${failed.length} uploads not enqueued: ${reason?.message ?? String(reason)}`);
      if (reason?.code === 'closed') this.stopped = true; // the caller closed the client: nothing more to do
    }
  }
}
