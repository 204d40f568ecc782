/**
 * The HTTP benchmark: Spindle's HTTP server (`@spindle/server`) on SQLite and on PostgreSQL
 * under autocannon: enqueue (`POST /api/v1/queues/bench/jobs`) and read (`GET /api/v1/jobs/:id`)
 * at 10 and 50 connections, medians of `--runs` runs, written to
 * bench/results/<date>-<host>-http.json, and bench/HTTP.md regenerated from that file.
 *
 *   npm run bench:http                      full run (3 runs × 10 s per row, ~10 min on 2 cores)
 *   npm run bench:http -- --quick           1 run of 3 s per row (< 2 min), HTTP.md untouched
 *   npm run bench:http -- --stores sqlite --workloads enqueue --connections 50 --loader in-process
 *
 * The server runs in this process; autocannon runs in a child process (`--loader child`, the
 * default) or in this process (`--loader in-process`). Unless `--no-compare`, the SQLite rows are
 * also measured the other way, so the report shows what sharing the event loop costs. Each run
 * waits for the machine to be quiet first (`--no-wait-quiet` to skip), and records the CPU that
 * other processes used meanwhile (`otherCpuPct`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { load, loadInChild, type LoadSpec } from './lib/http-load.js';
import { renderHttpReport, type HttpCell, type HttpReport, type HttpRun, type Loader } from './lib/http-report.js';
import { openTarget, STORE_LABELS, STORE_SETTINGS, type StoreKind } from './lib/http-target.js';
import { machineInfo } from './lib/machine.js';
import { foreignCpuPct, foreignProcessTicks, machineCpuPct, readMachineCpu, waitForQuiet } from './lib/machine-cpu.js';
import { medianOf, round } from './lib/stats.js';
import { pgQuery } from './systems/spindle-postgres.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    connections: { type: 'string', default: '10,50' },
    workloads: { type: 'string', default: 'enqueue,read' },
    loader: { type: 'string', default: 'child' },
    'no-compare': { type: 'boolean', default: false },
    'no-report': { type: 'boolean', default: false },
    /** Start each run only once the machine is quiet (other programs under 25 % of a core), waiting up to 2 min. */
    'no-wait-quiet': { type: 'boolean', default: false },
  },
});

const quick = args.quick!;
const runs = Number(args.runs ?? (quick ? 1 : 3));
const durationSec = Number(args.duration ?? (quick ? 3 : 10));
const warmupSec = 1;
const readIds = 1000;
/** A run during which other programs (not this benchmark, not PostgreSQL) used more is repeated, up to RETRIES times. */
const MAX_FOREIGN_CPU_PCT = 20;
const RETRIES = 3;
const QUEUE = 'bench';
const ENQUEUE_BODY = JSON.stringify({ name: 'x', payload: { n: 1 } });
const stores = args.stores!.split(',') as StoreKind[];
const connectionCounts = args.connections!.split(',').map(Number);
const workloads = args.workloads!.split(',') as Array<HttpCell['workload']>;
for (const w of workloads) if (w !== 'enqueue' && w !== 'read') throw new Error(`unknown workload ${w} (known: enqueue, read)`);
const loader = args.loader as Loader;
if (loader !== 'child' && loader !== 'in-process') throw new Error(`--loader must be child or in-process, not ${loader}`);
for (const s of stores) if (!(s in STORE_LABELS)) throw new Error(`unknown store ${s} (known: sqlite, postgres)`);
const otherLoader: Loader = loader === 'child' ? 'in-process' : 'child';

interface Plan {
  store: StoreKind;
  workload: HttpCell['workload'];
  connections: number;
  loader: Loader;
}

/** One run on a fresh store: set up, warm up (not counted), measure, check, tear down. */
async function measure(p: Plan): Promise<HttpRun> {
  if (!args['no-wait-quiet']) {
    const waited = await waitForQuiet();
    if (waited < 0) console.error('  warning: the machine is busy with something else; measuring anyway');
    else if (waited > 1) console.error(`  waited ${waited} s for the machine to be quiet`);
  }
  const target = await openTarget(p.store);
  try {
    let spec: LoadSpec = { url: target.url, method: 'POST', path: `/api/v1/queues/${QUEUE}/jobs`, body: ENQUEUE_BODY, connections: p.connections, durationSec };
    if (p.workload === 'read') {
      const added = await target.client.queue(QUEUE).addBulk(Array.from({ length: readIds }, (_, i) => ({ name: 'x', payload: { n: i } })));
      const paths = added.map((r) => `/api/v1/jobs/${encodeURIComponent(r.id)}`);
      spec = { url: target.url, method: 'GET', path: paths[0]!, paths, connections: p.connections, durationSec };
    }
    const run = p.loader === 'child' ? loadInChild : load;
    const warm = await run({ ...spec, durationSec: warmupSec });
    let cpu = process.cpuUsage();
    let t0 = performance.now();
    let inserts0 = target.inserts();
    let machine0 = readMachineCpu();
    let foreign0 = new Map<number, number>();
    const result = await run(spec, () => {
      foreign0 = foreignProcessTicks();
      machine0 = readMachineCpu();
      inserts0 = target.inserts();
      cpu = process.cpuUsage();
      t0 = performance.now();
    });
    const used = process.cpuUsage(cpu);
    const wallMs = performance.now() - t0;
    const serverCpuPct = round(((used.user + used.system) / 1000 / wallMs) * 100, 0);
    const machinePct = machineCpuPct(machine0, readMachineCpu());
    const row: HttpRun = {
      ...result,
      serverCpuPct,
      otherCpuPct: round(machinePct - serverCpuPct - (p.loader === 'child' ? result.loaderCpuPct : 0), 0),
      foreignCpuPct: round(foreignCpuPct(foreign0, foreignProcessTicks(), wallMs), 0),
      socketsOpened: target.socketsOpened(),
    };
    if (row.socketsOpened > 2 * p.connections) console.error(`  warning: ${row.socketsOpened} connections opened for 2 × ${p.connections} (keep-alive not holding?)`);
    if (p.workload === 'enqueue') {
      const inserts = target.inserts();
      row.jobsPerInsert = round((inserts.jobs - inserts0.jobs) / Math.max(1, inserts.calls - inserts0.calls), 2);
      const counts = await target.client.queue(QUEUE).counts();
      row.jobsStored = Object.values(counts).reduce((a, b) => a + b, 0);
      // Every 201 is a stored job; a few more may be stored whose answer was cut at the end.
      const acknowledged = warm.responses - warm.non2xx + result.responses - result.non2xx;
      if (row.jobsStored < acknowledged || row.jobsStored > acknowledged + 2 * p.connections) {
        console.error(`  warning: ${acknowledged} enqueues acknowledged but ${row.jobsStored} jobs stored`);
      }
    }
    if (result.non2xx || result.errors || warm.non2xx || warm.errors) {
      console.error(`  warning: non-2xx ${result.non2xx} (warm-up ${warm.non2xx}), errors ${result.errors} (warm-up ${warm.errors})`);
    }
    return row;
  } finally {
    await target.close();
  }
}

