/**
 * A member of a consumer group (docs/decisions/0017-topics.md): joins, heartbeats, follows the
 * group's assignment, reads each owned partition from the group's committed offset, runs the
 * handler, and commits after the handler succeeds — at-least-once. Options and handler payloads
 * are consumer-options.ts; every commit goes through consumer-commit.ts.
 *
 * Invariants:
 * - One loop per owned partition; within a partition messages are handled one at a time, in
 *   offset order. A commit carries the generation the partition was assigned in: after a
 *   rebalance or a seek it is refused (`stale_generation` / `not_assigned`) and the loop stops
 *   without handling anything more; the new owner starts from the committed offset. So a message
 *   is handled again only if its loop stopped (a crash, a rebalance) between handling it and
 *   committing it.
 * - `autoCommit: false`: the consumer commits nothing the handler did not (`message.commit()`,
 *   `batch.commit(offset?)`, `commitOffsets`), except a dead-lettered message when everything
 *   before it is committed. A loop still reads on past the messages it handled; a rebalance or a
 *   restart starts again from the committed offset, so what was not committed comes again.
 * - A handler that throws a CommitRefusedError of its own generation saying the partition moved
 *   has not failed: its loop stops, without a retry or a DLQ publish.
 * - A failing message is retried (`maxRetries`, exponential backoff) before anything after it in
 *   its partition; then, with `onFailure: 'dlq'` (default), it is published to the group's DLQ
 *   topic `<topic>.dlq.<group>` with the error in its headers and the partition moves on; with
 *   `'stop'` the partition stays at that message (its offset is not committed) and tries it again
 *   every minute, until it succeeds or the group is sought past it.
 * - A rebalance restarts the loops of a new generation from the committed offsets — also the
 *   loops of partitions the member keeps: what a loop handled since its last commit (with
 *   `eachBatch`, the whole batch in hand) may be handled again by the partition's owner. The
 *   chaos suite's C12 counts these ("after move" duplicates, at most one batch per loop).
 * - `eachBatch` hands each fetched run of a partition over at once and commits it when the
 *   handler returns; a batch that keeps failing is split into batches of one, so only the
 *   failing messages reach the DLQ.
 * - `stop()` lets each loop finish its current message, commits (auto commits only), and leaves
 *   the group (a new generation, so the partitions move to the other members at once).
 */
import type { GroupAssignment, StoredMessage } from '../backend/topics.js';
import type { Client } from '../client.js';
import { OffsetOutOfRangeError } from '../errors.js';
import { Issues } from '../validate.js';
import { CommitRefusedError, Commits } from './consumer-commit.js';
import { resolveOptions, sleep, type ConsumedMessage, type ConsumerOptions, type RunHandlers } from './consumer-options.js';
import type { Topics } from './topics.js';

export type { ConsumerOptions, ConsumedMessage, ConsumedBatch, RunHandlers } from './consumer-options.js';
export { CommitRefusedError, type RefusedCommit } from './consumer-commit.js';

export class Consumer<V = unknown> {
  readonly options: Required<ConsumerOptions>;
  private assignment: GroupAssignment | null = null;
  private readonly loops = new Map<number, { generation: number; abort: AbortController; done: Promise<void> }>();
  private heartbeat: NodeJS.Timeout | null = null;
  private handlers: RunHandlers<V> | null = null;
  private stopped = false;
  private readonly wake = new EventTarget();
  /** Publishes seen so far: a loop compares it across its fetch so that a wake-up arriving between an empty fetch and its wait is not lost. */
  private wakes = 0;
  private readonly onPublished = () => {
    this.wakes += 1;
    this.wake.dispatchEvent(new Event('published'));
  };
  private readonly commits: Commits;

  constructor(
    private readonly client: Client,
    private readonly topics: Topics,
    readonly topic: string,
    readonly group: string,
    options?: ConsumerOptions,
  ) {
    this.options = resolveOptions(options);
    this.commits = new Commits(client, topic, group, this.options.memberId, () => void this.beat());
  }

  get memberId(): string {
    return this.options.memberId;
  }

  /** The partitions this member owns now, and in which generation. */
  get owned(): { generation: number; partitions: number[] } | null {
    return this.assignment && { generation: this.assignment.generation, partitions: [...this.assignment.partitions] };
  }

  /** Joins the group and starts handling; resolves once joined. */
  async run(handlers: RunHandlers<V>): Promise<void> {
    if (this.handlers) throw new Error('this consumer is already running');
    if ((typeof handlers?.eachMessage === 'function') === (typeof handlers?.eachBatch === 'function')) {
      const issues = new Issues();
      issues.add('handlers', 'give one function: eachMessage or eachBatch');
      issues.throwIfAny();
    }
    this.handlers = handlers;
    this.topics.running.add(this);
    this.topics.local.on(`published:${this.topic}`, this.onPublished);
    const o = this.options;
    let joined: GroupAssignment;
    try {
      joined = await this.client.run((b) => b.joinGroup({ topic: this.topic, group: this.group, memberId: o.memberId, sessionMs: o.sessionMs, start: o.start }));
    } catch (err) {
      this.handlers = null;
      this.topics.running.delete(this);
      this.topics.local.off(`published:${this.topic}`, this.onPublished);
      throw err;
    }
    this.apply(joined);
    this.heartbeat = setInterval(() => void this.beat(), Math.max(200, Math.floor(o.sessionMs / 3)));
    this.heartbeat.unref();
  }

