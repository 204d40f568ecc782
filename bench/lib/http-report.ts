/**
 * Turns an HTTP results file (written by bench/http.ts) into bench/HTTP.md: one table of medians
 * per store, workload and connection count, the comparison of the two ways of running autocannon,
 * and the method. Pure: same results in, same text out.
 */
import type { LoadResult } from './http-load.js';

export type Loader = 'child' | 'in-process';

/** One measured run: autocannon's figures plus what the server's side saw. */
export type HttpRun = LoadResult & {
  /** CPU of the server's process (server, Client, database driver), % of one core over the run. */
  serverCpuPct: number;
  /** CPU of everything else on the machine during the run (database server, OS, other programs), % of one core. */
  otherCpuPct: number;
  /** CPU of programs other than the benchmark's processes and PostgreSQL during the run. */
  foreignCpuPct: number;
  /** TCP connections the server accepted, warm-up included (keep-alive: 2 × connections). */
  socketsOpened: number;
  /** Enqueue only: jobs per insert transaction during the run (the Client's group commit). */
  jobsPerInsert?: number;
  /** Enqueue only: jobs in the store after the run (warm-up included). */
  jobsStored?: number;
};

export interface HttpCell {
  store: string;
  workload: 'enqueue' | 'read';
  connections: number;
  loader: Loader;
  runs: HttpRun[];
  median: HttpRun;
  /** Runs repeated because other programs disturbed them (kept for the record, not in the median). */
  discarded: HttpRun[];
}