/** The version of the package `name` as resolved from `from` (its entry, then up to its package.json). */
function packageVersion(name: string, from = import.meta.url): string {
  let dir = dirname(createRequire(from).resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (pkg.name === name) return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${name}`);
    dir = dirname(dir);
  }
}

async function versions(): Promise<Record<string, string>> {
  const require = createRequire(import.meta.url);
  const serverEntry = require.resolve('@spindle/server');
  const db = new Database(':memory:');
  const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  db.close();
  const out: Record<string, string> = {
    spindle: packageVersion('@spindle/core'),
    fastify: packageVersion('fastify', serverEntry),
    autocannon: packageVersion('autocannon'),
    sqlite,
  };
  if (stores.includes('postgres')) out.postgres = (await pgQuery<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]!.v;
  return out;
}

const plans: Plan[] = [];
for (const store of stores) {
  for (const workload of workloads) {
    for (const connections of connectionCounts) plans.push({ store, workload, connections, loader });
  }
}
if (!args['no-compare'] && stores.includes('sqlite')) {
  for (const workload of workloads) {
    for (const connections of connectionCounts) plans.push({ store: 'sqlite', workload, connections, loader: otherLoader });
  }
}

const versionInfo = await versions();
const started = Date.now();
const cells: HttpCell[] = [];
for (const p of plans) {
  const rows: HttpRun[] = [];
  const discarded: HttpRun[] = [];
  for (let r = 0; r < runs; r++) {
    for (let attempt = 1; ; attempt++) {
      try {
        const row = await measure(p);
        if (row.foreignCpuPct > MAX_FOREIGN_CPU_PCT && attempt <= RETRIES && !args['no-wait-quiet']) {
          console.error(`  run ${r + 1} disturbed (other programs used ${row.foreignCpuPct} % of a core): repeating it`);
          discarded.push(row);
          continue;
        }
        rows.push(row);
      } catch (err) {
        console.error(`${p.store} ${p.workload} c${p.connections} ${p.loader} run ${r + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      break;
    }
  }
  if (rows.length === 0) continue;
  const median = medianOf(rows);
  cells.push({ ...p, runs: rows, median, discarded });
  console.error(`${p.store.padEnd(9)} ${p.workload.padEnd(8)} c${String(p.connections).padEnd(3)} ${p.loader.padEnd(10)} ${median.requestsPerSec} req/s  p50 ${median.p50Ms} ms  p99 ${median.p99Ms} ms  server CPU ${median.serverCpuPct} %  autocannon CPU ${median.loaderCpuPct} %  other CPU ${median.otherCpuPct} %`);
}

const report: HttpReport = {
  date: new Date().toISOString(),
  quick,
  runs,
  durationSec,
  warmupSec,
  readIds,
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine: machineInfo(),
  versions: versionInfo,
  loader,
  settings: {
    server: 'new SpindleServer(client, { port: 0 }): 127.0.0.1, no auth, Fastify logger off (the defaults)',
    client: 'Client.open({ backend, logger: silentLogger }): otherwise defaults (maintenance on, group-committed enqueues)',
    autocannon: `connections ${connectionCounts.join(' / ')}, pipelining 1, keep-alive, timeout 10 s, ${durationSec} s per run after a ${warmupSec} s warm-up`,
  },
  stores: Object.fromEntries(stores.map((s) => [s, { label: STORE_LABELS[s], settings: STORE_SETTINGS[s] }])),
  cells,
};

const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const stamp = report.date.slice(0, 10);
const name = `${stamp}-${hostname()}-http${quick ? `-quick-${report.date.slice(11, 19).replaceAll(':', '')}` : ''}.json`;
writeFileSync(new URL(name, dir), `${JSON.stringify(report, null, 2)}\n`);
console.error(`results: bench/results/${name}`);
if (!quick && !args['no-report']) {
  writeFileSync(new URL('./HTTP.md', import.meta.url), renderHttpReport(report, `results/${name}`));
  console.error('bench/HTTP.md regenerated');
}
process.exit(0);