  /**
   * Commits offsets (each the next offset the group reads in its partition) in the generation this
   * member follows now. Rejects with CommitRefusedError (a ConflictError) for a partition it does
   * not own in the group's current generation — after a rebalance or seek it has not seen yet,
   * too — and with a ValidationError for bad input. An offset the group is already past is left
   * as it is (commits are monotonic).
   */
  async commitOffsets(offsets: Array<{ partition: number; offset: number }>): Promise<void> {
    await this.commits.commitOffsets(this.assignment?.generation ?? null, offsets);
  }

  /** Finishes the current messages, commits (unless `autoCommit: false`), and leaves the group. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.topics.running.delete(this);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.topics.local.off(`published:${this.topic}`, this.onPublished);
    for (const loop of this.loops.values()) loop.abort.abort();
    await Promise.all([...this.loops.values()].map((l) => l.done));
    this.loops.clear();
    if (this.handlers) await this.client.run((b) => b.leaveGroup({ topic: this.topic, group: this.group, memberId: this.memberId })).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const o = this.options;
    try {
      const params = { topic: this.topic, group: this.group, memberId: o.memberId, sessionMs: o.sessionMs, start: o.start };
      let next = await this.client.run((b) => b.heartbeatGroup(params));
      if (next.partitions.length === 0 && !next.members.includes(o.memberId)) next = await this.client.run((b) => b.joinGroup(params));
      if (!this.stopped) this.apply(next);
    } catch (err) {
      this.client.logger.warn({ err, topic: this.topic, group: this.group }, 'consumer heartbeat failed');
    }
  }

  /** Follows an assignment: stops loops of partitions lost (or of an older generation), starts new ones. */
  private apply(next: GroupAssignment): void {
    this.assignment = next;
    for (const [partition, loop] of this.loops) {
      if (loop.generation !== next.generation || !next.partitions.includes(partition)) {
        loop.abort.abort();
        this.loops.delete(partition);
      }
    }
    for (const partition of next.partitions) {
      if (this.loops.has(partition)) continue;
      const abort = new AbortController();
      const loop = { generation: next.generation, abort, done: Promise.resolve() };
      loop.done = this.partitionLoop(partition, next.generation, abort.signal).catch(async (err) => {
        this.client.logger.error({ err, topic: this.topic, group: this.group, partition }, 'consumer partition loop failed; restarting it');
        // A failed loop (say, the database was briefly unreachable) must not leave its partition
        // unread until the next rebalance: after a pause, the current assignment restarts it.
        if (this.loops.get(partition) === loop) this.loops.delete(partition);
        await sleep(1000, abort.signal);
        if (!this.stopped && !abort.signal.aborted && this.assignment) this.apply(this.assignment);
      });
      this.loops.set(partition, loop);
    }
  }

  private async partitionLoop(partition: number, generation: number, signal: AbortSignal): Promise<void> {
    const o = this.options;
    const group = await this.client.run((b) => b.getGroup({ topic: this.topic, group: this.group }));
    let offset = group?.offsets.find((x) => x.partition === partition)?.committed ?? 0;
    this.commits.started(partition, offset);
    while (!signal.aborted) {
      let messages: StoredMessage[];
      const wakesBeforeFetch = this.wakes;
      try {
        ({ messages } = await this.client.run((b) => b.fetchMessages({ topic: this.topic, partition, offset, limit: o.batchSize })));
      } catch (err) {
        if (err instanceof OffsetOutOfRangeError && offset < err.startOffset) {
          this.client.logger.warn({ topic: this.topic, group: this.group, partition, from: offset, to: err.startOffset }, 'consumer skipped messages deleted by retention');
          offset = err.startOffset;
          continue;
        }
        throw err;
      }
      if (messages.length === 0) {
        if (this.wakes === wakesBeforeFetch) await this.idle(signal);
        continue;
      }
      let handledTo = offset;
      let stuck = false;
      if (this.handlers!.eachBatch) {
        const through = await this.handleBatch(messages, generation, signal);
        if (through !== null) handledTo = through;
        stuck = !signal.aborted && (through === null ? true : through < messages[messages.length - 1]!.offset + 1);
      } else {
        for (const message of messages) {
          if (signal.aborted) break;
          if (!(await this.handle(message, generation, signal))) {
            stuck = !signal.aborted; // 'stop': the partition stays at this message
            break;
          }
          handledTo = message.offset + 1;
        }
      }
      if (handledTo > offset && this.options.autoCommit) {
        const [outcome] = await this.commits.send(generation, [{ partition, offset: handledTo }]);
        // 'backwards': a handler's own commit() went further; anything else: the partition moved.
        if (outcome !== 'ok' && outcome !== 'backwards') {
          this.client.logger.info({ topic: this.topic, group: this.group, partition, outcome }, 'consumer commit refused: the partition moved');
          return;
        }
      }
      // Without auto commits the loop reads on past what it handled; what the handler did not
      // commit comes again after a rebalance or restart (at-least-once).
      if (handledTo > offset) offset = handledTo;
      // Stopped at a message that keeps failing: try it again in a minute (or after a seek or restart).
      if (stuck) await sleep(60_000, signal);
    }
  }

