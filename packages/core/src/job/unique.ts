/**
 * Unique jobs as callers write them (`opts.unique`), their validation, and their translation
 * into the backend's `uniqueKey` + `uniqueMode` (docs/decisions/0016-unique-jobs.md).
 *
 *   { uniqueKey: 'k' }                                     held until the job finishes; skip duplicates
 *   { unique: { key: 'k' } }                               the same
 *   { unique: { key: 'k', while: 'queued' } }              held until the job starts
 *   { unique: { key: 'k', while: { forMs: 60_000 } } }     held for a minute from the insert
 *   { unique: { key: 'k', onConflict: 'replace' } }        a waiting holder takes the new payload and run time
 *
 * Invariants:
 * - `uniqueKey` and `unique` are exclusive; `unique.key` has `uniqueKey`'s limits.
 * - The defaults (`while: 'active'`, `onConflict: 'keep'`) translate to no `uniqueMode` at all,
 *   so `unique: { key }` is stored and enforced exactly as `uniqueKey` is.
 */
import type { UniqueMode } from '../backend/job-writes.js';
import type { UniqueWhile } from './types.js';
import { checkInt, checkKnownKeys, checkPlainObject, describe, type Issues, MAX_DELAY_MS, MAX_UNIQUE_KEY_CHARS } from '../validate.js';

/** `opts.unique`: a key, how long it is held, and what a duplicate does. */
export interface UniqueOptions {
  /** 1..512 characters; per queue. */
  key: string;
  /** How long the key is held: `'queued'`, `'active'` (default) or `{ forMs }`. */
  while?: UniqueWhile;
  /**
   * What adding a job whose key is held does: `'keep'` (default) adds nothing and answers the
   * holder; `'replace'` does the same, except that a holder still waiting (`scheduled` or
   * `queued`) first takes the new job's name, payload, priority and run time (a debounce).
   */
  onConflict?: 'keep' | 'replace';
}

export const UNIQUE_OPTION_KEYS = ['key', 'while', 'onConflict'] as const;

/** What `checkUnique` yields: the key and, when not the defaults, the mode. */
export interface CheckedUnique {
  key: string;
  mode: UniqueMode | null;
}

/** A unique key: a string of 1..MAX_UNIQUE_KEY_CHARS characters. */
export function checkUniqueKey(issues: Issues, path: string, value: unknown): value is string {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_UNIQUE_KEY_CHARS) return true;
  issues.add(path, `must be a string of 1..${MAX_UNIQUE_KEY_CHARS} characters (got ${describe(value)})`);
  return false;
}

/**
 * Validates `uniqueKey` / `unique` of one job's options (`path` ends with `opts`). Returns null
 * when neither is given or an issue was recorded.
 */
export function checkUnique(issues: Issues, path: string, uniqueKey: unknown, unique: unknown): CheckedUnique | null {
  if (uniqueKey !== undefined && unique !== undefined) {
    issues.add(`${path}.unique`, 'give either uniqueKey or unique, not both (uniqueKey is unique: { key } with the defaults)');
    return null;
  }
  if (uniqueKey !== undefined) return checkUniqueKey(issues, `${path}.uniqueKey`, uniqueKey) ? { key: uniqueKey, mode: null } : null;
  if (unique === undefined) return null;
  const at = `${path}.unique`;
  if (!checkPlainObject(issues, at, unique)) return null;
  const before = issues.list.length;
  checkKnownKeys(issues, at, unique, UNIQUE_OPTION_KEYS);
  checkUniqueKey(issues, `${at}.key`, unique.key);
  const scope = checkWhile(issues, `${at}.while`, unique.while);
  const onConflict = unique.onConflict ?? 'keep';
  if (onConflict !== 'keep' && onConflict !== 'replace') issues.add(`${at}.onConflict`, `must be 'keep' or 'replace' (got ${describe(onConflict)})`);
  if (issues.list.length > before || scope === null) return null;
  const key = unique.key as string;
  const replace = onConflict === 'replace';
  if (scope.scope === 'active' && !replace) return { key, mode: null };
  return { key, mode: { scope: scope.scope, forMs: scope.forMs, replace } };
}

function checkWhile(issues: Issues, path: string, value: unknown): Pick<UniqueMode, 'scope' | 'forMs'> | null {
  if (value === undefined || value === 'active') return { scope: 'active', forMs: null };
  if (value === 'queued') return { scope: 'queued', forMs: null };
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    checkKnownKeys(issues, path, o, ['forMs']);
    if (!checkInt(issues, `${path}.forMs`, o.forMs, 1, MAX_DELAY_MS)) return null;
    return { scope: 'period', forMs: o.forMs as number };
  }
  issues.add(path, `must be 'queued', 'active' or { forMs: <ms> } (got ${describe(value)})`);
  return null;
}

/** The `unique` of a stored job, from its key and stored scope (null scope: `active`). */
export function uniqueOf(key: string | null, scope: string | null, forMs: number | null): { key: string; while: UniqueWhile } | null {
  if (key === null) return null;
  if (scope === 'queued') return { key, while: 'queued' };
  if (scope === 'period') return { key, while: { forMs: forMs ?? 0 } };
  return { key, while: 'active' };
}
