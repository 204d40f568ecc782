/**
 * The whole chaos suite from one command (`npm run chaos`, reliability.md §5.7 "nightly"):
 *
 *   npm run chaos -- [--quick] [--scenario C1,C12,...] [--backend sqlite,postgres] [--out dir]
 *                    [--seed n] [--keep] [--artifacts dir]
 *
 * Runs every scenario of every family, one at a time (the machine has 2 cores), on each backend
 * it applies to, and writes `chaos-report.json` and `chaos-report.md` into `bench/chaos/` (or
 * `--out`): one table per family, then each failed run's violations, crashed runs and the
 * scenarios not run with their reason.
 *
 * Families (each owns its runner and report shape):
 * - jobs (scenario/, scenario-db/, scenario-local/): job scenarios through runScenario — C1, C2,
 *   C10, C15, C17; C3, C4, C5, C16 (PostgreSQL, private cluster); C6, C7, C8, C11, C14;
 * - topics (topics/): C12;
 * - http (http/): C9, C13.
 *
 * Invariants: a scenario is run only on the backends it applies to; every scenario asked for is
 * either run or listed as not run with its reason; the exit code is 1 if any run has violations
 * or crashed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_KINDS, type BackendKind } from './scenario/backends.js';
import { SCENARIOS, SKIPPED, scenario } from './scenario/catalog.js';
import { describeViolations, markdownTable, type ScenarioReport } from './scenario/report.js';
import { runScenario, type RunOptions } from './scenario/runner.js';
import { DB_SCENARIOS, runDbScenario, type DbScenarioId } from './scenario-db/index.js';
import { LOCAL_BACKENDS, LOCAL_SCENARIOS } from './scenario-local/index.js';
import { describeTopicViolations, renderTopicTable, runTopicCrashScenario, type TopicScenarioReport } from './topics/index.js';
import { describeHttpViolations, HTTP_REPORT_HEADER, renderHttpReportRow, runHttpScenario, type HttpScenarioReport } from './http/index.js';

type Tier = 'quick' | 'full';
const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

/** One runnable scenario: where it applies and how to run it. */
interface Entry<R> {
  family: Family<R>;
  backends: readonly BackendKind[];
  run(backend: BackendKind, tier: Tier, options: RunOptions): Promise<R>;
}

interface Family<R> {
  name: string;
  table(reports: readonly R[]): string;
  violations(report: R): number;
  describe(report: R): string;
  label(report: R): string;
}

const jobs: Family<ScenarioReport> = {
  name: 'Jobs',
  table: markdownTable,
  violations: (r) => r.violations.length,
  describe: (r) => describeViolations(r),
  label: (r) => `${r.scenario} on ${r.backend}`,
};
const topics: Family<TopicScenarioReport> = {
  name: 'Topics',
  table: renderTopicTable,
  violations: (r) => r.violations.length,
  describe: (r) => describeTopicViolations(r),
  label: (r) => `${r.scenario} on ${r.backend}`,
};
const http: Family<HttpScenarioReport> = {
  name: 'HTTP API',
  table: (reports) => [...HTTP_REPORT_HEADER, ...reports.map(renderHttpReportRow)].join('\n'),
  violations: (r) => r.violations.length,
  describe: (r) => describeHttpViolations(r),
  label: (r) => `${r.scenario} on ${r.backend}`,
};

type AnyEntry = Entry<any>;

function catalog(): Record<string, AnyEntry> {
  const out: Record<string, AnyEntry> = {};
  for (const id of Object.keys(SCENARIOS)) {
    out[id] = { family: jobs, backends: BACKEND_KINDS, run: (backend, tier, o) => runScenario(scenario(id, tier), backend, o) };
  }
  for (const id of Object.keys(DB_SCENARIOS) as DbScenarioId[]) {
    out[id] = { family: jobs, backends: ['postgres'], run: (_backend, tier, o) => runDbScenario(id, tier, o) };
  }
  for (const [id, make] of Object.entries(LOCAL_SCENARIOS)) {
    out[id] = { family: jobs, backends: LOCAL_BACKENDS[id] ?? BACKEND_KINDS, run: (backend, tier, o) => runScenario(make(tier), backend, o) };
  }
  out.C12 = { family: topics, backends: BACKEND_KINDS, run: (backend, tier, o) => runTopicCrashScenario({ backend, tier, ...seedAndArtifacts(o) }) };
  for (const id of ['C9', 'C13'] as const) {
    out[id] = { family: http, backends: BACKEND_KINDS, run: (backend, tier, o) => runHttpScenario({ id, backend, tier, ...seedAndArtifacts(o) }) };
  }
  return out;
}

