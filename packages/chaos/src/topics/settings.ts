/**
 * C12's numbers (reliability.md §5.3, "Consumer group crashes") per tier, the message value the
 * producer writes, and the configuration a consumer child reads from its environment.
 *
 * Owns: the tier table, the value format `{ k, s }` (key name, that key's sequence number) and
 * the child's JSON config (env `CHAOS_TOPIC`).
 *
 * Invariants:
 * - Every published value is unique in the run: (k, s) is, since each key's `s` counts up from 0
 *   in publish order. The checker's I9 relies on unique values; C12's rules rely on `s`.
 * - A key always maps to one partition (the core hashes the key; the topic never grows here), so
 *   a key's messages sit in one partition in `s` order.
 * - The full tier is §5.3's numbers; the quick tier is a scaled run for every PR (< 60 s).
 */

export type TopicTier = 'quick' | 'full';

export interface TopicScenarioSettings {
  topic: string;
  group: string;
  partitions: number;
  messages: number;
  /** Distinct keys (each with its own sequence). */
  keys: number;
  consumers: number;
  /** SIGKILL one consumer this often… */
  killEveryMs: number;
  /** …this many times. */
  kills: number;
  /** Delay before a killed consumer is started again. */
  restartDelayMs: number;
  /** Consumer session (heartbeat every third of it). */
  sessionMs: number;
  /** Idle partition poll of the consumers. */
  pollMs: number;
  /** Messages per fetch. */
  batchSize: number;
  /** The producer publishes one batch this often (the messages spread over the faults and two kill intervals after). */
  publishEveryMs: number;
  /** Fault-free drain: give up (a C12 violation) after this long. */
  drainTimeoutMs: number;
}

const BASE = {
  topic: 'c12',
  group: 'c12-group',
  keys: 64,
  consumers: 3,
  restartDelayMs: 200,
  sessionMs: 2000,
  pollMs: 100,
  batchSize: 100,
  publishEveryMs: 200,
  drainTimeoutMs: 60_000,
} as const;

export const TOPIC_TIERS: Record<TopicTier, TopicScenarioSettings> = {
  // §5.3: 8 partitions, 100k messages with a per-key sequence, 3 consumers, kill -9 one every 5 s (20 times).
  full: { ...BASE, partitions: 8, messages: 100_000, killEveryMs: 5000, kills: 20 },
  quick: { ...BASE, partitions: 4, messages: 5000, killEveryMs: 3000, kills: 4 },
};

/** What the producer writes as each message's value (and its key as the message key). */
export interface SeqValue {
  /** The key (also the message key). */
  k: string;
  /** The key's sequence number, from 0. */
  s: number;
}

export const keyName = (i: number): string => `k${i}`;

/** The consumer child's configuration (env CHAOS_TOPIC, JSON). */
export interface ConsumerChildConfig {
  topic: string;
  group: string;
  memberId: string;
  sessionMs: number;
  pollMs: number;
  batchSize: number;
}
