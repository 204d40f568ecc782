/**
 * Wake-ups of idle topic readers — the `published:<topic>` events of `Topics.local`, which
 * consumers (consumer.ts) and the server's long-polls and SSE streams wait on besides their poll
 * — by publishes of this client and of anyone else: other processes, other clients of this
 * backend instance (docs/decisions/0017-topics.md, "Wake-ups").
 *
 * Invariants:
 * - A publish through this client emits `published:<topic>` when it returns, whatever the
 *   backend (Topics.publishBatch).
 * - While at least one listener of a `published:` event exists, the client's topic events are
 *   followed (the hub of client events, fed by the backend's `subscribe`: the SQLite outbox,
 *   PostgreSQL NOTIFY, and this instance's own commits); each TopicEvent not taken for a publish
 *   of this client emits `published:<topic>`. With no such listener the hub has no topic
 *   listener; close() stops following for good.
 * - A publish of this client wakes once, not twice: from before its backend call until it
 *   returns, or until its event arrives, it is counted in flight for its topic, and a topic
 *   event of a topic with publishes in flight is taken for one of them (not emitted). That
 *   loses nothing: the in-flight publish emits when it returns, after the event's commit, so
 *   readers woken then see those messages too. A publish that stored nothing (all duplicates,
 *   or an error) has no event and leaves the count when it returns; counts are dropped when
 *   following stops. A count that goes wrong costs one extra wake-up, or one wake-up left to
 *   the reader's poll — never a message.
 */
import type { EventEmitter } from 'node:events';
import type { TopicEvent } from '../backend/backend.js';
import type { EventHub } from '../events.js';

const PREFIX = 'published:';

const isWake = (name: string | symbol): name is string => typeof name === 'string' && name.startsWith(PREFIX);

export class PublishWakeups {
  /** Listeners of `published:` events on `local`. */
  private listeners = 0;
  private unfollow: (() => void) | null = null;
  /** Bumped whenever following stops: a publish begun before does not touch later counts. */
  private generation = 0;
  private readonly inFlight = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly local: EventEmitter,
    private readonly hub: EventHub,
    /** False when the backend has no events (`subscribe`): nothing to follow. */
    private readonly backendHasEvents: boolean,
  ) {
    local.on('newListener', (name: string | symbol) => {
      if (isWake(name) && this.listeners++ === 0) this.follow();
    });
    local.on('removeListener', (name: string | symbol) => {
      if (isWake(name) && --this.listeners === 0) this.stop();
    });
  }

  /** True while topic events are followed (someone waits for a publish). */
  get following(): boolean {
    return this.unfollow !== null;
  }

  /**
   * Marks a publish of `topic` in flight, from before its backend call. Call the answer when it
   * returns: `stored` = it stored at least one message (its event comes or came), false when it
   * stored nothing or threw.
   */
  begin(topic: string): (stored: boolean) => void {
    if (this.unfollow === null) return () => undefined;
    const generation = this.generation;
    this.inFlight.set(topic, (this.inFlight.get(topic) ?? 0) + 1);
    return (stored) => {
      if (!stored && generation === this.generation) this.take(topic);
    };
  }

  /** Emits `published:<topic>` (the partitions that received messages, when known). */
  emit(topic: string, partitions?: number[]): void {
    this.local.emit(`${PREFIX}${topic}`, partitions);
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private follow(): void {
    if (this.closed || !this.backendHasEvents || this.unfollow !== null) return;
    this.unfollow = this.hub.addTopicListener((event) => this.onEvent(event));
  }

  private stop(): void {
    this.unfollow?.();
    this.unfollow = null;
    this.generation += 1;
    this.inFlight.clear();
  }

  private onEvent(event: TopicEvent): void {
    if (this.take(event.topic)) return;
    this.emit(event.topic, event.partitions);
  }

  /** Takes one publish of `topic` out of flight; false when none was. */
  private take(topic: string): boolean {
    const n = this.inFlight.get(topic);
    if (n === undefined) return false;
    if (n <= 1) this.inFlight.delete(topic);
    else this.inFlight.set(topic, n - 1);
    return true;
  }
}