function seedAndArtifacts(o: RunOptions): { seed?: number; artifactsDir?: string; keepArtifacts?: boolean; log?: (m: string) => void } {
  return {
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    ...(o.artifactsDir === undefined ? {} : { artifactsDir: o.artifactsDir }),
    ...(o.keepArtifacts === undefined ? {} : { keepArtifacts: o.keepArtifacts }),
    ...(o.log === undefined ? {} : { log: o.log }),
  };
}

/** C-number order: C1, C2, …, C17. */
const byNumber = (a: string, b: string): number => Number(a.slice(1)) - Number(b.slice(1));

interface Args {
  tier: Tier;
  scenarios: string[];
  backends: BackendKind[];
  out: string;
  seed: number | undefined;
  keep: boolean;
  artifacts: string;
}

const USAGE = 'usage: npm run chaos -- [--quick] [--scenario C1,C12,...] [--backend sqlite,postgres] [--out dir] [--seed n] [--keep] [--artifacts dir]\n';

function parseArgs(argv: string[], known: Record<string, AnyEntry>): Args {
  const args: Args = { tier: 'full', scenarios: Object.keys(known).sort(byNumber), backends: [...BACKEND_KINDS], out: join(REPO_ROOT, 'bench', 'chaos'), seed: undefined, keep: false, artifacts: join(tmpdir(), 'spindle-chaos-artifacts') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') args.tier = 'quick';
    else if (a === '--scenario') args.scenarios = value().split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
    else if (a === '--backend') args.backends = value().split(',').map((s) => s.trim()) as BackendKind[];
    else if (a === '--out') args.out = resolve(value());
    else if (a === '--seed') args.seed = Number(value());
    else if (a === '--keep') args.keep = true;
    else if (a === '--artifacts') args.artifacts = resolve(value());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  for (const b of args.backends) if (!BACKEND_KINDS.includes(b)) throw new Error(`unknown backend ${b}`);
  for (const s of args.scenarios) if (!known[s] && !SKIPPED[s]) throw new Error(`unknown scenario ${s}`);
  if (args.seed !== undefined && !Number.isInteger(args.seed)) throw new Error('--seed must be an integer');
  return args;
}

async function main(): Promise<number> {
  const known = catalog();
  const args = parseArgs(process.argv.slice(2), known);
  mkdirSync(args.out, { recursive: true });
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  const results = new Map<Family<unknown>, unknown[]>();
  const failed: string[] = [];
  const crashed: Array<{ scenario: string; backend: string; error: string }> = [];
  const notRun: Array<[string, string]> = [];
  for (const id of args.scenarios) {
    const entry = known[id];
    if (!entry) {
      notRun.push([id, SKIPPED[id] ?? 'not built']);
      continue;
    }
    for (const backend of args.backends) {
      if (!entry.backends.includes(backend)) {
        notRun.push([`${id} on ${backend}`, `applies to ${entry.backends.join(' and ')} only`]);
        continue;
      }
      const options: RunOptions = { artifactsDir: args.artifacts, keepArtifacts: args.keep, log, ...(args.seed === undefined ? {} : { seed: args.seed }) };
      try {
        const report = await entry.run(backend, args.tier, options);
        const family = entry.family as Family<unknown>;
        results.set(family, [...(results.get(family) ?? []), report]);
        const n = family.violations(report);
        log(`${id}/${backend}: ${n} violations`);
        if (n > 0) failed.push(`## ${family.label(report)}: violations\n\n${family.describe(report)}\n`);
      } catch (err) {
        crashed.push({ scenario: id, backend, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        log(`${id}/${backend}: run failed: ${String(err)}`);
      }
    }
  }
  const at = new Date().toISOString();
  const sections = [...results].map(([family, reports]) => `## ${family.name}\n\n${family.table(reports)}\n`);
  const json = { at, tier: args.tier, reports: Object.fromEntries([...results].map(([f, r]) => [f.name, r])), crashed, notRun: Object.fromEntries(notRun) };
  writeFileSync(join(args.out, 'chaos-report.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = [
    `# Chaos suite report (${args.tier} tier, ${at})`,
    '',
    ...sections,
    ...failed,
    ...crashed.map((c) => `## ${c.scenario} on ${c.backend}: the run failed\n\n\`\`\`\n${c.error}\n\`\`\`\n`),
    ...(notRun.length ? ['## Not run', '', ...notRun.map(([id, why]) => `- ${id}: ${why}`), ''] : []),
  ].join('\n');
  writeFileSync(join(args.out, 'chaos-report.md'), md);
  process.stdout.write(`${sections.join('\n')}\nwritten to ${args.out}\n`);
  return crashed.length > 0 || failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
