/**
 * The benchmark runner: every workload against every system on this machine, medians of
 * `--runs` runs, written to bench/results/<date>-<host>.json, and bench/README.md regenerated
 * from that file (tables with ratios Spindle ÷ peer, and an SVG chart).
 *
 *   npm run bench                     full run (~20–30 min on 2 cores)
 *   npm run bench -- --quick          small sizes, 1 run (< 3 min)
 *   npm run bench -- --systems spindle-sqlite,bullmq --workloads drain-c50,latency-idle
 *   npm run bench -- --merge results/2026-11-28-vm.json --systems spindle-sqlite --workloads backlog
 *                                     re-measure some systems/workloads and replace them in a full
 *                                     results file (the README is regenerated from the merged file)
 *
 * Figures go to results and the README, never into tests.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { SystemAdapter } from './lib/adapter.js';
import { machineInfo } from './lib/machine.js';
import { medianOf } from './lib/stats.js';
import { loadSystem, SYSTEMS } from './lib/systems.js';
import { renderReadme } from './lib/report.js';
import { backlog, type BacklogSizes } from './workloads/backlog.js';
import { ceilings } from './workloads/ceiling.js';
import { drain } from './workloads/drain.js';
import { bulkEnqueue, singleEnqueue } from './workloads/enqueue.js';
import { latency } from './workloads/latency.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    systems: { type: 'string', default: SYSTEMS.join(',') },
    workloads: { type: 'string' },
    'no-readme': { type: 'boolean', default: false },
    /** A full results file (relative to bench/) whose entries this run's measurements replace. */
    merge: { type: 'string' },
    /** Systems measured in the backlog workload (seeding a million rows is slow for some peers). */
    'backlog-systems': { type: 'string', default: 'spindle-sqlite,spindle-postgres,graphile-worker' },
  },
});

const quick = args.quick!;
const runs = Number(args.runs ?? (quick ? 1 : 3));
const sizes = quick
  ? { bulk: 5000, single: 300, drain: 5000, latencyCount: 200, steadySeconds: 5, backlog: { work: 5000, big: 100_000, completed: 100_000, dead: 10_000, scheduled: 10_000 } }
  : { bulk: 20_000, single: 2000, drain: 20_000, latencyCount: 500, steadySeconds: 30, backlog: { work: 10_000, big: 1_000_000, completed: 1_000_000, dead: 100_000, scheduled: 100_000 } };

type Row = Record<string, number>;
interface Workload {
  id: string;
  title: string;
  /** The figure compared across systems and whether higher is better. */
  headline: { key: string; unit: string; higherIsBetter: boolean };
  applies: (a: SystemAdapter) => boolean;
  run: (a: SystemAdapter) => Promise<Row>;
}

const steadyRate = 2000;
const WORKLOADS: Workload[] = [
  {
    id: 'enqueue-bulk',
    title: `Bulk enqueue of ${sizes.bulk.toLocaleString('en')} jobs (chunks of 1,000)`,
    headline: { key: 'jobsPerSec', unit: 'jobs/s', higherIsBetter: true },
    applies: () => true,
    run: (a) => bulkEnqueue(a, sizes.bulk) as Promise<Row>,
  },
  {
    id: 'enqueue-single',
    title: `Single enqueues, one at a time (${sizes.single.toLocaleString('en')} jobs)`,
    headline: { key: 'jobsPerSec', unit: 'jobs/s', higherIsBetter: true },
    applies: () => true,
    run: (a) => singleEnqueue(a, sizes.single) as Promise<Row>,
  },
  ...[10, 50].map((c) => ({
    id: `drain-c${c}`,
    title: `Drain ${sizes.drain.toLocaleString('en')} jobs, 1 worker process, concurrency ${c}`,
    headline: { key: 'jobsPerSec', unit: 'jobs/s', higherIsBetter: true },
    applies: () => true,
    run: (a: SystemAdapter) => drain(a, { jobs: sizes.drain, concurrency: c, processes: 1 }) as unknown as Promise<Row>,
  })),
  {
    id: 'drain-4proc',
    title: `Drain ${sizes.drain.toLocaleString('en')} jobs, 4 worker processes × concurrency 50`,
    headline: { key: 'jobsPerSec', unit: 'jobs/s', higherIsBetter: true },
    applies: (a) => a.multiProcessWorkers,
    run: (a) => drain(a, { jobs: sizes.drain, concurrency: 50, processes: 4 }) as unknown as Promise<Row>,
  },
  {
    id: 'latency-idle',
    title: `Enqueue → handler start, ${sizes.latencyCount} jobs 10 ms apart, idle worker in another process`,
    headline: { key: 'p50Ms', unit: 'ms p50', higherIsBetter: false },
    applies: () => true,
    run: (a) => latency(a, { count: sizes.latencyCount, intervalMs: 10, concurrency: 10, inProcess: false }) as unknown as Promise<Row>,
  },
  {
    id: 'latency-inprocess',
    title: `Enqueue → handler start, ${sizes.latencyCount} jobs 10 ms apart, idle worker in the producer's process`,
    headline: { key: 'p50Ms', unit: 'ms p50', higherIsBetter: false },
    applies: () => true,
    run: (a) => latency(a, { count: sizes.latencyCount, intervalMs: 10, concurrency: 10, inProcess: true }) as unknown as Promise<Row>,
  },
  {
    id: 'steady',
    title: `Steady state: ${steadyRate.toLocaleString('en')} jobs/s for ${sizes.steadySeconds} s while draining (concurrency 50)`,
    headline: { key: 'p99Ms', unit: 'ms p99', higherIsBetter: false },
    applies: () => true,
    run: (a) => latency(a, { count: steadyRate * sizes.steadySeconds, intervalMs: 1000 / steadyRate, concurrency: 50, inProcess: false }) as unknown as Promise<Row>,
  },
];

