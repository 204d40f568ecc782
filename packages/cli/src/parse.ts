/**
 * Parsers of command-line values (numbers, names, ids, states, JSON payloads). They run while
 * commander parses, before any command touches a server or a database, and reject with
 * commander's InvalidArgumentError, which main.ts turns into exit code 2.
 *
 * Invariant: the accepted ranges are the library's (core validate.ts / job options), so a value
 * accepted here is not rejected later for its range.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { IDENTIFIER_RE, JOB_ID_RE, JOB_STATES, PRIORITY_LEVELS, type JobState } from '@spindle/core';
import { usageError } from './errors.js';

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** An integer within [min, max], written in plain decimal digits. */
export function intParser(min: number, max: number, what = 'an integer'): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be ${what} from ${min} to ${max}`);
    return n;
  };
}

export const parseLimit = intParser(1, 1000);
export const parseDelay = intParser(0, TEN_YEARS_MS, 'a number of milliseconds');
export const parseMaxRetries = intParser(0, 1000);
export const parsePort = intParser(0, 65_535, 'a port');

/** A non-negative decimal number within [min, max] (fractions allowed). */
export function numberParser(min: number, max: number, what = 'a number'): (value: string) => number {
  return (value) => {
    const n = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be ${what} from ${min} to ${max}`);
    return n;
  };
}

/** A number of seconds (fractions allowed), e.g. a refresh interval. */
export const secondsParser = (min: number, max: number) => numberParser(min, max, 'a number of seconds');

/** `critical|high|normal|low` or an integer 0..1000 (lower runs first). */
export function parsePriority(value: string): number | keyof typeof PRIORITY_LEVELS {
  if (Object.hasOwn(PRIORITY_LEVELS, value)) return value as keyof typeof PRIORITY_LEVELS;
  try {
    return intParser(0, 1000)(value);
  } catch {
    throw new InvalidArgumentError(`must be ${Object.keys(PRIORITY_LEVELS).join(', ')} or an integer from 0 to 1000`);
  }
}

export function checkName(what: string, value: string): string {
  if (!IDENTIFIER_RE.test(value)) throw usageError(`invalid ${what} ${JSON.stringify(value)}: use 1-128 characters of A-Z a-z 0-9 . _ -`);
  return value;
}

export function checkJobId(value: string): string {
  if (!JOB_ID_RE.test(value)) throw usageError(`invalid job id ${JSON.stringify(value)}: use 1-255 characters of A-Z a-z 0-9 . _ : -`);
  return value;
}

export function parseJobId(value: string): string {
  if (!JOB_ID_RE.test(value)) throw new InvalidArgumentError('must be 1-255 characters of A-Z a-z 0-9 . _ : -');
  return value;
}

/** `a,b,c` → distinct valid job ids (1..1000). */
export function parseIds(value: string): string[] {
  const ids = [...new Set(value.split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
  if (ids.length === 0 || ids.length > 1000) throw new InvalidArgumentError('must be 1 to 1000 comma-separated job ids');
  for (const id of ids) if (!JOB_ID_RE.test(id)) throw new InvalidArgumentError(`${JSON.stringify(id)} is not a valid job id`);
  return ids;
}

/** `queued,running` → states. */
export function parseStates(value: string): JobState[] {
  const states = [...new Set(value.split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
  for (const s of states) {
    if (!JOB_STATES.includes(s as JobState)) throw new InvalidArgumentError(`${JSON.stringify(s)} is not a state (${JOB_STATES.join(', ')})`);
  }
  if (states.length === 0) throw new InvalidArgumentError(`must name states (${JOB_STATES.join(', ')})`);
  return states as JobState[];
}

export function parseName(value: string): string {
  if (!IDENTIFIER_RE.test(value)) throw new InvalidArgumentError('must be 1-128 characters of A-Z a-z 0-9 . _ -');
  return value;
}

/** `--unique-while`: `queued`, `active`, or a period in milliseconds (held that long from the add). */
export function parseUniqueWhile(value: string): 'queued' | 'active' | { forMs: number } {
  if (value === 'queued' || value === 'active') return value;
  try {
    return { forMs: intParser(1, TEN_YEARS_MS)(value) };
  } catch {
    throw new InvalidArgumentError(`must be queued, active, or a number of milliseconds from 1 to ${TEN_YEARS_MS}`);
  }
}

/** `--on-conflict`: keep or replace. */
export function parseOnConflict(value: string): 'keep' | 'replace' {
  if (value === 'keep' || value === 'replace') return value;
  throw new InvalidArgumentError('must be keep or replace');
}

/** `--unique <key>`: 1..512 characters (the library's limit). */
export function parseUniqueKey(value: string): string {
  if (value.length === 0 || value.length > 512) throw new InvalidArgumentError('must be 1 to 512 characters');
  return value;
}

/**
 * A payload from the positional argument or `--data`: inline JSON, `@file.json`, or `@-`
 * (stdin). Throws a usage error naming where the JSON is broken.
 */
export function readPayload(positional: string | undefined, data: string | undefined): unknown {
  if (positional !== undefined && data !== undefined) throw usageError('give the payload either as an argument or with --data, not both');
  const source = data ?? positional;
  if (source === undefined) return null;
  let text = source;
  let origin = 'payload';
  if (source.startsWith('@')) {
    const path = source.slice(1);
    origin = path === '-' ? 'stdin' : path;
    try {
      text = readFileSync(path === '-' ? 0 : path, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw usageError(`cannot read ${origin}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${origin} is not valid JSON: ${(err as Error).message}`);
  }
}
