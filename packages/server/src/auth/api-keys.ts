/**
 * API keys: their format, generation, hashing, verification and scopes.
 *
 * A key reads `spk_<id>_<secret>`: `id` is 12 hex characters (the lookup handle, safe to log),
 * `secret` is 32 random bytes in base64url (256 bits). Only `sha256(secret)` is stored.
 *
 * Invariants:
 * - Secrets are compared in constant time (timingSafeEqual on equal-length digests).
 * - Several keys may be valid at once (rotation: add the new key, move clients, revoke the old).
 * - Scope matching is anchored: a queue pattern is an exact name, `*`, or `prefix*`; nothing
 *   else matches, so `emails` never grants `emails-archive` (reliability S10).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const ACTIONS = ['enqueue', 'read', 'read-payload', 'work', 'dlq', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** Named sets of actions, so a key can say `role: "read-only"`. */
export const ROLES: Record<string, readonly Action[]> = {
  admin: ACTIONS,
  'read-only': ['read', 'read-payload'],
  producer: ['enqueue', 'read'],
  worker: ['work', 'read', 'read-payload'],
};

export interface Scope {
  /** Queue names or patterns (`*`, `reports.*`). */
  queues: string[];
  actions: Action[];
}

/** A key as stored: never the secret itself. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** `sha256:<hex>` of the secret. */
  hash: string;
  scopes: Scope[];
  createdAt?: string;
  /** Revoked keys stay listed (for the audit trail) but authenticate nothing. */
  revokedAt?: string | null;
}

const KEY_RE = /^spk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const QUEUE_PATTERN_RE = /^(\*|[A-Za-z0-9._-]{1,128}\*?)$/;

/** A new key: the full secret string (show it once) and the record to store. */
export function generateApiKey(name: string, scopes: Scope[]): { key: string; record: ApiKeyRecord } {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { key: `spk_${id}_${secret}`, record: { id, name, hash: hashSecret(secret), scopes, createdAt: new Date().toISOString(), revokedAt: null } };
}

export function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** Splits a presented key into id and secret, or null when it is not shaped like one. */
export function parseApiKey(presented: string): { id: string; secret: string } | null {
  const m = KEY_RE.exec(presented);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

/** True when `secret` hashes to `record.hash`, in time independent of where they differ. */
export function secretMatches(record: ApiKeyRecord, secret: string): boolean {
  const expected = Buffer.from(record.hash, 'utf8');
  const actual = Buffer.from(hashSecret(secret), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export function queueMatches(pattern: string, queue: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return queue.startsWith(pattern.slice(0, -1));
  return pattern === queue;
}

export function isValidQueuePattern(pattern: unknown): pattern is string {
  return typeof pattern === 'string' && QUEUE_PATTERN_RE.test(pattern);
}

/** What a verified key may do. */
export class Grant {
  constructor(
    readonly keyId: string,
    private readonly scopes: readonly Scope[],
  ) {}

  /** May the key do `action` on `queue`? Without a queue: on at least one queue. */
  allows(action: Action, queue?: string): boolean {
    return this.scopes.some((s) => s.actions.includes(action) && (queue === undefined || s.queues.some((p) => queueMatches(p, queue))));
  }

  /** May the key do `action` on every queue (listings without a queue filter, metrics)? */
  allowsAllQueues(action: Action): boolean {
    return this.scopes.some((s) => s.actions.includes(action) && s.queues.includes('*'));
  }
}

/** The grant of an unauthenticated server (auth not configured, loopback only): everything. */
export const OPEN_GRANT = new Grant('open', [{ queues: ['*'], actions: [...ACTIONS] }]);