const systems = await Promise.all(args.systems!.split(',').map(loadSystem));
const selected = args.workloads ? new Set(args.workloads.split(',')) : null;
const results: Record<string, Record<string, { runs: Row[]; median: Row }>> = {};
const started = Date.now();

for (const workload of WORKLOADS) {
  if (selected && !selected.has(workload.id)) continue;
  results[workload.id] = {};
  for (const system of systems) {
    if (!workload.applies(system)) continue;
    const rows: Row[] = [];
    for (let r = 0; r < runs; r++) {
      try {
        rows.push(await workload.run(system));
      } catch (err) {
        console.error(`${workload.id} ${system.name} run ${r + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (rows.length === 0) continue;
    results[workload.id]![system.name] = { runs: rows, median: medianOf(rows) };
    console.error(`${workload.id.padEnd(18)} ${system.name.padEnd(18)} ${JSON.stringify(medianOf(rows))}`);
  }
}

const backlogSizes: BacklogSizes = sizes.backlog;
let backlogResults: Record<string, unknown> | null = null;
if (!selected || selected.has('backlog')) {
  backlogResults = {};
  const wanted = new Set(args['backlog-systems']!.split(','));
  for (const system of systems.filter((s) => wanted.has(s.name))) {
    const result = await backlog(system, backlogSizes, runs).catch((err: unknown) => {
      console.error(`backlog ${system.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    });
    if (result) {
      backlogResults[system.name] = result;
      console.error(`backlog            ${system.name.padEnd(18)} ${JSON.stringify(result.summary)}`);
    }
  }
}

let ceilingResults: Awaited<ReturnType<typeof ceilings>> | null = null;
if (!selected || selected.has('ceiling')) {
  ceilingResults = await ceilings([...new Set(systems.map((s) => s.store))], quick ? 20_000 : 100_000, runs);
  console.error(`ceiling            ${JSON.stringify(ceilingResults)}`);
}

const report = {
  date: new Date().toISOString(),
  quick,
  runs,
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine: machineInfo(),
  systems: Object.fromEntries(await Promise.all(systems.map(async (s) => [s.name, { label: s.label, store: s.store, settings: s.settings, versions: await s.versions() }]))),
  workloads: Object.fromEntries(WORKLOADS.filter((w) => results[w.id]).map((w) => [w.id, { title: w.title, headline: w.headline }])),
  results,
  backlog: backlogResults ? { sizes: backlogSizes, results: backlogResults } : null,
  ceiling: ceilingResults,
};

const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
if (args.merge) {
  // Replace what this run measured inside an earlier full run; everything else stays as it was.
  const target = new URL(args.merge, new URL('./', import.meta.url));
  const base = JSON.parse(readFileSync(target, 'utf8')) as typeof report & { remeasured?: Array<{ date: string; systems: string[]; workloads: string[] }> };
  for (const [workload, bySystem] of Object.entries(report.results)) Object.assign((base.results[workload] ??= {}), bySystem);
  Object.assign(base.workloads, report.workloads);
  if (report.backlog) base.backlog = { sizes: report.backlog.sizes, results: { ...(base.backlog?.results ?? {}), ...report.backlog.results } };
  if (report.ceiling) base.ceiling = report.ceiling;
  base.remeasured = [...(base.remeasured ?? []), { date: report.date, systems: Object.keys(report.systems), workloads: [...(selected ?? ['all'])] }];
  writeFileSync(target, `${JSON.stringify(base, null, 2)}\n`);
  const { readme, svg } = renderReadme(base, args.merge.replace(/^\.\//, ''));
  writeFileSync(new URL('./README.md', import.meta.url), readme);
  writeFileSync(new URL('./chart.svg', import.meta.url), svg);
  console.error(`merged into ${target.pathname}; bench/README.md and bench/chart.svg regenerated`);
  process.exit(0);
}
const stamp = report.date.slice(0, 10);
const file = new URL(`${stamp}-${hostname()}${quick ? `-quick-${report.date.slice(11, 19).replaceAll(':', '')}` : ''}.json`, dir);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.error(`results: ${file.pathname}`);
if (!quick && !args['no-readme'] && !args.workloads) {
  const { readme, svg } = renderReadme(report, `results/${stamp}-${hostname()}.json`);
  writeFileSync(new URL('./README.md', import.meta.url), readme);
  writeFileSync(new URL('./chart.svg', import.meta.url), svg);
  console.error('bench/README.md and bench/chart.svg regenerated');
}
process.exit(0);
