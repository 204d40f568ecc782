/** Generated job ids (job/job-id.ts): UUIDv7, distinct, increasing within the process. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newJobId } from '../src/index.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newJobId', () => {
  it('returns distinct UUIDv7 strings that sort in the order they were made, across pool refills', () => {
    const ids = Array.from({ length: 5000 }, () => newJobId());
    for (const id of ids) assert.match(id, UUID_V7);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('carries the current time in its first 48 bits', () => {
    const before = Date.now();
    const id = newJobId();
    const msecs = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    // Within a burst the counter may carry into the timestamp by a millisecond or so.
    assert.ok(msecs >= before && msecs <= Date.now() + 5, `${msecs} not near ${before}`);
  });
});
