/**
 * The consumer process of the topic crash test (topic-crash-tests.ts). A backend package's
 * fixture builds its backend and calls `runTopicConsumerChild(backend)`; this runs one consumer
 * of the group as the environment says and appends, with a synchronous append per line to its
 * own file (so a line is in the file before the handler returns, and a SIGKILL loses nothing
 * handled), one JSON line per handled message:
 *   {ev:'h', r: run id, m: member id, pid, p: partition, o: offset, k: key, s: seq of the key}
 * and one per commit the consumer was refused: {ev:'refused', r, p, outcome}; loop or heartbeat
 * errors as {ev:'error', r, msg, err}. On stdout it writes {ev:'ready'} once it has joined.
 * Environment: TOPIC_NAME, TOPIC_GROUP, TOPIC_MEMBER, TOPIC_RUN, TOPIC_OUT (the file),
 * TOPIC_SESSION_MS, TOPIC_POLL_MS, TOPIC_BATCH, TOPIC_HANDLER_MS (a sleep per message).
 */
import { appendFileSync } from 'node:fs';
import { Client, type Backend, type Logger } from '@spindle/core';

export async function runTopicConsumerChild(backend: Backend): Promise<void> {
  const env = process.env;
  const run = env.TOPIC_RUN ?? String(process.pid);
  const out = env.TOPIC_OUT!;
  const handlerMs = Number(env.TOPIC_HANDLER_MS ?? 0);
  const write = (line: Record<string, unknown>) => appendFileSync(out, `${JSON.stringify({ ...line, r: run })}\n`);
  const logger: Logger = {
    debug() {},
    info(obj) {
      const o = obj as { partition?: number; outcome?: string };
      if (o.outcome !== undefined) write({ ev: 'refused', p: o.partition, outcome: o.outcome });
    },
    warn(obj, msg) {
      write({ ev: 'warn', msg, err: String((obj as { err?: unknown }).err ?? '') });
    },
    error(obj, msg) {
      write({ ev: 'error', msg, err: String((obj as { err?: unknown }).err ?? '') });
    },
  };
  const client = new Client({ backend, maintenance: false, logger });
  await client.start();
  const member = env.TOPIC_MEMBER!;
  const consumer = client.topics.consumer<{ key: string; seq: number }>(env.TOPIC_NAME ?? 'events', env.TOPIC_GROUP ?? 'workers', {
    memberId: member,
    sessionMs: Number(env.TOPIC_SESSION_MS ?? 1500),
    start: 'earliest',
    pollMs: Number(env.TOPIC_POLL_MS ?? 20),
    batchSize: Number(env.TOPIC_BATCH ?? 20),
  });
  await consumer.run({
    eachMessage: async (msg) => {
      if (handlerMs > 0) await new Promise((r) => setTimeout(r, handlerMs));
      // The handler's work is done: record it before returning (and so before any commit of it).
      write({ ev: 'h', m: member, pid: process.pid, p: msg.partition, o: msg.offset, k: msg.key, s: msg.value.seq });
    },
  });
  process.stdout.write(`${JSON.stringify({ ev: 'ready' })}\n`);
}
