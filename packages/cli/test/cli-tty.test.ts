// The CLI on a terminal: `script` (util-linux) gives the binary a pseudo-terminal, so the TTY
// paths run for real — `top` redraws on the alternate screen until q and restores the terminal,
// `jobs tail` draws a progress bar, colour is on for a TTY and off with NO_COLOR.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanEnv, ROOT, serve, spindle, tempDir, waitFor, WORKERS } from './helpers.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs `spindle …args` on a pseudo-terminal; `keys(output)` may return input to type. */
async function onTty(args: string[], options: { env?: Record<string, string>; until?: RegExp; type?: string } = {}): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, '--conditions=source', '--import', 'tsx', BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: cleanEnv({ TERM: 'xterm', ...options.env }), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  if (options.until) {
    await waitFor(() => output, options.until, child);
    if (options.type) child.stdin.write(options.type);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, output };
}

describe('spindle on a terminal', { skip: hasScript ? false : 'needs `script` (util-linux) for a pseudo-terminal' }, () => {
  it('top redraws until q, then restores the screen; colour on a TTY, none with NO_COLOR', async () => {
    const tmp = tempDir();
    try {
      const db = ['--db', join(tmp.dir, 't.db')];
      await spindle([...db, 'enqueue', 'emails', 'welcome']);
      const [top, colour, plain] = await Promise.all([
        onTty([...db, 'top', '--interval', '0.5'], { until: /(spindle top[\s\S]*){2}emails/, type: 'q' }),
        onTty([...db, 'queues', 'ls']),
        onTty([...db, 'queues', 'ls'], { env: { NO_COLOR: '1' } }),
      ]);
      assert.equal(top.code, 0, top.output);
      assert.ok(top.output.startsWith('\x1b[?1049h'), 'alternate screen');
      assert.ok((top.output.match(/spindle top/g) ?? []).length >= 2, 'redrawn');
      assert.ok(top.output.endsWith('\x1b[?25h\x1b[?1049l'), 'cursor and main screen restored');
      assert.equal(colour.code, 0);
      assert.match(colour.output, /\x1b\[1mQUEUE/);
      assert.equal(plain.code, 0);
      assert.doesNotMatch(plain.output, /\x1b\[/);
      assert.match(plain.output, /^QUEUE\s+STATE/);
    } finally {
      tmp.cleanup();
    }
  });

  it('jobs tail draws a progress bar and ends with the final line', async () => {
    const tmp = tempDir();
    const db = ['--db', join(tmp.dir, 'tail.db')];
    const served = await serve(db, ['--workers', WORKERS]);
    try {
      const gate = join(tmp.dir, 'gate');
      const id = (await spindle([...db, 'enqueue', 'work', 'transcode', JSON.stringify({ gate })])).stdout.trim();
      const tail = onTty(['--url', served.url, 'jobs', 'tail', id], { until: /attempt 1\/4/ });
      setTimeout(() => writeFileSync(gate, ''), 1500);
      const r = await tail;
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /█+░*/, 'a progress bar');
      assert.match(r.output, /100%/);
      assert.match(r.output, new RegExp(`job ${id} completed in \\S+ result`));
    } finally {
      await served.stop();
      tmp.cleanup();
    }
  });
});
