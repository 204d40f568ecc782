/**
 * Topics with real processes and SIGKILL (issue 7, "Prove it"): three consumer processes of one
 * group share a topic of 8 partitions while the parent publishes keyed messages and SIGKILLs
 * one child at a time, again and again, restarting each (same member id, after 0 ms, 300 ms or
 * longer than the session, so the restarted member sometimes finds its old session live and
 * sometimes expired). Each handled message is appended to the run's own file before the handler
 * returns (topic-consumer-child.ts). Checked afterwards:
 * - every message was handled (the records cover every (partition, offset) below the
 *   highWater), and each record names the message stored at its offset;
 * - order: a run's records of a partition split into segments (a segment is one partition loop:
 *   consecutive offsets); within a segment each key's seq increases; a run only goes back in a
 *   partition after one of its commits on that partition was refused;
 * - duplicates are bounded: a (partition, offset) handled k times has at least k − 1 of those
 *   handlings in the last batch (the last `batch` records) of a segment of a run that was killed
 *   or was refused a commit on that partition — i.e. re-delivery only of what was handled after
 *   the last accepted commit of a killed member or of a partition that moved;
 * - fencing: refused commits are refused as `stale_generation` / `not_assigned` only; polled all
 *   along, the group's committed offsets and generation never go back; at the end every
 *   partition's committed offset equals its highWater.
 * SPINDLE_TOPIC_CRASH_MESSAGES sets the message count (default 5,000; the full run is
 * SPINDLE_TOPIC_CRASH_MESSAGES=100000: 13 s on SQLite, 28 s on PostgreSQL on this 2-core VM).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClient, waitFor } from '../client/harness.js';
import { Child, type CrashFactory } from './crash-tests.js';

const TOPIC = 'events';
const GROUP = 'workers';
const PARTITIONS = 8;
const CHILDREN = 3;
const KEYS = 64;
const BATCH = 20;
const SESSION_MS = 1500;
const RESTART_DELAYS_MS = [0, 300, SESSION_MS + 600];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Handled {
  ev: 'h';
  r: string;
  m: string;
  pid: number;
  p: number;
  o: number;
  k: string;
  s: number;
}
interface Refused {
  ev: 'refused';
  r: string;
  p: number;
  outcome: string;
}

interface RunInfo {
  id: string;
  slot: number;
  file: string;
  child: Child;
  killed: boolean;
}

export function topicCrashTests(factory: CrashFactory & { topicChildScript: string }): void {
  describe(`${factory.name}: topic consumers across SIGKILLed processes`, () => {
    it('every message is handled, in key order per partition loop, re-delivered only after a kill or a moved partition, and no stale commit is accepted', { timeout: 600_000 }, async () => {
      const total = Number(process.env.SPINDLE_TOPIC_CRASH_MESSAGES) || 5_000;
      const { backend, cleanup, childEnv } = await factory.makeBackend();
      const parent = makeClient(backend);
      const dir = mkdtempSync(join(tmpdir(), 'spindle-topic-crash-'));
      const runs: RunInfo[] = [];
      const live: Array<RunInfo | null> = Array.from({ length: CHILDREN }, () => null);
      let polling = true;
      let chaos = true;
      const pollProblems: string[] = [];
      try {
        await parent.topics.create(TOPIC, { partitions: PARTITIONS });
        let runCount = 0;
        const startRun = (slot: number): RunInfo => {
          const id = `s${slot}-r${runCount++}`;
          const file = join(dir, `${id}.jsonl`);
          const child = new Child(factory.topicChildScript, {
            ...childEnv,
            TOPIC_NAME: TOPIC, TOPIC_GROUP: GROUP, TOPIC_MEMBER: `member-${slot}`, TOPIC_RUN: id, TOPIC_OUT: file,
            TOPIC_SESSION_MS: String(SESSION_MS), TOPIC_POLL_MS: '20', TOPIC_BATCH: String(BATCH), TOPIC_HANDLER_MS: '0',
          });
          const run = { id, slot, file, child, killed: false };
          runs.push(run);
          live[slot] = run;
          return run;
        };
        for (let slot = 0; slot < CHILDREN; slot++) startRun(slot);
        await waitFor(() => runs.every((r) => r.child.has((l) => l.ev === 'ready')), 'the consumers joined', 60_000);

        // The group's committed offsets and generation, polled all along: never backwards.
        const lastCommitted = new Array<number>(PARTITIONS).fill(0);
        let lastGeneration = 0;
        const poller = (async () => {
          while (polling) {
            const g = await parent.topics.group(TOPIC, GROUP);
            if (g) {
              if (g.generation < lastGeneration) pollProblems.push(`generation went from ${lastGeneration} to ${g.generation}`);
              lastGeneration = Math.max(lastGeneration, g.generation);
              for (const o of g.offsets) {
                if (o.committed < lastCommitted[o.partition]!) pollProblems.push(`partition ${o.partition} committed went from ${lastCommitted[o.partition]} to ${o.committed}`);
                lastCommitted[o.partition] = Math.max(lastCommitted[o.partition]!, o.committed);
              }
            }
            await sleep(50);
          }
        })();

        // Chaos: one child at a time is SIGKILLed and restarted, while the parent publishes.
        let kills = 0;
        const killer = (async () => {
          while (chaos) {
            await sleep(400);
            if (!chaos) break;
            const slot = kills % CHILDREN;
            const victim = live[slot]!;
            victim.killed = true;
            await victim.child.stop();
            live[slot] = null;
            kills++;
            await sleep(RESTART_DELAYS_MS[kills % RESTART_DELAYS_MS.length]!);
            startRun(slot);
          }
        })();
        const perBatch = Math.max(50, Math.ceil(total / 100));
        const seqs = new Array<number>(KEYS).fill(0);
        for (let sent = 0; sent < total; ) {
          const n = Math.min(perBatch, total - sent);
          const batch = Array.from({ length: n }, (_, i) => {
            const k = (sent + i) % KEYS;
            return { key: `key-${k}`, value: { key: `key-${k}`, seq: seqs[k]!++ } };
          });
          await parent.topics.publishBatch(TOPIC, batch);
          sent += n;
          await sleep(25);
        }
        // At least two rounds of kills, also after publishing ended.
        await waitFor(() => kills >= 2 * CHILDREN, `${2 * CHILDREN} kills`, 120_000);
        chaos = false;
        await killer;
        await waitFor(async () => {
          const g = await parent.topics.group(TOPIC, GROUP);
          return g && g.offsets.every((o) => o.committed === o.highWater) ? g : null;
        }, 'the group committed every partition up to its highWater', 180_000);
        polling = false;
        await poller;
        // Nothing is left to handle: stopping the children now is not a crash of interest.
        await Promise.all(runs.map((r) => r.child.stop()));

        // The truth: every stored message.
        const topic = (await parent.topics.get(TOPIC))!;
        const stored = new Map<string, { k: string; s: number }>();
        for (const { partition, highWater } of topic.offsets) {
          for (let offset = 0; offset < highWater; ) {
            const { messages } = await parent.topics.fetch(TOPIC, partition, offset, 1000);
            for (const msg of messages) stored.set(`${partition}:${msg.offset}`, { k: msg.key!, s: (msg.value as { seq: number }).seq });
            offset += messages.length;
          }
        }
        assert.equal(stored.size, total, 'every published message is stored');
        const final = (await parent.topics.group(TOPIC, GROUP))!;
        assert.deepEqual(final.offsets.map((o) => o.committed), topic.offsets.map((o) => o.highWater), 'final committed offsets equal the highWaters');
        assert.deepEqual(pollProblems, [], 'committed offsets and generation never went back');

        // The records, per run (a killed run's last line may be cut short).
        const handled: Handled[] = [];
        const refusedIn = new Set<string>(); // `${run}:${partition}`
        for (const run of runs) {
          if (!existsSync(run.file)) continue;
          const lines = readFileSync(run.file, 'utf8').split('\n').filter((l) => l.length > 0);
          lines.forEach((line, i) => {
            let rec: Handled | Refused | { ev: string; msg?: string; err?: string };
            try {
              rec = JSON.parse(line);
            } catch (err) {
              if (i === lines.length - 1 && run.killed) return;
              throw err;
            }
            if (rec.ev === 'h') handled.push(rec as Handled);
            else if (rec.ev === 'refused') {
              const r = rec as Refused;
              assert.ok(r.outcome === 'stale_generation' || r.outcome === 'not_assigned', `run ${run.id}: a commit refused as ${r.outcome}`);
              refusedIn.add(`${run.id}:${r.p}`);
            } else if (rec.ev === 'error') {
              assert.fail(`run ${run.id} logged an error: ${JSON.stringify(rec)}`);
            }
          });
        }
        const killed = new Set(runs.filter((r) => r.killed).map((r) => r.id));

        // Every message handled, and each record names its message.
        const times = new Map<string, number>();
        for (const h of handled) {
          const key = `${h.p}:${h.o}`;
          assert.deepEqual({ k: h.k, s: h.s }, stored.get(key), `record of ${key} by ${h.r} names another message`);
          times.set(key, (times.get(key) ?? 0) + 1);
        }
        const missing = [...stored.keys()].filter((k) => !times.has(k));
        assert.deepEqual(missing.slice(0, 20), [], `${missing.length} messages were never handled`);

        // Segments (partition loops) per run and partition, in file order.
        const inTail = new Map<string, number>(); // (p:o) → handlings in a risky segment tail
        for (const run of runs) {
          const mine = handled.filter((h) => h.r === run.id);
          for (let p = 0; p < PARTITIONS; p++) {
            const recs = mine.filter((h) => h.p === p);
            const segments: Handled[][] = [];
            for (const h of recs) {
              const seg = segments[segments.length - 1];
              const prev = seg?.[seg.length - 1];
              if (prev && h.o === prev.o + 1) seg!.push(h);
              else {
                if (prev && h.o <= prev.o) {
                  assert.ok(refusedIn.has(`${run.id}:${p}`), `run ${run.id} went back in partition ${p} (${prev.o} → ${h.o}) without a refused commit`);
                }
                segments.push([h]);
              }
            }
            const risky = killed.has(run.id) || refusedIn.has(`${run.id}:${p}`);
            for (const seg of segments) {
              const lastSeq = new Map<string, number>();
              for (const h of seg) {
                const before = lastSeq.get(h.k);
                assert.ok(before === undefined || h.s > before, `run ${run.id}, partition ${p}: key ${h.k} seq ${h.s} after ${before}`);
                lastSeq.set(h.k, h.s);
              }
              if (risky) for (const h of seg.slice(-BATCH)) inTail.set(`${h.p}:${h.o}`, (inTail.get(`${h.p}:${h.o}`) ?? 0) + 1);
            }
          }
        }
        let duplicates = 0;
        for (const [key, n] of times) {
          if (n < 2) continue;
          duplicates += n - 1;
          assert.ok((inTail.get(key) ?? 0) >= n - 1, `${key} was handled ${n} times, ${inTail.get(key) ?? 0} of them in the uncommitted tail of a killed or fenced run`);
        }
        // For the report (node:test shows diagnostics).
        const refusedCount = refusedIn.size;
        process.stdout.write(`${factory.name} topic crash: ${total} messages, ${runs.length} runs, ${kills} kills, ${duplicates} re-deliveries, ${refusedCount} run/partition pairs with a refused commit, generation ${final.generation}\n`);
        assert.ok(kills >= 2 * CHILDREN);
      } finally {
        polling = false;
        chaos = false;
        await Promise.all(runs.map((r) => r.child.stop()));
        await parent.close({ graceMs: 100 });
        await cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
