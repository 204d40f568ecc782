/**
 * Strict JSON request bodies. Every JSON body the server accepts passes through `parseJsonBody`,
 * which decides between a value and one typed problem before any handler runs.
 *
 * Invariants:
 * - Bytes must be valid UTF-8 (decoded with a fatal decoder): no silent U+FFFD replacement.
 * - The text must be one JSON value (JSON.parse) nested at most `MAX_JSON_DEPTH` levels.
 * - No object has the same key twice: otherwise an auth layer and a handler reading the same
 *   body could see different values (reliability H10).
 * - No string (key or value) holds U+0000 or a lone surrogate: PostgreSQL's jsonb rejects the
 *   first and both break round trips, so both backends refuse them here, the same way (H8).
 * - `__proto__` and `constructor` keys are plain data: JSON.parse creates own properties and
 *   nothing here assigns through them (H9).
 * - Path parameters and query values follow the same text rules (`checkText`, from app.ts).
 * The scan is one linear pass over the text, so its cost is bounded by the body limit.
 */
import { MAX_JSON_DEPTH } from '@spindle/core';
import { ApiProblem } from './problem.js';

const decoder = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Throws the same 400 `invalid_text` as a body would get when `value` (a path parameter or a
 * query string value, already decoded) holds U+0000 or a lone surrogate. SQLite's LIKE stops at
 * a NUL (so `q=%00` would match every job) and PostgreSQL refuses NUL in text: both backends
 * must never see one.
 */
export function checkText(value: unknown, where: string): void {
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (typeof v !== 'string') continue;
    if (v.includes('\u0000')) throw new ApiProblem(400, 'invalid_text', `${where} must not contain U+0000.`);
    if (LONE_SURROGATE.test(v)) throw new ApiProblem(400, 'invalid_text', `${where} must not contain lone UTF-16 surrogates.`);
  }
}

/** Parses a request body; throws `ApiProblem` (400) with a stable code when it is not acceptable. */
export function parseJsonBody(body: Buffer | string): unknown {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = decoder.decode(body);
    } catch {
      throw new ApiProblem(400, 'invalid_text', 'The body is not valid UTF-8.');
    }
  }
  if (text.trim() === '') throw new ApiProblem(400, 'invalid_json', 'The body is empty; send a JSON document.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiProblem(400, 'invalid_json', `The body is not valid JSON (${(err as Error).message}).`);
  }
  scanJsonText(text);
  return value;
}

/**
 * Checks depth, duplicate keys and forbidden characters of text already known to be valid JSON.
 * Exported for tests.
 */
export function scanJsonText(text: string): void {
  // One frame per open container: a Set of keys for objects (null for arrays), and whether the
  // next string in an object is a key.
  const keys: Array<Set<string> | null> = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const raw = text.slice(i + 1, end);
      const decoded = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
      if (decoded.includes('\u0000')) throw new ApiProblem(400, 'invalid_text', 'Strings must not contain U+0000.');
      if (LONE_SURROGATE.test(decoded)) throw new ApiProblem(400, 'invalid_text', 'Strings must not contain lone UTF-16 surrogates.');
      const frame = keys[keys.length - 1];
      if (expectKey && frame) {
        if (frame.has(decoded)) throw new ApiProblem(400, 'json_duplicate_key', `The key ${JSON.stringify(decoded.slice(0, 100))} appears twice in one object.`);
        frame.add(decoded);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (keys.length >= MAX_JSON_DEPTH) throw new ApiProblem(400, 'json_too_deep', `JSON nests deeper than ${MAX_JSON_DEPTH} levels.`);
      keys.push(c === 0x7b ? new Set() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = keys[keys.length - 1] != null;
    }
  }
}

/** Index of the closing quote of the string opening at `start` (the text is valid JSON). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    // Count the backslashes right before the quote: an odd number escapes it.
    let backslashes = 0;
    for (let j = q - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) return q;
    i = q + 1;
  }
}
