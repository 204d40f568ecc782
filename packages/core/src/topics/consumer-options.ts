/**
 * A consumer's options, what its handlers receive, and the options' validation
 * (docs/decisions/0017-topics.md). Pure: `resolveOptions` throws one ValidationError naming every
 * bad option before the consumer touches the database.
 *
 * Invariants:
 * - Every option has a default here (`Required<ConsumerOptions>`): the consumer reads no
 *   `undefined`.
 * - `commit()` on a message or batch commits the next offset after it, in the generation the
 *   message was delivered in (consumer-commit.ts): it is fenced like the consumer's own commits.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { StoredMessage } from '../backend/topics.js';
import { checkInt, checkKnownKeys, checkPlainObject, describe, Issues } from '../validate.js';

export interface ConsumerOptions {
  /** Unique within the group (default host:pid:random). */
  memberId?: string;
  /** Live this long after each heartbeat (default 10 s). */
  sessionMs?: number;
  /** Where a group created by this member starts (default 'latest'). */
  start?: 'earliest' | 'latest';
  /** Messages read per fetch (default 100). */
  batchSize?: number;
  /** How often an idle partition looks for new messages from other processes (default 250 ms). */
  pollMs?: number;
  /** Retries of a failing message before onFailure (default 3). */
  maxRetries?: number;
  /** First retry delay, doubling up to 30 s (default 200 ms). */
  retryDelayMs?: number;
  onFailure?: 'dlq' | 'stop';
  /**
   * true (default): the consumer commits each fetched run once its handler returned. false: the
   * handler commits with `message.commit()` / `batch.commit(offset?)` or
   * `consumer.commitOffsets(...)`; what it did not commit is delivered again after a rebalance or
   * a restart (the running member itself reads on past it).
   */
  autoCommit?: boolean;
}

export interface ConsumedMessage<V> extends StoredMessage {
  value: V;
  group: string;
  /** 1 for the first try. */
  attempt: number;
  /**
   * Commits this message (the group's next offset becomes `offset + 1`) in the generation it was
   * delivered in. Rejects with a ConflictError (`CommitRefusedError`) when the partition has
   * moved (a rebalance or seek); resolves without change when the group is already past it.
   * For `autoCommit: false`; with auto commits it only commits earlier.
   */
  commit(): Promise<void>;
}

/** A fetched run of one partition's messages, in offset order (`eachBatch`). */
export interface ConsumedBatch<V> {
  topic: string;
  group: string;
  partition: number;
  messages: Array<ConsumedMessage<V>>;
  /** 1 for the first try of this batch. */
  attempt: number;
  /**
   * Commits the batch up to and including the message at `offset` (default: the whole batch).
   * `offset` must be one of the batch's messages (else a ValidationError). Fenced like
   * `ConsumedMessage.commit`.
   */
  commit(offset?: number): Promise<void>;
}

/**
 * One of: `eachMessage` (one message at a time) or `eachBatch` (each fetched run of a partition at
 * once; committed when it returns, unless `autoCommit: false`). A batch that keeps failing is
 * split: its messages are handed over again one by one, as batches of one, so only the failing
 * ones reach the DLQ (or stop the partition).
 */
export type RunHandlers<V> =
  | { eachMessage: (message: ConsumedMessage<V>) => Promise<void> | void; eachBatch?: undefined }
  | { eachBatch: (batch: ConsumedBatch<V>) => Promise<void> | void; eachMessage?: undefined };

export const OPTION_KEYS = ['memberId', 'sessionMs', 'start', 'batchSize', 'pollMs', 'maxRetries', 'retryDelayMs', 'onFailure', 'autoCommit'] as const;

/** Waits `ms`, or less when `signal` aborts (never rejects). */
export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export function resolveOptions(options: unknown): Required<ConsumerOptions> {
  const issues = new Issues();
  const o = options === undefined ? {} : checkPlainObject(issues, 'options', options) ? options : {};
  checkKnownKeys(issues, 'options', o, OPTION_KEYS);
  const r: Required<ConsumerOptions> = {
    memberId: (o.memberId as string | undefined) ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    sessionMs: (o.sessionMs as number | undefined) ?? 10_000,
    start: (o.start as 'earliest' | 'latest' | undefined) ?? 'latest',
    batchSize: (o.batchSize as number | undefined) ?? 100,
    pollMs: (o.pollMs as number | undefined) ?? 250,
    maxRetries: (o.maxRetries as number | undefined) ?? 3,
    retryDelayMs: (o.retryDelayMs as number | undefined) ?? 200,
    onFailure: (o.onFailure as 'dlq' | 'stop' | undefined) ?? 'dlq',
    autoCommit: (o.autoCommit as boolean | undefined) ?? true,
  };
  if (typeof r.memberId !== 'string' || r.memberId.length === 0 || r.memberId.length > 256) issues.add('options.memberId', 'must be a string of 1..256 characters');
  checkInt(issues, 'options.sessionMs', r.sessionMs, 1000, 600_000);
  if (r.start !== 'earliest' && r.start !== 'latest') issues.add('options.start', "must be 'earliest' or 'latest'");
  checkInt(issues, 'options.batchSize', r.batchSize, 1, 10_000);
  checkInt(issues, 'options.pollMs', r.pollMs, 10, 60_000);
  checkInt(issues, 'options.maxRetries', r.maxRetries, 0, 100);
  checkInt(issues, 'options.retryDelayMs', r.retryDelayMs, 0, 600_000);
  if (r.onFailure !== 'dlq' && r.onFailure !== 'stop') issues.add('options.onFailure', "must be 'dlq' or 'stop'");
  if (typeof r.autoCommit !== 'boolean') issues.add('options.autoCommit', `must be true or false (got ${describe(r.autoCommit)})`);
  issues.throwIfAny();
  return r;
}
