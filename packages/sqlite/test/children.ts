/**
 * Runs the fixture scripts of test/fixtures as real child processes (TypeScript through tsx,
 * like the tests themselves) and talks to them line by line: children print `ready`, wait for
 * `go` on stdin, and print one JSON line with their report before exiting.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the first stdout line (seen so far or later) that matches. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Resolves when the process exits, with its exit code and all of its output. */
  exited: Promise<{ code: number | null; lines: string[]; stderr: string }>;
}

export function spawnFixture(name: string, args: string[]): Child {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], { cwd: repoRoot });
  const lines: string[] = [];
  const waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<{ code: number | null; lines: string[]; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, lines, stderr }));
  });
  return {
    process: child,
    send: (line) => child.stdin.write(`${line}\n`),
    exited,
    waitForLine(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fixture ${name}: no matching line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        const waiter = {
          match,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then(({ code }) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`fixture ${name} exited (code ${code}) before printing the expected line; stderr: ${stderr}`));
        });
      });
    },
  };
}

/** The last stdout line of a finished child, parsed as its JSON report. */
export function report<T>(result: { code: number | null; lines: string[]; stderr: string }): T {
  if (result.code !== 0) throw new Error(`fixture exited with code ${result.code}: ${result.stderr}`);
  const last = result.lines[result.lines.length - 1];
  if (last === undefined) throw new Error(`fixture printed nothing: ${result.stderr}`);
  return JSON.parse(last) as T;
}
