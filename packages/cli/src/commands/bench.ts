/**
 * `spindle bench [--quick] [-- args…]`: runs the benchmark suite of a Spindle source checkout
 * (`npm run bench -- <args>` in the repository root; bench/ is not published). The exit code is
 * the suite's. `--dry-run` prints the command and where it would run.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { CliError, EXIT, Exit } from '../errors.js';

/** The checkout's root: a package.json named `spindle` with a `bench` workspace, above `from`. */
export function findRepoRoot(from: string): string | null {
  for (let dir = from, i = 0; i < 12; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'bench', 'run.ts'))) {
      try {
        const json = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; workspaces?: string[] };
        if (json.name === 'spindle' && json.workspaces?.includes('bench')) return dir;
      } catch {
        // not ours
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

async function bench(ctx: Context, args: string[], options: { quick?: boolean; dryRun?: boolean }): Promise<void> {
  const root = findRepoRoot(dirname(fileURLToPath(import.meta.url))) ?? findRepoRoot(process.cwd());
  if (!root) throw new CliError('spindle bench runs from a Spindle source checkout (the bench/ suite is not published)', EXIT.failure);
  const npmArgs = ['run', 'bench', '--', ...(options.quick ? ['--quick'] : []), ...args];
  if (options.dryRun) {
    if (ctx.out.json) return ctx.out.printJson({ cwd: root, command: ['npm', ...npmArgs] });
    return ctx.out.line(`would run in ${root}: npm ${npmArgs.join(' ')}`);
  }
  ctx.out.note(`spindle: running npm ${npmArgs.join(' ')} in ${root}`);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('npm', npmArgs, { cwd: root, stdio: 'inherit' });
    child.once('error', (err) => reject(new CliError(`cannot run npm: ${err.message}`, EXIT.failure, { cause: err })));
    child.once('exit', (status, signal) => resolve(status ?? (signal ? 128 + 2 : 1)));
  });
  if (code !== 0) throw new Exit(code);
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark suite (npm run bench in a Spindle checkout); pass more arguments after --')
    .argument('[args...]', 'arguments for bench/run.ts, e.g. -- --systems spindle-sqlite --workloads drain-c50')
    .option('--quick', 'small sizes, one run (a few minutes)')
    .option('--dry-run', 'print the command instead of running it')
    .action((args: string[], options: { quick?: boolean; dryRun?: boolean }, command: Command) => bench(Context.from(command), args, options));
}
