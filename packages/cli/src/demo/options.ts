/**
 * The demo's knobs: their defaults, validation (a bad knob is a ValidationError naming it, thrown
 * before anything starts) and the derived timings (every simulated duration divided by `speed`).
 */
import { ValidationError, type ValidationIssue } from '@spindle/core';
import { DURATIONS } from './scenario.js';

export interface DemoOptions {
  /** Seeds every decision (who pays, corrupt files, email failures, bursts). Default: random. */
  seed?: number;
  /** Divides every simulated duration: 10 runs ten times faster (default 1). */
  speed?: number;
  /** Receives one line per notable thing (bursts, dead uploads, email retries). Default: none. */
  log?: (line: string) => void;
  /** Uploads per burst: a fixed number or `[min, max]` (default [4, 14]). */
  uploadsPerBurst?: number | [number, number];
  /** Mean time between bursts at speed 1, ±25 % (default 10000 ms). */
  burstEveryMs?: number;
  /** Stop producing after this many uploads in this run (default: unlimited; 0 = resume only). */
  maxUploads?: number;
  /** Transcoder slots shared by video.paid and video.free (default 4). */
  transcoders?: number;
  /** Share of paid work when both kinds wait: paidWeight to 1 (default 3, i.e. 3:1). */
  paidWeight?: number;
  /** Dedicated moderation workers (default 2). */
  moderators?: number;
  /** Concurrent email sends (default 4). */
  notifiers?: number;
  /** How long stop() lets in-flight jobs finish before releasing them (default 10 s ÷ speed). */
  graceMs?: number;
}

export interface ResolvedDemoOptions {
  seed: number;
  speed: number;
  log: (line: string) => void;
  burstMin: number;
  burstMax: number;
  burstEveryMs: number;
  maxUploads: number;
  transcoders: number;
  paidWeight: number;
  moderators: number;
  notifiers: number;
  graceMs: number;
}

const KEYS = ['seed', 'speed', 'log', 'uploadsPerBurst', 'burstEveryMs', 'maxUploads', 'transcoders', 'paidWeight', 'moderators', 'notifiers', 'graceMs'];

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

export function resolveDemoOptions(options: DemoOptions = {}): ResolvedDemoOptions {
  const issues: ValidationIssue[] = [];
  const bad = (path: string, message: string) => issues.push({ path, message });
  if (typeof options !== 'object' || options === null) throw new ValidationError([{ path: 'options', message: 'must be an object' }]);
  for (const key of Object.keys(options)) if (!KEYS.includes(key)) bad(key, 'unknown demo option');
  const o = options;
  const seed = o.seed ?? Math.floor(Math.random() * 1_000_000);
  if (!isInt(seed, 0, 0xffffffff)) bad('seed', 'must be an integer 0..4294967295');
  const speed = o.speed ?? 1;
  if (typeof speed !== 'number' || !Number.isFinite(speed) || speed < 0.1 || speed > 1000) bad('speed', 'must be a number from 0.1 to 1000');
  if (o.log !== undefined && typeof o.log !== 'function') bad('log', 'must be a function');
  const burst = o.uploadsPerBurst ?? [4, 14];
  const [burstMin, burstMax] = typeof burst === 'number' ? [burst, burst] : Array.isArray(burst) && burst.length === 2 ? burst : [NaN, NaN];
  if (!isInt(burstMin, 1, 1000) || !isInt(burstMax, burstMin, 1000)) bad('uploadsPerBurst', 'must be an integer 1..1000 or [min, max] with min <= max');
  const burstEveryMs = o.burstEveryMs ?? DURATIONS.burstEvery;
  if (!isInt(burstEveryMs, 1, 3_600_000)) bad('burstEveryMs', 'must be an integer 1..3600000');
  const maxUploads = o.maxUploads ?? Number.POSITIVE_INFINITY;
  if (maxUploads !== Number.POSITIVE_INFINITY && !isInt(maxUploads, 0, 1e9)) bad('maxUploads', 'must be an integer >= 0');
  const counts = { transcoders: o.transcoders ?? 4, paidWeight: o.paidWeight ?? 3, moderators: o.moderators ?? 2, notifiers: o.notifiers ?? 4 };
  for (const [key, value] of Object.entries(counts)) if (!isInt(value, 1, 100)) bad(key, 'must be an integer 1..100');
  const graceMs = o.graceMs ?? Math.round(10_000 / (Number.isFinite(speed) && speed > 0 ? speed : 1));
  if (!isInt(graceMs, 0, 3_600_000)) bad('graceMs', 'must be an integer 0..3600000');
  if (issues.length > 0) throw new ValidationError(issues);
  const userLog = o.log;
  // A logger that throws must not fail the job that logged.
  const log = (line: string) => {
    try {
      userLog?.(line);
    } catch {
      /* ignored */
    }
  };
  return { seed, speed, log, burstMin, burstMax, burstEveryMs, maxUploads, ...counts, graceMs };
}

/** A simulated duration (ms at speed 1) at the demo's speed; at least 1 ms. */
export function scaled(ms: number, speed: number): number {
  return Math.max(1, Math.round(ms / speed));
}
