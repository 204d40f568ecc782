// Runs `npm start`'s program (examples/serve.ts) as a user would: the server comes up on the
// embedded SQLite file, answers readiness, the demo produces and completes jobs, and SIGTERM
// stops it cleanly.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('npm start serves the API on SQLite with a running demo, and stops on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-serve-'));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'examples/serve.ts'], {
    env: { ...process.env, SPINDLE_DB: join(dir, 'spindle.db'), PORT: '0', DEMO_INTERVAL_MS: '50' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const deadline = Date.now() + 30_000;
    let base: string | undefined;
    while (!base && Date.now() < deadline) {
      base = /API docs\s+(http:\/\/[^/\s]+)\/docs/.exec(out)?.[1];
      if (!base) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(base, `the server printed its address:\n${out}`);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    let completed = 0;
    while (completed < 3 && Date.now() < deadline) {
      const queues = (await (await fetch(`${base}/api/v1/queues`)).json()) as { queues: Array<{ name: string; counts: Record<string, number> }> };
      completed = queues.queues.find((q) => q.name === 'videos')?.counts.completed ?? 0;
      if (completed < 3) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(completed >= 3, 'the demo completed jobs');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
