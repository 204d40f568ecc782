/**
 * The clock fault really moves a child's wall clock (Node under libfaketime): a jump forward or
 * back is seen by a fresh child and by one already running, 10× speed makes its wall clock run
 * ahead of its monotonic clock, and this process's own clock is untouched. Needs Debian
 * `faketime` installed (CI installs it).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createFakeClock, findLibfaketime, type FakeClock } from '../src/faults/clock.js';

const clocks: FakeClock[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const c of clocks) c.destroy();
});

function clock(): FakeClock {
  const c = createFakeClock();
  clocks.push(c);
  return c;
}

/** Date.now() as a fresh child process under `env` sees it. */
function childNow(env: Record<string, string>): number {
  return Number(execFileSync(process.execPath, ['-e', 'console.log(Date.now())'], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim());
}

/** A long-running child: each line on stdin makes it answer `{ wall, mono }` after waiting `n` ms (monotonic). */
function probe(env: Record<string, string>): (waitMs?: number) => Promise<{ wall0: number; wall1: number; mono: number }> {
  const code = `
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      const wall0 = Date.now(), m0 = performance.now();
      setTimeout(() => console.log(JSON.stringify({ wall0, wall1: Date.now(), mono: performance.now() - m0 })), Number(l));
    });`;
  const child = spawn(process.execPath, ['-e', code], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const answers: Array<(v: { wall0: number; wall1: number; mono: number }) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => answers.shift()?.(JSON.parse(l)));
  return (waitMs = 0) => new Promise((resolve) => {
    answers.push(resolve);
    child.stdin!.write(`${waitMs}\n`);
  });
}

const HOUR = 3_600_000;

describe('fake clock (libfaketime)', () => {
  it('finds libfaketime (install Debian faketime)', () => {
    assert.ok(findLibfaketime(), 'libfaketime.so.1 not found: apt-get install -y faketime');
  });

  it('a fresh child sees the jump, forward and back; this process does not', { timeout: 30_000 }, () => {
    const c = clock();
    assert.match(c.env.LD_PRELOAD!, /libfaketime/);
    assert.equal(c.env.DONT_FAKE_MONOTONIC, '1');

    c.jump(HOUR);
    let t0 = Date.now();
    assert.ok(childNow(c.env) >= t0 + HOUR, 'an hour ahead');
    let t1 = Date.now();
    assert.ok(t1 < t0 + HOUR, 'our own clock did not move');

    c.jump(-HOUR);
    t0 = Date.now();
    const behind = childNow(c.env);
    t1 = Date.now();
    assert.ok(behind <= t1 - HOUR, 'an hour behind');

    c.reset();
    t0 = Date.now();
    const real = childNow(c.env);
    t1 = Date.now();
    assert.ok(real >= t0 && real <= t1, 'real time again');
  });

  it('a running child sees each change on its next read; speed ×10 leaves its monotonic clock alone', { timeout: 30_000 }, async () => {
    const recorded: string[] = [];
    const c = createFakeClock({ target: 'worker-1', recorder: { faultStarted: (a) => (recorded.push(`start ${a.fault} ${a.offsetMs} x${a.factor}`), () => recorded.push('heal')) } });
    clocks.push(c);
    const ask = probe(c.env);

    const t0 = Date.now();
    const real = await ask();
    assert.ok(real.wall0 >= t0 && real.wall0 < t0 + HOUR, 'real time at first');

    c.jump(HOUR);
    const t1 = Date.now();
    assert.ok((await ask()).wall0 >= t1 + HOUR, 'the running child jumped an hour ahead');

    c.speed(10);
    const fast = await ask(300);
    const wallElapsed = fast.wall1 - fast.wall0;
    assert.ok(wallElapsed >= 10 * 300 - 10, `wall clock advanced ${wallElapsed} ms in a 300 ms (monotonic) wait`);
    assert.ok(fast.mono * 5 < wallElapsed, `monotonic ${fast.mono} ms is not sped up (wall ${wallElapsed} ms)`);

    c.reset();
    const t2 = Date.now();
    const back = await ask();
    assert.ok(back.wall0 >= t2 && back.wall0 < t2 + HOUR, 'back to real time');
    assert.deepEqual(recorded, [`start clock ${HOUR} x1`, 'heal', 'start clock 0 x10', 'heal']);
  });
});
