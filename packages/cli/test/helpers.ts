/**
 * Test helpers of the CLI: run the real `spindle` binary (src/bin.ts through tsx, cwd the
 * repository root) as a child process and collect its exit code and output; start
 * `spindle serve` in the background and learn its URL; temp dirs; PostgreSQL schemas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const BIN = 'packages/cli/src/bin.ts';
export const WORKERS = 'packages/cli/test/fixtures/workers.mjs';
export const PG_URL = process.env.SPINDLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The environment of a child: no inherited SPINDLE_* or colour settings, unless given. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SPINDLE_') && k !== 'FORCE_COLOR' && k !== 'NO_COLOR' && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, ...extra };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function start(args: string[], options: { env?: Record<string, string>; input?: string } = {}): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, ...args], {
    cwd: ROOT,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.end(options.input ?? '');
  return child;
}

export function collect(child: ChildProcess): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolvePromise) => child.once('close', (code) => resolvePromise({ code, stdout, stderr })));
}

/** Runs `spindle …args` to the end. */
export function spindle(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<RunResult> {
  return collect(start(args, options));
}

/** Waits until `output()` matches `re` (or the child exits, or `ms` pass). */
export async function waitFor(output: () => string, re: RegExp, child: ChildProcess, ms = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const m = re.exec(output());
    if (m) return m;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${re}; output so far:\n${output()}`);
}

export interface Served {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
}

/** `spindle serve --port 0 …` in the background, once it printed its URL. */
export async function serve(connArgs: string[], extra: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const child = start([...connArgs, 'serve', '--port', '0', ...extra], { env });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const m = await waitFor(() => out, /serving .* on (http:\/\/[\d.:]+)/, child, 30_000);
  return {
    url: m[1]!,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-cli-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The single stderr line of a failed command (asserts there is exactly one). */
export function oneErrorLine(r: RunResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  if (lines.length !== 1) throw new Error(`expected one stderr line, got ${lines.length}:\n${r.stderr}`);
  return lines[0]!;
}

export function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? '';
}
