/**
 * Fault driver: wall-clock jumps and drift for child processes (reliability.md §5.1 "Clock",
 * scenario C6), through Debian's libfaketime preloaded into the child. It owns one temp file,
 * the libfaketime timestamp file, which it rewrites to move the children's clocks while they run.
 *
 * Use: spawn the process under test with `{ env: { ...process.env, ...clock.env } }`, then call
 * `jump` / `speed` / `reset` at any time.
 *
 * Invariants:
 * - Only the wall clock (CLOCK_REALTIME: `Date.now()`, `new Date()`) is faked; the monotonic
 *   clock (`performance.now()`, timers, libuv) is left alone (`DONT_FAKE_MONOTONIC=1`), as a
 *   real clock step would.
 * - The setting is absolute, not cumulative: after `jump(x)` the child reads real time + x,
 *   whatever came before. `speed(f, x)` makes it run f times as fast; libfaketime measures that
 *   from the child's start, so changing the factor mid-run also moves the clock.
 * - Every child sees a change on its next clock read (`FAKETIME_NO_CACHE=1`, the default) —
 *   at the cost of a file read per read of the clock; `cacheSeconds` trades delay for speed.
 * - The file is replaced atomically (write + rename): a child never reads half a setting.
 * - This process's own clock is never faked.
 */
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FaultRecorder, recordFault } from './nemesis.js';

const LIB_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
];

/** The libfaketime shared library ($SPINDLE_LIBFAKETIME, else the Debian paths), or null. */
export function findLibfaketime(): string | null {
  const candidates = [process.env.SPINDLE_LIBFAKETIME, ...LIB_CANDIDATES];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

export interface FakeClockOptions {
  /** Path of libfaketime.so.1; default `findLibfaketime()`. */
  libPath?: string;
  /** Re-read the file at most every this many seconds instead of on every clock read. */
  cacheSeconds?: number;
  /** Any setting other than real time is recorded as a `fault` op `clock`, healed by `reset`. */
  recorder?: FaultRecorder;
  /** Names the faked processes in the fault record. */
  target?: string;
}

export interface FakeClock {
  /** Environment to merge into a child's: LD_PRELOAD, FAKETIME_TIMESTAMP_FILE, DONT_FAKE_MONOTONIC, cache. */
  readonly env: Readonly<Record<string, string>>;
  readonly file: string;
  /** The children's wall clock now reads real time + `offsetMs` (negative: behind). */
  jump(offsetMs: number): void;
  /** The children's wall clock runs `factor` times as fast (from their start), shifted by `offsetMs`. */
  speed(factor: number, offsetMs?: number): void;
  /** Back to real time. */
  reset(): void;
  /** Removes the temp file; call it once the faked children have exited. */
  destroy(): void;
}

/** libfaketime's relative format: "+3600.000" or "-1.500 x10" (seconds, optional rate). */
function spec(offsetMs: number, factor: number): string {
  const seconds = (Math.abs(offsetMs) / 1000).toFixed(3);
  return `${offsetMs < 0 ? '-' : '+'}${seconds}${factor === 1 ? '' : ` x${factor}`}\n`;
}

export function createFakeClock(options: FakeClockOptions = {}): FakeClock {
  const lib = options.libPath ?? findLibfaketime();
  if (!lib) throw new Error('libfaketime not found: install Debian faketime (apt-get install -y faketime) or set SPINDLE_LIBFAKETIME');
  const dir = mkdtempSync(join(tmpdir(), 'spindle-clock-'));
  const file = join(dir, 'faketime.rc');
  let current = { offsetMs: 0, factor: 1 };
  let healFault: (() => void) | null = null;

  const write = (offsetMs: number, factor: number): void => {
    if (!Number.isFinite(offsetMs)) throw new RangeError('offsetMs must be a finite number');
    if (!Number.isFinite(factor) || factor <= 0) throw new RangeError('factor must be a positive number');
    const real = offsetMs === 0 && factor === 1;
    const changed = offsetMs !== current.offsetMs || factor !== current.factor;
    if (changed && !real) {
      healFault?.();
      healFault = recordFault(options.recorder, { fault: 'clock', target: options.target, offsetMs, factor });
    }
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, spec(offsetMs, factor));
    renameSync(tmp, file);
    current = { offsetMs, factor };
    if (real && healFault) {
      healFault();
      healFault = null;
    }
  };
  write(0, 1);

  const preload = process.env.LD_PRELOAD ? `${lib}:${process.env.LD_PRELOAD}` : lib;
  const env: Record<string, string> = {
    LD_PRELOAD: preload,
    FAKETIME_TIMESTAMP_FILE: file,
    DONT_FAKE_MONOTONIC: '1',
    ...(options.cacheSeconds === undefined ? { FAKETIME_NO_CACHE: '1' } : { FAKETIME_CACHE_DURATION: String(options.cacheSeconds) }),
  };

  return {
    env,
    file,
    jump: (offsetMs) => write(offsetMs, 1),
    speed: (factor, offsetMs = 0) => write(offsetMs, factor),
    reset: () => write(0, 1),
    destroy() {
      healFault?.();
      healFault = null;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
