/**
 * Input checks for every public entry point. Each checker pushes `ValidationIssue`s naming the
 * offending field; callers throw one `ValidationError` with all of them before anything is
 * written (DESIGN §3.6).
 *
 * Invariant: a value that passes `serializeJson` round-trips through JSON.parse unchanged in
 * meaning — no `undefined`, functions, symbols, BigInt, NaN/Infinity, cycles or class instances
 * silently turned into something else.
 */
import { ValidationError, type ValidationIssue } from './errors.js';
import { IDENTIFIER_RE } from './backend/helpers.js';

/** Caller-chosen job ids: printable, URL-friendly, at most 255 characters. */
export const JOB_ID_RE = /^[A-Za-z0-9._:-]{1,255}$/;
export const MAX_UNIQUE_KEY_CHARS = 512;
export const MAX_JSON_DEPTH = 64;
/** Default cap on a payload's serialized size: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Longest accepted delay / backoff delay: 10 years. */
export const MAX_DELAY_MS = 10 * 365 * 24 * 3600 * 1000;
/** Longest accepted per-job timeout: the largest setTimeout delay Node honours (~24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
export const MAX_RETRIES_LIMIT = 1000;

/** Collects issues; `throwIfAny()` raises them together. */
export class Issues {
  readonly list: ValidationIssue[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new ValidationError(this.list);
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (typeof value === 'string') return value.length > 40 ? `a ${value.length}-character string` : JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

export function checkIdentifier(issues: Issues, path: string, value: unknown): value is string {
  if (typeof value !== 'string' || !IDENTIFIER_RE.test(value)) {
    issues.add(path, `must match ${IDENTIFIER_RE.source} (got ${describe(value)})`);
    return false;
  }
  return true;
}

export function checkJobId(issues: Issues, path: string, value: unknown): value is string {
  if (typeof value !== 'string' || !JOB_ID_RE.test(value)) {
    issues.add(path, `must be 1-255 characters of A-Z a-z 0-9 . _ : - (got ${describe(value)})`);
    return false;
  }
  return true;
}

/** An integer within [min, max]. */
export function checkInt(issues: Issues, path: string, value: unknown, min: number, max: number): value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    issues.add(path, `must be an integer from ${min} to ${max} (got ${describe(value)})`);
    return false;
  }
  return true;
}

/** A finite number within [min, max]. */
export function checkNumber(issues: Issues, path: string, value: unknown, min: number, max: number): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    issues.add(path, `must be a finite number from ${min} to ${max} (got ${describe(value)})`);
    return false;
  }
  return true;
}

export function checkDate(issues: Issues, path: string, value: unknown): Date | null {
  const date = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) {
    issues.add(path, `must be a valid Date or ISO 8601 string (got ${describe(value)})`);
    return null;
  }
  return date;
}

export function checkPlainObject(issues: Issues, path: string, value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    issues.add(path, `must be a plain object (got ${describe(value)})`);
    return false;
  }
  return true;
}

/** Reports keys of `obj` that are not in `allowed` (catches typos such as `attempts`). */
export function checkKnownKeys(issues: Issues, path: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key) && obj[key] !== undefined) issues.add(`${path}.${key}`, `is not a known option (known: ${allowed.join(', ')})`);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Finds the first non-JSON value inside `value` and describes where it is, or returns null. */
export function findNonJson(value: unknown, path: string, depth = 0, seen = new Set<object>()): string | null {
  if (depth > MAX_JSON_DEPTH) return `${path}: nests deeper than ${MAX_JSON_DEPTH} levels`;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path}: ${String(value)} is not a JSON number`;
    case 'object': {
      if (value === null) return null;
      if (seen.has(value)) return `${path}: contains a circular reference`;
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const found = findNonJson(value[i], `${path}[${i}]`, depth + 1, seen);
            if (found) return found;
          }
          return null;
        }
        if (!isPlainObject(value)) {
          const ctor = (value as object).constructor?.name ?? 'unknown';
          return `${path}: a ${ctor} instance is not plain JSON (convert it first, e.g. dates to ISO strings)`;
        }
        for (const [key, inner] of Object.entries(value)) {
          if (inner === undefined) return `${path}.${key}: undefined is not JSON`;
          const found = findNonJson(inner, `${path}.${key}`, depth + 1, seen);
          if (found) return found;
        }
        return null;
      } finally {
        seen.delete(value);
      }
    }
    default:
      return `${path}: ${typeof value} is not JSON`;
  }
}

/**
 * Serializes a JSON value for storage, or records why it cannot be stored.
 * `maxBytes` bounds the UTF-8 size of the serialized text.
 */
export function serializeJson(issues: Issues, path: string, value: unknown, maxBytes: number): string | null {
  if (value === undefined) {
    issues.add(path, 'is required (undefined is not JSON; use null for "nothing")');
    return null;
  }
  const problem = findNonJson(value, path);
  if (problem) {
    const [where, ...rest] = problem.split(': ');
    issues.add(where!, rest.join(': '));
    return null;
  }
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    issues.add(path, `is ${bytes} bytes of JSON, over the ${maxBytes}-byte limit`);
    return null;
  }
  return text;
}

/** Throws a single-issue ValidationError. */
export function invalid(path: string, message: string): never {
  throw new ValidationError([{ path, message }]);
}
