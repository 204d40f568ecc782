/**
 * Where the server finds API keys: records given in the options and/or a keys file (JSON,
 * `{ "keys": [ApiKeyRecord…] }`, written by `spindle keys` or by hand). The file is re-read when
 * it changes (checked at most once a second), so a revocation takes effect within a second or
 * two on every server reading that file, without a restart.
 *
 * Invariants:
 * - A malformed file or record is a startup error (ValidationError naming the field); after
 *   startup a malformed rewrite keeps the last good keys and logs, rather than locking everyone
 *   out or letting everyone in.
 * - `authenticate` never throws for bad input: it answers a Grant or null.
 * - A reload that changes keys is reported to `onChange` (ids only), for the audit log.
 */
import { readFileSync, statSync } from 'node:fs';
import { Issues, ValidationError } from '@spindle/core';
import type { KeyChange } from '../http/audit.js';
import { ACTIONS, Grant, isValidQueuePattern, parseApiKey, ROLES, secretMatches, type Action, type ApiKeyRecord, type Scope } from './api-keys.js';

export interface AuthOptions {
  /** Key records (hashes, not secrets). */
  keys?: Array<ApiKeyRecord | KeyRecordInput>;
  /** Path of a JSON keys file, re-read when it changes. */
  keysFile?: string;
}

/** A record as written by hand: a scope may name a `role` instead of listing actions. */
export interface KeyRecordInput extends Omit<ApiKeyRecord, 'scopes'> {
  scopes: Array<{ queues: string[]; actions?: Action[]; role?: string }>;
}

const RELOAD_CHECK_MS = 1000;

export class KeyStore {
  private fromOptions: ApiKeyRecord[];
  private fromFile: ApiKeyRecord[] = [];
  private byId = new Map<string, ApiKeyRecord>();
  private fileMtimeMs = -1;
  private lastCheck = 0;

  constructor(
    private readonly options: AuthOptions,
    private readonly onReloadError: (err: unknown) => void = () => {},
    /** Told what a reload of the keys file changed (for the audit log), when it changed keys. */
    private readonly onChange: (change: KeyChange) => void = () => {},
  ) {
    this.fromOptions = normalizeRecords(options.keys ?? [], 'auth.keys');
    if (options.keysFile !== undefined) this.loadFile(true);
    this.index();
  }

  /** The grant of a presented key (`Authorization: Bearer spk_…`), or null. */
  authenticate(presented: string): Grant | null {
    this.maybeReload();
    const parsed = parseApiKey(presented);
    if (!parsed) return null;
    const record = this.byId.get(parsed.id);
    if (!record || record.revokedAt || !secretMatches(record, parsed.secret)) return null;
    return new Grant(record.id, record.scopes);
  }

  /**
   * The name of a presented key and every action it holds on some queue, or null (used by the
   * dashboard's login, which shows the name and hides controls the key cannot use).
   */
  describe(presented: string): { name: string; actions: Action[] } | null {
    const grant = this.authenticate(presented);
    const record = grant ? this.byId.get(grant.keyId) : undefined;
    if (!record) return null;
    return { name: record.name, actions: [...new Set(record.scopes.flatMap((s) => s.actions))] };
  }

  get size(): number {
    return this.byId.size;
  }

  private maybeReload(): void {
    if (this.options.keysFile === undefined) return;
    const now = Date.now();
    if (now - this.lastCheck < RELOAD_CHECK_MS) return;
    this.lastCheck = now;
    try {
      if (statSync(this.options.keysFile).mtimeMs === this.fileMtimeMs) return;
      const before = this.fromFile;
      this.loadFile(false);
      this.index();
      const change = diffKeys(before, this.fromFile);
      if (change.added.length + change.revoked.length + change.removed.length + change.changed.length > 0) this.onChange(change);
    } catch (err) {
      this.onReloadError(err);
    }
  }

