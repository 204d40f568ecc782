/**
 * The array literals of array-literal.ts: the same text pg's own serialiser sends, and the same
 * arrays back from the server, for the awkward cases (quotes, backslashes, commas, braces, the
 * word NULL, empty strings, non-ASCII, nulls).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dateArray, numberArray, textArray } from '../src/array-literal.js';
import { TEST_PG_URL } from './helpers.js';

const require = createRequire(import.meta.url);
const pgUtils = require('pg/lib/utils') as { prepareValue(value: unknown): unknown };

const AWKWARD = ['plain', '', 'NULL', 'null', 'a,b', '{x}', 'say "hi"', 'back\\slash', '\\"', ' padded ', 'ünïcødé ✓', '{"json":[1,"two"]}', null];

describe('array literals', () => {
  let client: pg.Client;
  before(async () => {
    client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
  });
  after(async () => {
    await client.end();
  });

  it('builds exactly the text pg sends for text and number arrays', () => {
    assert.equal(textArray(AWKWARD), pgUtils.prepareValue(AWKWARD));
    const numbers = [0, 1, -7, 2.5, 1e21, null, 30_000];
    assert.equal(numberArray(numbers), pgUtils.prepareValue(numbers));
    assert.equal(textArray([]), pgUtils.prepareValue([]));
  });

  it('round-trips through the server as the same arrays', async () => {
    const { rows } = await client.query<{ t: Array<string | null>; i: Array<number | null>; f: Array<number | null>; d: Array<Date | null> }>(
      'SELECT $1::text[] AS t, $2::int[] AS i, $3::float8[] AS f, $4::timestamptz[] AS d',
      [textArray(AWKWARD), numberArray([1, null, -3]), numberArray([0.25, null, 1e-7]), dateArray([new Date(1_700_000_000_123), null])],
    );
    assert.deepEqual(rows[0]!.t, AWKWARD);
    assert.deepEqual(rows[0]!.i, [1, null, -3]);
    assert.deepEqual(rows[0]!.f, [0.25, null, 1e-7]);
    assert.deepEqual(rows[0]!.d, [new Date(1_700_000_000_123), null]);
  });
});
