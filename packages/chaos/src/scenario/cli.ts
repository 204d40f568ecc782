/**
 * The chaos suite's command line (the full tier, reliability.md §5.7 "nightly"):
 *
 *   node --conditions=source --import tsx packages/chaos/src/scenario/cli.ts \
 *     [--quick] [--scenario C1,C2,...] [--backend sqlite,postgres] [--out dir] [--seed n]
 *     [--keep] [--artifacts dir]
 *
 * Runs each scenario on each backend in turn (one at a time: the machine has 2 cores) and
 * writes `chaos-report.json` and `chaos-report.md` (the table of docs/reliability.md) into
 * `bench/chaos/` at the repository root, or `--out`. A failed run's histories, logs and final
 * state are copied to `--artifacts` (default `<tmpdir>/spindle-chaos-artifacts`; every run's
 * with --keep): they can be large, so they stay out of the repository. Exit code 1 if any run
 * has violations or crashed.
 *
 * Invariant: every scenario of the catalog is either run or listed as skipped with its reason.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_KINDS, type BackendKind } from './backends.js';
import { SCENARIOS, SKIPPED, scenario } from './catalog.js';
import { describeViolations, markdownTable, type ScenarioReport } from './report.js';
import { runScenario } from './runner.js';
import type { Tier } from './scenarios-process.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../../..');

interface Args {
  tier: Tier;
  scenarios: string[];
  backends: BackendKind[];
  out: string;
  seed: number | undefined;
  keep: boolean;
  artifacts: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { tier: 'full', scenarios: Object.keys(SCENARIOS), backends: [...BACKEND_KINDS], out: join(REPO_ROOT, 'bench', 'chaos'), seed: undefined, keep: false, artifacts: join(tmpdir(), 'spindle-chaos-artifacts') };
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
      process.stdout.write('usage: cli.ts [--quick] [--scenario C1,C2,C10,C15,C17] [--backend sqlite,postgres] [--out dir] [--seed n] [--keep] [--artifacts dir]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const b of args.backends) if (!BACKEND_KINDS.includes(b)) throw new Error(`unknown backend ${b}`);
  for (const s of args.scenarios) if (!SCENARIOS[s] && !SKIPPED[s]) throw new Error(`unknown scenario ${s}`);
  return args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const reports: ScenarioReport[] = [];
  const crashed: Array<{ scenario: string; backend: string; error: string }> = [];
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  for (const id of args.scenarios.filter((s) => SCENARIOS[s])) {
    for (const backend of args.backends) {
      try {
        const report = await runScenario(scenario(id, args.tier), backend, { ...(args.seed === undefined ? {} : { seed: args.seed }), artifactsDir: args.artifacts, keepArtifacts: args.keep, log });
        reports.push(report);
        log(`${id}/${backend}: ${report.violations.length} violations\n${describeViolations(report)}`);
      } catch (err) {
        crashed.push({ scenario: id, backend, error: err instanceof Error ? err.stack ?? err.message : String(err) });
        log(`${id}/${backend}: run failed: ${String(err)}`);
      }
    }
  }
  const skipped = Object.entries(SKIPPED).filter(([id]) => args.scenarios.includes(id) || args.scenarios.length === Object.keys(SCENARIOS).length);
  const at = new Date().toISOString();
  writeFileSync(join(args.out, 'chaos-report.json'), `${JSON.stringify({ at, tier: args.tier, reports, crashed, skipped: Object.fromEntries(skipped) }, null, 2)}\n`);
  const md = [
    `# Chaos suite report (${args.tier} tier, ${at})`,
    '',
    markdownTable(reports),
    '',
    ...reports.filter((r) => r.violations.length > 0).map((r) => `## ${r.scenario} on ${r.backend}: violations\n\n${describeViolations(r)}\n`),
    ...crashed.map((c) => `## ${c.scenario} on ${c.backend}: the run failed\n\n\`\`\`\n${c.error}\n\`\`\`\n`),
    ...(skipped.length ? ['## Not run', '', ...skipped.map(([id, why]) => `- ${id}: ${why}`), ''] : []),
    '## Details',
    '',
    ...reports.map((r) => `- ${r.scenario}/${r.backend} (seed ${r.seed}, ${(r.durationMs / 1000).toFixed(0)} s): ${JSON.stringify(r.details)}`),
    '',
  ].join('\n');
  writeFileSync(join(args.out, 'chaos-report.md'), md);
  process.stdout.write(`${markdownTable(reports)}\n\nwritten to ${args.out}\n`);
  return crashed.length > 0 || reports.some((r) => r.violations.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