  private loadFile(strict: boolean): void {
    const path = this.options.keysFile!;
    try {
      const mtime = statSync(path).mtimeMs;
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      const keys = (parsed as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) throw new ValidationError([{ path: 'keysFile', message: 'must hold {"keys": [...]}' }]);
      this.fromFile = normalizeRecords(keys, 'keysFile.keys');
      this.fileMtimeMs = mtime;
    } catch (err) {
      if (strict) throw err instanceof ValidationError ? err : new ValidationError([{ path: 'keysFile', message: `cannot be read as JSON (${(err as Error).message})` }]);
      throw err;
    }
  }

  private index(): void {
    const byId = new Map<string, ApiKeyRecord>();
    for (const r of [...this.fromOptions, ...this.fromFile]) byId.set(r.id, r);
    this.byId = byId;
  }
}

/** Key ids added, newly revoked, removed, or with other changes (name, scopes, hash). */
export function diffKeys(before: ApiKeyRecord[], after: ApiKeyRecord[]): KeyChange {
  const old = new Map(before.map((r) => [r.id, r]));
  const change: KeyChange = { added: [], revoked: [], removed: [], changed: [] };
  for (const r of after) {
    const prev = old.get(r.id);
    old.delete(r.id);
    if (!prev) change.added.push(r.id);
    else if (!prev.revokedAt && r.revokedAt) change.revoked.push(r.id);
    else if (prev.hash !== r.hash || prev.name !== r.name || JSON.stringify(prev.scopes) !== JSON.stringify(r.scopes) || !!prev.revokedAt !== !!r.revokedAt) change.changed.push(r.id);
  }
  change.removed.push(...old.keys());
  return change;
}

/** Validates records and expands roles into actions. Throws ValidationError. */
export function normalizeRecords(input: unknown[], path: string): ApiKeyRecord[] {
  const issues = new Issues();
  const out: ApiKeyRecord[] = [];
  input.forEach((raw, i) => {
    const at = `${path}[${i}]`;
    const r = raw as Partial<KeyRecordInput> | null;
    if (!r || typeof r !== 'object') return issues.add(at, 'must be an object');
    if (typeof r.id !== 'string' || !/^[0-9a-f]{12}$/.test(r.id)) issues.add(`${at}.id`, 'must be 12 lowercase hex characters');
    if (typeof r.hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(r.hash)) issues.add(`${at}.hash`, 'must be sha256:<64 hex>');
    if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 200) issues.add(`${at}.name`, 'must be a string of 1..200 characters');
    const scopes: Scope[] = [];
    if (!Array.isArray(r.scopes) || r.scopes.length === 0) issues.add(`${at}.scopes`, 'must be a non-empty array');
    else
      r.scopes.forEach((s, j) => {
        const sp = `${at}.scopes[${j}]`;
        if (!Array.isArray(s?.queues) || s.queues.length === 0 || !s.queues.every(isValidQueuePattern)) issues.add(`${sp}.queues`, 'must be queue names or patterns (*, prefix*)');
        let actions: Action[] | undefined;
        if (s?.role !== undefined) {
          const role = ROLES[s.role];
          if (!role || !Object.hasOwn(ROLES, s.role)) issues.add(`${sp}.role`, `must be one of ${Object.keys(ROLES).join(', ')}`);
          else actions = [...role];
        }
        if (s?.actions !== undefined) {
          if (!Array.isArray(s.actions) || !s.actions.every((a) => (ACTIONS as readonly string[]).includes(a))) issues.add(`${sp}.actions`, `must be some of ${ACTIONS.join(', ')}`);
          else actions = [...new Set([...(actions ?? []), ...s.actions])];
        }
        if (!actions || actions.length === 0) issues.add(sp, 'needs actions or a role');
        else scopes.push({ queues: s.queues, actions });
      });
    if (issues.list.length === 0) {
      out.push({ id: r.id!, name: r.name!, hash: r.hash!, scopes, createdAt: r.createdAt ?? new Date(0).toISOString(), revokedAt: r.revokedAt ?? null });
    }
  });
  issues.throwIfAny();
  return out;
}
