/**
 * `client.topics`: the message log (DESIGN §7, docs/decisions/0017-topics.md) — create and grow
 * topics, publish (one or a batch), read a range without a group, consumer groups (lag, seek)
 * and consumers (`topics.consumer(topic, group).run({ eachMessage })`, consumer.ts).
 *
 * Invariants:
 * - Every method validates its input first and throws ValidationError before anything is
 *   written; an unknown topic is TopicNotFoundError.
 * - The partition of a message is chosen here (input.ts): by key hash, else round-robin per
 *   topic in this process. The partition count is read from the backend and cached per topic
 *   for a second (a grown topic is seen within a second; until then keys keep their old
 *   partition, which the backend accepts: it only refuses partitions that do not exist).
 * - A publish wakes idle consumers of that topic at once: those of this client when it returns,
 *   those of other clients and processes when its topic event reaches them (the SQLite outbox,
 *   PostgreSQL NOTIFY; wakeups.ts). Their poll (`pollMs`) remains the correctness path, as
 *   events are best effort.
 */
import { EventEmitter } from 'node:events';
import type { FetchResult, GroupInfo, GroupOffset, PublishOutcome, TopicInfo } from '../backend/topics.js';
import type { Client } from '../client.js';
import { TopicNotFoundError } from '../errors.js';
import type { EventHub } from '../events.js';
import { Issues } from '../validate.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { PublishWakeups } from './wakeups.js';
import {
  buildMessages,
  checkFetch,
  checkGroupName,
  checkSeek,
  checkTopicName,
  checkTopicOptions,
  MAX_PARTITIONS,
  type PublishInput,
  type TopicOptions,
} from './input.js';

const PARTITIONS_CACHE_MS = 1000;

export class Topics {
  /**
   * Emits `published:<topic>` (argument: the partitions written, when known) after a publish of
   * this client or, while anyone listens, of another client or process (wakeups.ts). @internal
   */
  readonly local = new EventEmitter().setMaxListeners(0);
  private readonly partitions = new Map<string, { count: number; until: number }>();
  private readonly roundRobin = new Map<string, number>();
  private readonly wakeups: PublishWakeups;
  /** Consumers running in this process (stopped by client.close). @internal */
  readonly running = new Set<Consumer<any>>();

  constructor(
    private readonly client: Client,
    hub: EventHub,
  ) {
    this.wakeups = new PublishWakeups(this.local, hub, typeof client.backend.subscribe === 'function');
  }

  /** Creates the topic if it does not exist (an existing one is left as it is: see `created`). */
  async create(name: string, options?: TopicOptions): Promise<{ created: boolean; topic: TopicInfo }> {
    const spec = checkTopicOptions(name, options);
    return this.client.run((b) => b.createTopic(spec));
  }

  /** More partitions (never fewer). Keys move to new partitions: order per key holds per count. */
  async grow(name: string, partitions: number): Promise<TopicInfo> {
    const issues = new Issues();
    checkTopicName(issues, 'name', name);
    if (!Number.isInteger(partitions) || partitions < 2 || partitions > MAX_PARTITIONS) issues.add('partitions', `must be an integer 2..${MAX_PARTITIONS}`);
    issues.throwIfAny();
    const info = await this.client.run((b) => b.growTopic({ name, partitions }));
    this.partitions.delete(name);
    return info;
  }

  async get(name: string): Promise<TopicInfo | null> {
    const issues = new Issues();
    checkTopicName(issues, 'name', name);
    issues.throwIfAny();
    return this.client.run((b) => b.getTopic(name));
  }

  async list(): Promise<TopicInfo[]> {
    return this.client.run((b) => b.listTopics());
  }

  async publish<V>(topic: string, message: PublishInput<V>): Promise<PublishOutcome> {
    return (await this.publishBatch(topic, [message]))[0]!;
  }

  /** One call, one transaction: all of the batch is stored, or (an error) none of it. */
  async publishBatch<V>(topic: string, messages: Array<PublishInput<V>>): Promise<PublishOutcome[]> {
    const issues = new Issues();
    checkTopicName(issues, 'topic', topic);
    issues.throwIfAny();
    const partitions = await this.partitionCount(topic);
    const inserts = buildMessages(messages, partitions, this.client.maxPayloadBytes, () => this.nextPartition(topic, partitions));
    const outcomes = await this.client.run(async (b) => {
      const settle = this.wakeups.begin(topic);
      try {
        const stored = await b.publish({ topic, messages: inserts });
        settle(stored.some((o) => !o.duplicate));
        return stored;
      } catch (err) {
        settle(false);
        throw err;
      }
    });
    this.wakeups.emit(topic);
    return outcomes;
  }

  /** Reads a partition from `offset` without a group (OffsetOutOfRangeError outside its range). */
  async fetch(topic: string, partition: number, offset: number, limit = 100): Promise<FetchResult> {
    checkFetch(topic, partition, offset, limit);
    return this.client.run((b) => b.fetchMessages({ topic, partition, offset, limit }));
  }

  /** A consumer of `group` (created with the group's first member); call `run` to start it. */
  consumer<V = unknown>(topic: string, group: string, options?: ConsumerOptions): Consumer<V> {
    const issues = new Issues();
    checkTopicName(issues, 'topic', topic);
    checkGroupName(issues, 'group', group);
    issues.throwIfAny();
    return new Consumer<V>(this.client, this, topic, group, options);
  }

  async group(topic: string, group: string): Promise<GroupInfo | null> {
    const issues = new Issues();
    checkTopicName(issues, 'topic', topic);
    checkGroupName(issues, 'group', group);
    issues.throwIfAny();
    return this.client.run((b) => b.getGroup({ topic, group }));
  }

  async groups(topic: string): Promise<GroupInfo[]> {
    const issues = new Issues();
    checkTopicName(issues, 'topic', topic);
    issues.throwIfAny();
    return this.client.run((b) => b.listGroups(topic));
  }

  /**
   * Moves a group: `'earliest'`, `'latest'`, `{ offsets: { 0: 120, 3: 7 } }` or `{ time }` (the
   * first message published at or after it). Its members' next commits of the old generation
   * are refused; they re-read from the new offsets.
   */
  async seek(topic: string, group: string, to: unknown): Promise<GroupOffset[]> {
    const params = checkSeek(topic, group, to);
    return this.client.run((b) => b.seekGroup(params));
  }

  /** Stops every running consumer of this client and stops following topic events (client.close). @internal */
  async stopConsumers(): Promise<void> {
    await Promise.all([...this.running].map((c) => c.stop()));
    this.wakeups.close();
  }

  /** True while this client follows topic events (someone waits for a publish). @internal */
  get followingPublishes(): boolean {
    return this.wakeups.following;
  }

  /** The topic's partition count, cached for a second. @internal */
  async partitionCount(topic: string): Promise<number> {
    const cached = this.partitions.get(topic);
    if (cached && cached.until > Date.now()) return cached.count;
    const info = await this.client.run((b) => b.getTopic(topic));
    if (!info) throw new TopicNotFoundError(topic);
    if (this.partitions.size > 10_000) this.partitions.clear();
    this.partitions.set(topic, { count: info.partitions, until: Date.now() + PARTITIONS_CACHE_MS });
    return info.partitions;
  }

  private nextPartition(topic: string, partitions: number): number {
    const next = ((this.roundRobin.get(topic) ?? -1) + 1) % partitions;
    this.roundRobin.set(topic, next);
    return next;
  }
}
