/**
 * `spindle simulate [spec.json]` (or `--spec <json>`, or `--example uploads|starvation`): runs
 * the capacity simulator (simulate/engine.ts) and prints, per queue, arrivals, completions,
 * shares and waiting-time percentiles, plus drain time and utilisation; `--json` for the raw
 * result. Touches no database.
 *
 * Invariant: a bad spec exits 2 with one line naming the part (nothing is simulated).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { PRIORITY_LEVELS } from '@spindle/core';
import { Context } from '../context.js';
import { usageError } from '../errors.js';
import { simulate, type SimulationResult } from '../simulate/engine.js';
import { EXAMPLES } from '../simulate/examples.js';
import { checkSpec } from '../simulate/spec.js';
import type { Output } from '../output.js';

interface SimulateOptions {
  spec?: string;
  example?: string;
  seed?: string;
}

function readSpec(file: string | undefined, inline: string | undefined): unknown {
  if ((file === undefined) === (inline === undefined)) throw usageError('give a spec file, --spec <json> or --example <name>');
  let text: string;
  try {
    text = inline ?? readFileSync(file === '-' ? 0 : file!, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`the spec is not valid JSON: ${(err as Error).message}`);
  }
}

/** Simulated times, coarse and readable: `9.0 min`, `1.6 s`, `82 ms`. */
function formatSimDuration(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const LEVEL_NAMES = new Map<number, string>(Object.entries(PRIORITY_LEVELS).map(([name, value]) => [value, name]));
const priorityName = (p: number) => LEVEL_NAMES.get(p) ?? String(p);

type Wait = SimulationResult['queues'][number]['waitMs'];

function row(name: string, arrived: number, done: number, left: number, share: string, wait: Wait, lastDone: number | null): string[] {
  const d = (ms: number | undefined) => (ms === undefined ? '-' : formatSimDuration(ms));
  return [name, String(arrived), String(done), String(left), share, d(wait?.p50), d(wait?.p95), d(wait?.p99), d(wait?.max), lastDone === null ? '-' : formatSimDuration(lastDone)];
}

function render(out: Output, label: string, result: SimulationResult): void {
  out.line(out.color.bold(label));
  out.table(
    ['queue', 'arrived', 'done', 'left', 'share', 'wait p50', 'p95', 'p99', 'max', 'last done'],
    result.queues.flatMap((q) => [
      row(q.name, q.arrived, q.completed, q.unfinished, `${(q.share * 100).toFixed(1)} %`, q.waitMs, q.lastFinishMs),
      ...(q.byPriority ?? []).map((c) => row(`  priority ${priorityName(c.priority)}`, c.arrived, c.completed, c.arrived - c.completed, '', c.waitMs, null)),
    ]),
  );
  out.line(`${result.drained ? 'drained after' : 'stopped at'} ${formatSimDuration(result.endMs)}; ${result.completed} jobs done; utilisation ${(result.utilization * 100).toFixed(1)} %`);
  out.line('');
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('predict drain time, waits and shares for arrival rates, service times, workers and strategy (no database)')
    .argument('[spec-file]', 'JSON spec: { queues: [...], workers: [...], seed?, untilSeconds? } (- for stdin)')
    .option('--spec <json>', 'the spec inline')
    .option('--example <name>', `a built-in scenario: ${Object.keys(EXAMPLES).join(', ')}`)
    .option('--seed <n>', 'override the spec\'s seed')
    .addHelpText('after', `
Spec (durations like 250ms, 1.5s, 2m):
  queues:  [{ "name": "uploads", "initial": 100, "arrivals": { "perSecond": 2, "forSeconds": 600 },
              "service": "fixed:60s" | "exp:200ms" | "uniform:1s-3s" | "lognormal:500ms,0.6" }]
           initial and arrivals may also be lists of priority classes:
             "arrivals": [{ "perSecond": 1, "forSeconds": 600, "priority": "high" }, { "perSecond": 3, … }]
  workers: [{ "count": 5, "concurrency": 1,
              "queues": "uploads" | ["high", "low"] | { "weighted": { "high": 6, "low": 1 } } }]

Examples:
  spindle simulate --example uploads
  spindle simulate --example starvation
  spindle simulate plan.json --json`)
    .action((file: string | undefined, options: SimulateOptions, command: Command) => {
      const ctx = Context.from(command);
      let runs: Array<{ label: string; spec: unknown }>;
      if (options.example !== undefined) {
        if (file !== undefined || options.spec !== undefined) throw usageError('--example takes no spec');
        const example = EXAMPLES[options.example];
        if (!example) throw usageError(`unknown example "${options.example}" (known: ${Object.keys(EXAMPLES).join(', ')})`);
        if (!ctx.out.json) ctx.out.line(ctx.out.color.dim(example.description) + '\n');
        runs = example.runs;
      } else {
        runs = [{ label: file ?? 'spec', spec: readSpec(file, options.spec) }];
      }
      const checked = runs.map((run) => {
        const spec = options.seed === undefined ? run.spec : { ...(run.spec as object), seed: Number(options.seed) };
        return { label: run.label, spec: checkSpec(spec) };
      });
      const results = checked.map(({ label, spec }) => ({ label, result: simulate(spec) }));
      if (ctx.out.json) return ctx.out.printJson(options.example === undefined ? results[0]!.result : results);
      for (const { label, result } of results) render(ctx.out, label, result);
    });
}
