/**
 * Small pieces every backend implementation shares, kept here so that the SQLite and PostgreSQL
 * backends agree byte for byte: limits on stored history, event payload trimming, the opaque
 * list cursor, the SQL identifier rule, and the bounds of the rescue spread.
 */
import { ValidationError } from '../errors.js';

/** A job keeps at most this many attempt errors (the newest). */
export const MAX_ERRORS_KEPT = 100;

/** Attempt error stacks are cut to this many bytes. */
export const MAX_STACK_BYTES = 4096;

/** Event `data` is only attached when its JSON text is at most this long. */
export const MAX_EVENT_DATA_BYTES = 1024;

/** Failure reasons (the DLQ grouping key) are cut to this many characters. */
export const MAX_REASON_CHARS = 200;

/** Largest `RescueParams.spreadMs` (10 minutes): a spread is meant to be short next to a lease. */
export const MAX_RESCUE_SPREAD_MS = 600_000;

/** The spread of a rescue call (`RescueParams.spreadMs`, absent = 0); anything else is a ValidationError. */
export function rescueSpreadMs(spreadMs: number | undefined): number {
  if (spreadMs === undefined) return 0;
  if (typeof spreadMs !== 'number' || !Number.isInteger(spreadMs) || spreadMs < 0 || spreadMs > MAX_RESCUE_SPREAD_MS) {
    throw new ValidationError([{ path: 'spreadMs', message: `must be an integer from 0 to ${MAX_RESCUE_SPREAD_MS}` }]);
  }
  return spreadMs;
}

/** Queue, topic, group and schema names (DESIGN §8). */
export const IDENTIFIER_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** Parses stored JSON text for an event, or returns undefined when absent or too large. */
export function eventData(jsonText: string | null | undefined): unknown {
  if (jsonText == null || jsonText.length > MAX_EVENT_DATA_BYTES) return undefined;
  try {
    return JSON.parse(jsonText);
  } catch {
    return undefined;
  }
}

/** Parses JSON text that Spindle itself stored; null stays null. */
export function parseStoredJson(jsonText: string | null | undefined): unknown {
  return jsonText == null ? null : JSON.parse(jsonText);
}

/**
 * Encodes a list position (the job's insertion sequence number) as an opaque cursor.
 * Opaque so that backends may change what is inside without breaking callers.
 */
export function encodeCursor(seq: number | bigint | string): string {
  return Buffer.from(`s:${String(seq)}`, 'utf8').toString('base64url');
}

/** Decodes a cursor made by `encodeCursor`; anything else is a ValidationError. */
export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^s:(\d{1,19})$/.exec(text);
  if (!match) throw new ValidationError([{ path: 'cursor', message: 'is not a cursor returned by a previous page' }]);
  return match[1]!;
}

/** Escapes `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
