/**
 * The NOTIFY of topic events (ADR 0017, "Wake-ups"): how a publish's event reaches other
 * processes — inside the publish when it is this instance's only one, else after the commit,
 * coalesced. One TopicNotifier per backend instance (`notifierOf(ctx)`).
 *
 * Why not always inside the publish, as job events are: a transaction that NOTIFYs takes
 * PostgreSQL's one notify-queue lock at its commit and holds it through its WAL flush, so the
 * notifying commits of a database run one after another and lose group commit. Measured with 8
 * concurrent single-message publishers in one process: a quarter to a half less throughput. And
 * why not always after: that is one more statement per publish, which a lone sequential publisher
 * pays in full (about +100 µs of client CPU per single publish, measured): nothing overlaps to
 * coalesce.
 *
 * Invariants:
 * - `start()` answers true — the NOTIFY goes in the publish's own statement, transactional, sent
 *   exactly when it commits — only when no other publish of this instance is in flight and no
 *   deferred NOTIFY is pending or being sent. Otherwise the publish hands its event to `finish`
 *   after its commit (never before: a rolled-back publish has no event), and it goes out with the
 *   next deferred NOTIFY.
 * - At most one deferred NOTIFY statement is in flight per instance; events arriving meanwhile go
 *   out together in the next, merged per topic (partitions united, latest time): one payload per
 *   topic. It runs on the relaxed pool (`synchronous_commit = off`): its commit does not hold the
 *   notify lock through a WAL flush. A publish never waits for it.
 * - Best effort, like every event: a failed deferred NOTIFY is dropped, and so is one that a crash
 *   between the commit and the NOTIFY prevents; consumers' polls find the messages.
 * - Publishes of other processes are not seen: several processes publishing alone each notify
 *   inside their publishes, and their commits queue on the lock as job statements' do.
 */
import type { TopicEvent } from '@spindle/core';
import type { Ctx } from './context.js';
import { topicEventPayload } from './events.js';

const NOTIFY_SQL = 'SELECT count(pg_notify($1, p))::int AS n FROM unnest($2::text[]) p';

const notifiers = new WeakMap<Ctx, TopicNotifier>();

/** The instance's notifier (one per Ctx, created on first use). */
export function notifierOf(ctx: Ctx): TopicNotifier {
  let notifier = notifiers.get(ctx);
  if (notifier === undefined) notifiers.set(ctx, (notifier = new TopicNotifier(ctx)));
  return notifier;
}

export class TopicNotifier {
  private readonly pending = new Map<string, { partitions: Set<number>; at: number }>();
  private flushing = false;
  private publishing = 0;

  constructor(private readonly ctx: Ctx) {}

  /** A publish begins; true: it carries its own NOTIFY (see the invariants). Pair with `finish`. */
  start(): boolean {
    const alone = this.publishing === 0 && !this.flushing && this.pending.size === 0;
    this.publishing += 1;
    return alone;
  }

  /** A publish ended; `deferred`: its committed event, when its statement did not NOTIFY it. */
  finish(deferred: TopicEvent | null): void {
    this.publishing -= 1;
    if (deferred !== null) this.add(deferred);
  }

  private add(event: TopicEvent): void {
    const seen = this.pending.get(event.topic);
    if (seen === undefined) this.pending.set(event.topic, { partitions: new Set(event.partitions), at: event.at });
    else {
      for (const p of event.partitions) seen.partitions.add(p);
      seen.at = Math.max(seen.at, event.at);
    }
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        const payloads = [...this.pending].map(([topic, p]) =>
          topicEventPayload(this.ctx.events.prefix, { type: 'published', topic, partitions: [...p.partitions].sort((a, b) => a - b), at: p.at }),
        );
        this.pending.clear();
        await this.ctx.db
          .query('notifyTopics', { name: this.ctx.names.statement('topic_notify'), text: NOTIFY_SQL, values: [this.ctx.names.channel, payloads] }, { relaxed: true })
          .catch(() => undefined);
      }
    } finally {
      this.flushing = false;
    }
  }
}
