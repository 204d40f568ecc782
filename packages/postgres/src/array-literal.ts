/**
 * PostgreSQL array literals built here rather than by the driver. pg serialises a JS array one
 * element at a time (prepareValue, two regex replaces, string concatenation); on the worker's hot
 * path that was ~15 % of all the bytes a PostgreSQL worker allocated per job, and the insert of a
 * bulk enqueue sends 15 arrays. These build the same text with one string per element and a join.
 *
 * Invariant: each literal is exactly what pg's own `arrayString` sends for the same values (text
 * elements double-quoted with `\` and `"` escaped, null/undefined as NULL); the statement casts it
 * (`$n::text[]`, `$n::int[]`, …), so the server parses it as before.
 */

const NEEDS_ESCAPE = /[\\"]/;
const ESCAPABLE = /[\\"]/g;

function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? `"${text.replace(ESCAPABLE, '\\$&')}"` : `"${text}"`;
}

/** `{"a","b",NULL}`: an array of text (or JSON text) values. */
export function textArray(values: ReadonlyArray<string | null | undefined>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    parts[i] = value == null ? 'NULL' : quote(value);
  }
  return `{${parts.join(',')}}`;
}

/** `{"1","2.5",NULL}`: an array of numbers, quoted as pg quotes them (any numeric array type). */
export function numberArray(values: ReadonlyArray<number | null | undefined>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    parts[i] = value == null ? 'NULL' : `"${value}"`;
  }
  return `{${parts.join(',')}}`;
}

/** An array of instants (`timestamptz[]`) as ISO-8601 UTC text. */
export function dateArray(values: ReadonlyArray<Date | null | undefined>): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    parts[i] = value == null ? 'NULL' : `"${value.toISOString()}"`;
  }
  return `{${parts.join(',')}}`;
}
