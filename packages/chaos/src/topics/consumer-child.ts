/**
 * A C12 consumer process (one incarnation). Opens the run's database from the environment
 * (scenario/backends.ts), wraps the backend in a Recorder writing `<CHAOS_DIR>/<CHAOS_PROC>.jsonl`
 * — joins, heartbeats, fetches and commits are recorded there by the Recorder — and runs one
 * member of the consumer group, whose handler records each message it handles.
 *
 * Environment: CHAOS_BACKEND + CHAOS_SQLITE_PATH | CHAOS_PG_URL + CHAOS_PG_SCHEMA, CHAOS_PROC
 * (unique per incarnation), CHAOS_DIR, CHAOS_TOPIC (JSON: settings.ts ConsumerChildConfig).
 * Stdout: {ev:'ready'} once the member has joined the group.
 *
 * Handler records (no `jobId`: they are not jobs), `args` = { topic, group, memberId, generation,
 * epoch, partition, offset, k, s }:
 * - `handler_start` (invoke + ok) when the handler begins a message, `handler_end` when it is
 *   done. A SIGKILL between them leaves a start without an end: delivered, not fully handled.
 * - `generation` is the member's assignment read synchronously as the handler starts. The
 *   consumer calls the handler in the same tick as its loop's abort check, and a new assignment
 *   aborts every loop of another generation synchronously, so this is the generation of the
 *   partition loop that delivered the message.
 * - `epoch` counts restarts of one partition's loop within one generation (a loop that failed is
 *   restarted by the consumer: the core logs it as an error, which this process counts), so
 *   (proc, partition, generation, epoch) names one consumer session.
 *
 * Invariants: no migration, no maintenance; SIGTERM stops the consumer gracefully (it commits,
 * leaves the group) and exits 0.
 */
import { join } from 'node:path';
import { Client, type Logger } from '@spindle/core';
import { Recorder } from '../recorder.js';
import { openBackend, targetFromEnv } from '../scenario/backends.js';
import type { ConsumerChildConfig, SeqValue } from './settings.js';

const proc = process.env.CHAOS_PROC ?? `consumer-${process.pid}`;
const dir = process.env.CHAOS_DIR ?? '.';
const cfg = JSON.parse(process.env.CHAOS_TOPIC ?? '{}') as ConsumerChildConfig;
const epochs = new Map<number, number>();

const stderr = (level: string, obj: unknown, msg: unknown): void => {
  process.stderr.write(`${new Date().toISOString()} ${level} ${String(msg)} ${String((obj as { err?: unknown }).err ?? '')}\n`);
};
const logger: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => stderr('warn', obj, msg),
  error(obj, msg) {
    const partition = (obj as { partition?: unknown }).partition;
    if (typeof partition === 'number') epochs.set(partition, (epochs.get(partition) ?? 0) + 1);
    stderr('error', obj, msg);
  },
};

const raw = openBackend(targetFromEnv(process.env), 4);
const recorder = new Recorder({ proc, file: join(dir, `${proc}.jsonl`) });
const client = new Client({
  backend: recorder.wrap(raw),
  maintenance: false,
  autoMigrate: false,
  telemetry: false,
  tracing: false,
  logger,
});
await client.start();
const consumer = client.topics.consumer<SeqValue>(cfg.topic, cfg.group, {
  memberId: cfg.memberId,
  sessionMs: cfg.sessionMs,
  start: 'earliest',
  pollMs: cfg.pollMs,
  batchSize: cfg.batchSize,
});

const note = (f: 'handler_start' | 'handler_end', args: Record<string, unknown>): Promise<void> =>
  recorder.record([{ f, args }], () => Promise.resolve(), () => [{ type: 'ok' as const }]);

await consumer.run({
  eachMessage: async (message) => {
    // Synchronously, before any await: the delivering loop's generation (see the header).
    const generation = consumer.owned?.generation ?? -1;
    const args = {
      topic: cfg.topic, group: cfg.group, memberId: cfg.memberId, generation, epoch: epochs.get(message.partition) ?? 0,
      partition: message.partition, offset: message.offset, k: message.value.k, s: message.value.s,
    };
    await note('handler_start', args);
    await new Promise<void>((resolve) => setImmediate(resolve)); // the handler's "work": a turn of the event loop
    await note('handler_end', args);
  },
});
process.stdout.write(`${JSON.stringify({ ev: 'ready', pid: process.pid })}\n`);

process.once('SIGTERM', () => {
  void client
    .close({ graceMs: 3000 })
    .catch((err: unknown) => process.stderr.write(`close failed: ${String(err)}\n`))
    .finally(() => {
      recorder.close();
      process.exit(0);
    });
});