export interface HttpReport {
  date: string;
  quick: boolean;
  runs: number;
  durationSec: number;
  warmupSec: number;
  readIds: number;
  durationSeconds: number;
  machine: Record<string, string | number>;
  versions: Record<string, string>;
  loader: Loader;
  settings: Record<string, string>;
  stores: Record<string, { label: string; settings: string }>;
  cells: HttpCell[];
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const WORKLOAD_LABEL = { enqueue: 'enqueue `POST /api/v1/queues/bench/jobs`', read: 'read `GET /api/v1/jobs/:id`' };

function mainTable(report: HttpReport): string {
  const lines = [
    '| store | workload | connections | requests/s | p50 ms | p99 ms | non-2xx | errors | jobs / insert | server CPU % | autocannon CPU % | other CPU % |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of report.cells.filter((x) => x.loader === report.loader)) {
    const m = c.median;
    const non2xx = c.runs.reduce((s, r) => s + r.non2xx, 0);
    const errors = c.runs.reduce((s, r) => s + r.errors, 0);
    lines.push(
      `| ${report.stores[c.store]?.label ?? c.store} | ${WORKLOAD_LABEL[c.workload]} | ${c.connections} | ${fmt(m.requestsPerSec)} | ${fmt(m.p50Ms, 2)} | ${fmt(m.p99Ms, 2)} | ${non2xx} | ${errors} | ${c.workload === 'enqueue' ? fmt(m.jobsPerInsert, 2) : ''} | ${fmt(m.serverCpuPct)} | ${fmt(m.loaderCpuPct)} | ${fmt(m.otherCpuPct)} |`,
    );
  }
  return lines.join('\n');
}

/** A note for enqueue rows whose requests were not batched (one insert transaction each). */
function batchingNote(report: HttpReport): string {
  const unbatched = report.cells.filter((c) => c.loader === report.loader && c.workload === 'enqueue' && (c.median.jobsPerInsert ?? 2) < 1.2);
  if (unbatched.length === 0) return '';
  const where = [...new Set(unbatched.map((c) => report.stores[c.store]?.label ?? c.store))].join(', ');
  return [
    `${where}: every HTTP enqueue was its own insert transaction (jobs / insert ≈ 1), whatever the number of connections, so enqueue throughput is bounded by one durable commit per request.`,
    'The likely cause: this backend\'s insert runs synchronously on the event loop, so no request is parsed while it runs, and the group commit flushes on the next tick after a request arrives, before the next connection\'s request is read.',
    'Called directly, concurrent `add` calls on the same store do share transactions.',
  ].join(' ');
}

function loaderComparison(report: HttpReport): string {
  const other = report.cells.filter((x) => x.loader !== report.loader);
  if (other.length === 0) return '';
  const lines = [
    '## autocannon in a child process or in the server\'s process',
    '',
    `The same measurements with autocannon run both ways (${report.stores[other[0]!.store]?.label ?? other[0]!.store}):`,
    '',
    '| workload | connections | child: requests/s | in-process: requests/s | in-process ÷ child | child: p50 / p99 ms | in-process: p50 / p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const o of other) {
    const main = report.cells.find((c) => c.loader === report.loader && c.store === o.store && c.workload === o.workload && c.connections === o.connections);
    if (!main) continue;
    const [child, inproc] = report.loader === 'child' ? [main.median, o.median] : [o.median, main.median];
    lines.push(
      `| ${WORKLOAD_LABEL[o.workload]} | ${o.connections} | ${fmt(child.requestsPerSec)} | ${fmt(inproc.requestsPerSec)} | ${fmt(inproc.requestsPerSec / child.requestsPerSec, 2)} | ${fmt(child.p50Ms, 2)} / ${fmt(child.p99Ms, 2)} | ${fmt(inproc.p50Ms, 2)} / ${fmt(inproc.p99Ms, 2)} |`,
    );
  }
  return lines.join('\n');
}

export function renderHttpReport(report: HttpReport, resultsPath: string): string {
  const m = report.machine;
  const v = report.versions;
  const stores = Object.values(report.stores).map((s) => `- **${s.label}**: ${s.settings}`);
  const settings = Object.entries(report.settings).map(([k, s]) => `- ${k}: ${s}`);
  return [
    '# HTTP API benchmark',
    '',
    '<!-- Generated by bench/http.ts from the results file below; edit bench/lib/http-report.ts, not this file. -->',
    '',
    `Spindle's HTTP server (\`@spindle/server\`) under load from autocannon, on one machine. Figures are medians`,
    `of ${report.runs} run${report.runs === 1 ? '' : 's'} of ${report.durationSec} s from \`${resultsPath}\` (${report.date.slice(0, 10)}, ${report.durationSeconds < 120 ? `${report.durationSeconds} s` : `${Math.round(report.durationSeconds / 60)} min`} in all).`,
    'Reproduce with `npm run bench:http` (full) or `npm run bench:http -- --quick` (1 run of 3 s, not written here).',
    '',
    `Machine: ${m.host}, ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}. Versions: ${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')}.`,
    '',
    '## Results',
    '',
    mainTable(report),
    '',
    "non-2xx and errors are totals over all runs of a row (each must be 0). jobs / insert: enqueues per database insert transaction, i.e. how much the Client's group commit batched (counted by wrapping the backend's `insertJobs` in the benchmark).",
    `CPU is % of one core (the machine has ${m.cores}) over a run: the server's process (server, Client and, for SQLite, the database engine), autocannon's, and everything else on the machine (PostgreSQL's server processes; on SQLite rows only the kernel's I/O threads and the like, so a large figure there means something else disturbed the run).`,
    '',
    batchingNote(report),
    '',
    loaderComparison(report),
    '',
    '## Method',
    '',
    `- **Enqueue**: \`POST /api/v1/queues/bench/jobs\` with body \`{"name":"x","payload":{"n":1}}\`, no worker running. Each 201 means the job is committed (the server answers after the Client's group commit).`,
    `- **Read**: \`GET /api/v1/jobs/<id>\`, rotating over ${fmt(report.readIds)} jobs enqueued before the run (untimed); each request takes the next id, shared across connections (autocannon's \`setupRequest\`).`,
    `- Closed loop: ${[...new Set(report.cells.map((c) => c.connections))].join(' and ')} keep-alive connections, each sending its next request when the previous answer arrives (no pipelining), for ${report.durationSec} s after a ${report.warmupSec} s warm-up on the same server (not counted).`,
    `- A fresh store for every run: a new SQLite file or PostgreSQL schema, a new Client and a new server (port chosen by the OS, 127.0.0.1). Each run starts once the machine is quiet (under 25 % of a core busy over 1 s); a run during which programs other than the benchmark and PostgreSQL used more than 20 % of a core is repeated (up to 3 times; ${report.cells.reduce((n, c) => n + c.discarded.length, 0)} such runs this time, kept in the results file under \`discarded\`).`,
    `- autocannon ran **${report.loader === 'child' ? 'in a child process' : 'in the server\'s process'}** (${report.loader === 'child' ? 'its own event loop and, on this machine, in effect its own core' : 'sharing its event loop'}); the server, its Client and the database driver run in the benchmark's main process. ${report.cells.some((c) => c.loader !== report.loader) ? 'The table above compares both ways.' : ''}`.trimEnd(),
    '- requests/s is autocannon\'s mean of per-second counts; p50/p99 are computed from every response time autocannon reports (float milliseconds; autocannon\'s own histogram rounds to whole milliseconds, and its figures are kept in the results file as `acP50Ms`/`acP99Ms`).',
    '- PostgreSQL runs on the same machine, so it competes for the same 2 cores as the server and autocannon.',
    '',
    '## Stores and settings',
    '',
    ...stores,
    ...settings,
    '',
  ].join('\n');
}
