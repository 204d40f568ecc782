/**
 * The final database state the checker compares a history with, read after the run's
 * fault-free drain (reliability.md §5.1): every job (state, attempt, round, errors, times),
 * every partition's messages, every consumer group's committed offsets.
 *
 * Invariants: plain JSON (times as epoch ms, payloads and values as canonical JSON text), so a
 * run's final state is written beside its history and re-checked offline; it is read with the
 * backend's ordinary read methods (nothing here writes), ideally through an UNrecorded backend.
 */
import type { Backend, JobRecord } from '@spindle/core';
import { canonicalValue } from './canonical.js';

export interface FinalJob {
  id: string;
  queue: string;
  state: string;
  attempt: number;
  maxRetries: number;
  round: number;
  group: string | null;
  /** Canonical JSON text. */
  payload: string;
  /** Canonical JSON text, or null. */
  result: string | null;
  errors: Array<{ attempt: number; round: number; kind: string }>;
  createdAt: number;
  runAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface FinalPartition {
  topic: string;
  partition: number;
  startOffset: number;
  highWater: number;
  /** Every retained message in offset order; values as canonical JSON text. */
  messages: Array<{ offset: number; key: string | null; value: string }>;
}

export interface FinalGroup {
  topic: string;
  group: string;
  generation: number;
  offsets: Array<{ partition: number; committed: number }>;
}

export interface FinalState {
  readAt: number;
  jobs: FinalJob[];
  partitions: FinalPartition[];
  groups: FinalGroup[];
}

export const EMPTY_FINAL_STATE: FinalState = { readAt: 0, jobs: [], partitions: [], groups: [] };

const t = (d: Date | null): number | null => (d ? d.getTime() : null);

export function finalJobOf(j: JobRecord): FinalJob {
  return {
    id: j.id, queue: j.queue, state: j.state, attempt: j.attempt, maxRetries: j.maxRetries, round: j.round, group: j.group,
    payload: canonicalValue(j.payload), result: j.result === null || j.result === undefined ? null : canonicalValue(j.result),
    errors: j.errors.map((e) => ({ attempt: e.attempt, round: e.round, kind: e.kind })),
    createdAt: j.createdAt.getTime(), runAt: j.runAt.getTime(), startedAt: t(j.startedAt), finishedAt: t(j.finishedAt),
  };
}

/** Reads every job, message and group offset. Meant for test-sized data (it pages through all). */
export async function readFinalState(backend: Backend): Promise<FinalState> {
  const jobs: FinalJob[] = [];
  let cursor: string | null = null;
  do {
    const page = await backend.listJobs({ limit: 1000, cursor, order: 'oldest' });
    jobs.push(...page.jobs.map(finalJobOf));
    cursor = page.nextCursor;
  } while (cursor);
  const partitions: FinalPartition[] = [];
  const groups: FinalGroup[] = [];
  for (const topic of await backend.listTopics()) {
    for (const p of topic.offsets) {
      const messages: FinalPartition['messages'] = [];
      let offset = p.startOffset;
      while (offset < p.highWater) {
        const r = await backend.fetchMessages({ topic: topic.name, partition: p.partition, offset, limit: 1000 });
        if (r.messages.length === 0) break;
        for (const m of r.messages) messages.push({ offset: m.offset, key: m.key, value: canonicalValue(m.value) });
        offset = r.messages[r.messages.length - 1]!.offset + 1;
      }
      partitions.push({ topic: topic.name, partition: p.partition, startOffset: p.startOffset, highWater: p.highWater, messages });
    }
    for (const g of await backend.listGroups(topic.name)) {
      groups.push({ topic: g.topic, group: g.group, generation: g.generation, offsets: g.offsets.map((o) => ({ partition: o.partition, committed: o.committed })) });
    }
  }
  return { readAt: (await backend.now()).getTime(), jobs, partitions, groups };
}
