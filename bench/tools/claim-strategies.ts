/**
 * Claim throughput by strategy (issue 6: "claim throughput with the weighted strategy and with
 * groups stays ≥ 70 % of plain claiming on each backend"): one worker process drains N no-op
 * jobs (concurrency 50, prefetch 450, removed on completion, as the main benchmark's drains) —
 * from one queue (plain), from three queues with `{ weighted: 6/3/1 }`, from three queues by
 * strict priority, from one concurrency-limited queue (limit 50: the limited claim path), and
 * from one grouped queue whose jobs carry 10 or 1,000 tenant groups (the rotating claim) —
 * and reports jobs/s, medians of `runs`, and each strategy as a fraction of plain (the median of
 * the ratios of rounds that run every mode back to back).
 * Usage: node --conditions=source --import tsx bench/tools/claim-strategies.ts [n] [runs] [sqlite|postgres…]
 * (BENCH_MODES=grouped,weighted runs plain and the modes whose names start so.)
 * Writes bench/results/<date>-<host>-strategies[-<modes>].json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, silentLogger, type Backend, type WorkerQueues } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SqliteBackend } from '@spindle/sqlite';

const n = Number(process.argv[2] ?? 20_000);
const runs = Number(process.argv[3] ?? 3);
const kinds = process.argv.slice(4).length ? process.argv.slice(4) : ['sqlite', 'postgres'];
const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Mode {
  name: string;
  queues: string[];
  spec: WorkerQueues;
  limit?: number;
  /** Jobs carry one of this many groups (tenant groups: the grouped claim's rotation). */
  groups?: number;
}

const MODES: Mode[] = [
  { name: 'plain', queues: ['q'], spec: 'q' },
  { name: 'weighted 6/3/1', queues: ['high', 'medium', 'low'], spec: { weighted: { high: 6, medium: 3, low: 1 } } },
  { name: 'strict (3 queues)', queues: ['high', 'medium', 'low'], spec: ['high', 'medium', 'low'] },
  { name: 'concurrency-limited', queues: ['q'], spec: 'q', limit: 50 },
  { name: 'grouped (10 groups)', queues: ['q'], spec: 'q', groups: 10 },
  { name: 'grouped (1,000 groups)', queues: ['q'], spec: 'q', groups: 1000 },
].filter((m) => !process.env.BENCH_MODES || m.name === 'plain' || process.env.BENCH_MODES.split(',').some((x) => m.name.startsWith(x)));

async function open(kind: string): Promise<{ backend: Backend; cleanup(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-strategies-'));
    const backend = new SqliteBackend({ path: join(dir, 'bench.db') });
    await backend.migrate();
    return { backend, cleanup: async () => { await backend.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const schema = `strategies_${process.pid}_${Date.now()}`;
  const backend = new PostgresBackend({ connectionString: PG_URL, schema });
  await backend.migrate();
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      const admin = new PostgresBackend({ connectionString: PG_URL, schema: 'public' });
      await (admin as unknown as { db: { query(op: string, q: { text: string }): Promise<unknown> } }).db.query('drop', { text: `DROP SCHEMA IF EXISTS "${schema}" CASCADE` });
      await admin.close();
    },
  };
}

async function drainOnce(kind: string, mode: Mode): Promise<number> {
  const { backend, cleanup } = await open(kind);
  const client = new Client({ backend, logger: silentLogger, maintenance: false, closeBackend: false });
  try {
    await client.start();
    if (mode.limit) await client.setQueueLimits('q', { concurrency: mode.limit });
    for (let i = 0; i < n; i += 1000) {
      const queue = mode.queues[(i / 1000) % mode.queues.length]!;
      await client.queue(queue).addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'noop', payload: { i: i + k }, opts: { removeOnComplete: true, ...(mode.groups ? { group: `t${(i + k) % mode.groups}` } : {}) } })));
    }
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    const t0 = performance.now();
    const worker = client.worker(mode.spec, async () => {
      if (++done === n) finish();
    }, { concurrency: 50, prefetch: mode.limit ? 0 : 450 });
    await finished;
    const ms = performance.now() - t0;
    await worker.close();
    return Math.round(n / (ms / 1000));
  } finally {
    await client.close();
    await cleanup();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, Record<string, { runs: number[]; median: number; ofPlain: number }>> = {};
for (const kind of kinds) {
  // Rounds interleave the modes (plain, then each other mode, then plain again…): this VM's speed
  // drifts by tens of percent over minutes, and a mode's ratio should compare like with like.
  const measured = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
  for (let r = 0; r < runs; r++) for (const mode of MODES) measured.get(mode.name)!.push(await drainOnce(kind, mode));
  results[kind] = {};
  const plain = measured.get('plain')!;
  for (const mode of MODES) {
    const xs = measured.get(mode.name)!;
    const m = median(xs);
    const ratio = median(xs.map((x, r) => x / plain[r]!)); // per round, then the median
    results[kind]![mode.name] = { runs: xs, median: m, ofPlain: Math.round(ratio * 100) / 100 };
    console.log(`${kind.padEnd(9)} ${mode.name.padEnd(22)} ${String(m).padStart(7)} jobs/s  (${Math.round(ratio * 100)} % of plain, median of per-round ratios; runs ${xs.join(', ')})`);
  }
}
const date = new Date().toISOString().slice(0, 10);
const suffix = process.env.BENCH_MODES ? `-${process.env.BENCH_MODES.replace(/[^a-z0-9]+/gi, '-')}` : '';
const file = new URL(`../results/${date}-${hostname().split('.')[0]}-strategies${suffix}.json`, import.meta.url);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), n, runs, concurrency: 50, prefetch: 450, results }, null, 2) + '\n');
console.log(`written ${file.pathname}`);
process.exit(0);
