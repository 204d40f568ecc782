#!/usr/bin/env node
// The README's two commands, run exactly as written on a fresh clone (CI runs this after the
// tests; see .ci/run). The commands are the shell blocks that follow the markers
// `<!-- readme-command: run -->` and `<!-- readme-command: test -->` in README.md.
//
// - run: started in its own process group; it must print the API address within the time limit,
//   the API must then show demo jobs completing, and Ctrl-C (SIGINT to the group, as a terminal
//   sends it) must stop it within 30 s: the demo reports its clean stop and no job is left
//   `running` in its database.
// - test: must exit 0. Inside that run SPINDLE_README_CHECK=1 is set, so nothing recurses.
//
// Usage: node scripts/readme-check.mjs [run|test ...]   (default: both)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const which = process.argv.slice(2);
const wanted = which.length > 0 ? which : ['run', 'test'];
const RUN_LIMIT_MS = Number(process.env.SPINDLE_README_RUN_LIMIT_MS ?? 300_000);

function commandOf(marker) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(`<!-- readme-command: ${marker} -->`);
  if (at < 0) throw new Error(`README.md has no <!-- readme-command: ${marker} --> marker`);
  const block = /```(?:sh|bash)\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`no shell block after the ${marker} marker`);
  return block[1].trim();
}

function log(message) {
  console.log(`readme-check: ${message}`);
}

const clone = mkdtempSync(join(tmpdir(), 'spindle-readme-'));
let failed = false;
try {
  log(`cloning ${root} into ${clone}`);
  const cloned = spawnSync('git', ['clone', '--quiet', root, clone], { stdio: 'inherit' });
  if (cloned.status !== 0) throw new Error('git clone failed');
  const env = { ...process.env, SPINDLE_README_CHECK: '1' };
  delete env.SPINDLE_DB;
  delete env.DATABASE_URL;

  if (wanted.includes('run')) {
    const command = commandOf('run');
    log(`run: ${command}`);
    await checkRun(command, env);
    log('run: ok');
  }
  if (wanted.includes('test')) {
    const command = commandOf('test');
    log(`test: ${command}`);
    const result = spawnSync('bash', ['-c', command], { cwd: clone, env, stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`the test command exited with ${result.status ?? result.signal}`);
    log('test: ok');
  }
} catch (err) {
  failed = true;
  console.error(`readme-check: FAILED: ${err instanceof Error ? err.message : err}`);
} finally {
  rmSync(clone, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

async function checkRun(command, env) {
  const child = spawn('bash', ['-c', command], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })));
  child.stdout.on('data', (d) => {
    output += d;
    process.stdout.write(d);
  });
  child.stderr.on('data', (d) => {
    output += d;
    process.stderr.write(d);
  });
  const deadline = Date.now() + RUN_LIMIT_MS;
  let base = null;
  let completed = 0;
  try {
    while (Date.now() < deadline) {
      const state = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 1000))]);
      if (state) throw new Error(`the run command ended early (${state.code ?? state.signal})`);
      base ??= /(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? null;
      if (!base) continue;
      try {
        const res = await fetch(`${base}/api/v1/queues`);
        const body = await res.json();
        completed = (body.queues ?? []).reduce((sum, q) => sum + (q.counts?.completed ?? 0), 0);
      } catch {
        continue;
      }
      if (completed >= 3) break;
    }
    if (!base) throw new Error('the run command never printed its address');
    if (completed < 3) throw new Error(`no demo jobs completed within ${RUN_LIMIT_MS / 1000} s`);
    log(`run: ${base} answers; ${completed} jobs completed; sending SIGINT`);
  } finally {
    try {
      process.kill(-child.pid, 'SIGINT');
    } catch {
      // already gone
    }
  }
  const stop = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 30_000))]);
  if (!stop) {
    process.kill(-child.pid, 'SIGKILL');
    throw new Error('the run command did not stop within 30 s of SIGINT');
  }
  // Ctrl-C reaches the whole foreground group: npm and the shell end by the signal (130) while
  // the demo itself stops cleanly. Judge the demo: its last words, and no job left running.
  if (stop.code !== 0 && stop.code !== 130 && stop.signal !== 'SIGINT') throw new Error(`the run command exited with ${stop.code ?? stop.signal} after SIGINT`);
  if (!/demo stopped/.test(output)) throw new Error('the demo did not report a clean stop after SIGINT');
  const running = spawnSync(process.execPath, ['packages/cli/bin/spindle.mjs', '--db', '.spindle/demo.db', '--json', 'jobs', 'ls', '--state', 'running'], { cwd: clone, encoding: 'utf8' });
  if (running.status !== 0) throw new Error(`could not list running jobs after the stop: ${running.stderr}`);
  const left = JSON.parse(running.stdout).jobs.length;
  if (left !== 0) throw new Error(`${left} jobs were left running after the stop`);
  log('run: stopped cleanly, no job left running');
}