  /**
   * Runs eachBatch with retries; a batch that keeps failing is split into batches of one, each
   * retried, then dead-lettered (or, with 'stop', the partition stops at it). Answers the offset
   * handled through (exclusive), or null when nothing was.
   */
  private async handleBatch(messages: StoredMessage[], generation: number, signal: AbortSignal): Promise<number | null> {
    const o = this.options;
    const partition = messages[0]!.partition;
    const commit = this.commits.forBatch(generation, partition, messages.map((m) => m.offset));
    for (let attempt = 1; ; attempt++) {
      try {
        const batch = messages.map((m) => this.payload(m, generation, attempt));
        await this.handlers!.eachBatch!({ topic: this.topic, group: this.group, partition, messages: batch, attempt, commit });
        return messages[messages.length - 1]!.offset + 1;
      } catch (err) {
        if (signal.aborted || this.moved(err, partition, generation)) return null;
        if (attempt <= o.maxRetries) {
          await sleep(Math.min(30_000, o.retryDelayMs * 2 ** (attempt - 1)), signal);
          if (signal.aborted) return null;
          continue;
        }
        if (messages.length > 1) {
          let through: number | null = null;
          for (const m of messages) {
            const one = await this.handleBatch([m], generation, signal);
            if (one === null) return through;
            through = one;
          }
          return through;
        }
        this.client.logger.warn({ err, topic: this.topic, group: this.group, partition, offset: messages[0]!.offset }, 'consumer gave up on a message');
        if (o.onFailure === 'stop') return null;
        await this.deadLetter(messages[0]!, generation, err, attempt);
        return messages[0]!.offset + 1;
      }
    }
  }

  /** Runs the handler with retries; false when the partition must stop at this message. */
  private async handle(message: StoredMessage, generation: number, signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handlers!.eachMessage!(this.payload(message, generation, attempt));
        return true;
      } catch (err) {
        if (this.moved(err, message.partition, generation)) return false;
        if (attempt <= o.maxRetries && !signal.aborted) {
          await sleep(Math.min(30_000, o.retryDelayMs * 2 ** (attempt - 1)), signal);
          if (signal.aborted) return false;
          continue;
        }
        if (signal.aborted) return false;
        this.client.logger.warn({ err, topic: this.topic, group: this.group, partition: message.partition, offset: message.offset }, 'consumer gave up on a message');
        if (o.onFailure === 'stop') return false;
        await this.deadLetter(message, generation, err, attempt);
        return true;
      }
    }
  }

  /**
   * A handler that failed because a commit of its generation was refused as `stale_generation` or
   * `not_assigned` did not fail: its partition moved. Its loop stops (no retry, no DLQ); the new
   * owner reads again from the committed offset.
   */
  private moved(err: unknown, partition: number, generation: number): boolean {
    if (!(err instanceof CommitRefusedError) || err.topic !== this.topic || err.group !== this.group || err.generation !== generation) return false;
    if (!err.refused.some((r) => r.outcome === 'stale_generation' || r.outcome === 'not_assigned')) return false;
    const loop = this.loops.get(partition);
    if (loop?.generation === generation) loop.abort.abort();
    return true;
  }

  private payload(message: StoredMessage, generation: number, attempt: number): ConsumedMessage<V> {
    return { ...message, value: message.value as V, group: this.group, attempt, commit: this.commits.forMessage(generation, message.partition, message.offset) };
  }

  /**
   * Publishes a message that keeps failing to the group's DLQ topic. Without auto commits the
   * consumer then commits past it only when everything before it is committed: it never commits
   * a message the handler did not.
   */
  private async deadLetter(message: StoredMessage, generation: number, err: unknown, attempts: number): Promise<void> {
    const dlq = `${this.topic}.dlq.${this.group}`.slice(0, 128);
    await this.topics.create(dlq, { partitions: 1 });
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    await this.topics.publish(dlq, {
      ...(message.key === null ? {} : { key: message.key }),
      value: message.value,
      headers: {
        ...(message.headers ?? {}),
        'spindle-topic': this.topic,
        'spindle-partition': String(message.partition),
        'spindle-offset': String(message.offset),
        'spindle-error': error.slice(0, 4000),
        'spindle-attempts': String(attempts),
      },
      idempotencyKey: `${this.topic}:${message.partition}:${message.offset}`,
    });
    if (!this.options.autoCommit && this.commits.known(message.partition) === message.offset) {
      await this.commits.send(generation, [{ partition: message.partition, offset: message.offset + 1 }]);
    }
  }

  /** Waits for a local publish, the poll interval, or the signal. */
  private idle(signal: AbortSignal, ms = this.options.pollMs): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.removeEventListener('published', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.addEventListener('published', done, { once: true });
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
