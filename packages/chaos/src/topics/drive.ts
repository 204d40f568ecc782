/**
 * What a C12 run does while faults happen: the producer (in the runner process, publishing
 * through a recorded client) and the nemesis (SIGKILL a random consumer on a fixed cadence and
 * start it again), then the fault-free drain.
 *
 * Owns: the publish schedule, the kill schedule, and the drain's "caught up" condition.
 *
 * Invariants:
 * - The producer publishes message i with key `k<i mod keys>` and that key's next sequence
 *   number, in index order, one batch at a time: per key, offsets increase with `s`.
 * - Each kill is a `fault` op of the nemesis's history (faults-process.ts: invoked before the
 *   signal, completed when the restarted consumer has joined). Kill i happens at
 *   start + (i + 1) × killEveryMs, whatever the restarts still under way; only a consumer that
 *   is up and joined is chosen.
 * - Caught up (the drain): on every partition committed == highWater, the group's live members
 *   are exactly the running consumers' members and they own every partition (so no dead
 *   member's partitions wait for its session to expire) — seen `stable` polls in a row.
 */
import type { Backend, Client } from '@spindle/core';
import type { Recorder } from '../recorder.js';
import { sigkill } from '../scenario/faults-process.js';
import { sleep, withTimeout } from '../scenario/workers.js';
import type { ConsumerPool } from './consumers.js';
import { keyName, type SeqValue, type TopicScenarioSettings } from './settings.js';

export interface ProduceResult {
  startedAt: number;
  endedAt: number;
  published: number;
}

/** Publishes `s.messages` evenly over `overMs` (one batch every publishEveryMs). */
export async function produce(client: Client, s: TopicScenarioSettings, overMs: number): Promise<ProduceResult> {
  const startedAt = Date.now();
  const batches = Math.max(1, Math.ceil(overMs / s.publishEveryMs));
  const per = Math.ceil(s.messages / batches);
  let sent = 0;
  for (let b = 0; sent < s.messages; b++) {
    await sleep(Math.max(0, startedAt + b * s.publishEveryMs - Date.now()));
    const n = Math.min(per, s.messages - sent);
    const batch = Array.from({ length: n }, (_, j) => {
      const i = sent + j;
      const value: SeqValue = { k: keyName(i % s.keys), s: Math.floor(i / s.keys) };
      return { key: value.k, value };
    });
    await client.topics.publishBatch(s.topic, batch);
    sent += n;
  }
  return { startedAt, endedAt: Date.now(), published: sent };
}

export interface KillRecord {
  at: number;
  proc: string;
  memberId: string;
  /** The restarted incarnation joined under a fresh member id. */
  freshMember: boolean;
  next: string | null;
  /** ms from the kill to the restarted consumer having joined (null: it never did). */
  restartedMs: number | null;
}

export interface NemesisOptions {
  pool: ConsumerPool;
  nemesis: Recorder;
  settings: TopicScenarioSettings;
  random: () => number;
  startAt: number;
  log: (message: string) => void;
}

/** Kills and restarts consumers on the schedule; resolves when every restarted one has joined. */
export async function runNemesis(o: NemesisOptions): Promise<KillRecord[]> {
  const kills: KillRecord[] = [];
  const restarts: Array<Promise<void>> = [];
  for (let i = 0; i < o.settings.kills; i++) {
    await sleep(Math.max(0, o.startAt + (i + 1) * o.settings.killEveryMs - Date.now()));
    let serving = o.pool.serving();
    while (serving.length === 0) {
      await sleep(50);
      serving = o.pool.serving();
    }
    const victim = serving[Math.floor(o.random() * serving.length)]!;
    const freshMember = o.random() < 0.5;
    const fault = sigkill(o.nemesis, { proc: victim.proc, pid: victim.pid });
    const record: KillRecord = { at: fault.startedAt, proc: victim.proc, memberId: victim.memberId, freshMember, next: null, restartedMs: null };
    kills.push(record);
    o.log(`kill ${i + 1}/${o.settings.kills}: ${victim.proc} (${victim.memberId})${freshMember ? ', restarting under a fresh member id' : ''}`);
    restarts.push((async () => {
      await victim.exited;
      await sleep(o.settings.restartDelayMs);
      const next = o.pool.spawn(victim.slot, freshMember);
      record.next = next.proc;
      try {
        await withTimeout(next.ready, 60_000, `${next.proc} to join`);
        record.restartedMs = Date.now() - record.at;
      } finally {
        fault.healed();
      }
    })());
  }
  await Promise.all(restarts);
  return kills;
}

export interface DrainResult {
  caughtUp: boolean;
  /** When the caught-up condition was first seen (of the stable run), epoch ms. */
  at: number;
  lag: number;
}

/** Waits until the group has caught up, stably (see the header), or the deadline. */
export async function drain(raw: Backend, pool: ConsumerPool, s: TopicScenarioSettings, deadline: number, stable = 3): Promise<DrainResult> {
  let seen = 0;
  let first = 0;
  let lag = Number.NaN;
  while (Date.now() < deadline) {
    const g = await raw.getGroup({ topic: s.topic, group: s.group });
    const members = new Set(pool.serving().map((c) => c.memberId));
    lag = g ? g.offsets.reduce((n, o) => n + o.lag, 0) : Number.NaN;
    const ok = g !== null && lag === 0
      && g.members.length === members.size && g.members.every((m) => members.has(m.memberId))
      && new Set(g.members.flatMap((m) => m.partitions)).size === s.partitions;
    if (ok) {
      if (seen === 0) first = Date.now();
      seen += 1;
      if (seen >= stable) return { caughtUp: true, at: first, lag };
    } else {
      seen = 0;
    }
    await sleep(250);
  }
  return { caughtUp: false, at: Date.now(), lag };
}
