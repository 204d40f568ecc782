/** queue-data.ts: when a fragment built from shared (possibly older) counts schedules a catch-up refresh. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catchUpDelayMs, OVERVIEW_MAX_AGE_MS, tickTrigger } from '../src/queue-data.js';

describe('catchUpDelayMs', () => {
  const at = (ms: number) => new Date(ms).toISOString();
  it('asks for nothing when the counts were read after the request arrived', () => {
    assert.equal(catchUpDelayMs(at(10_000), 10_000), null);
    assert.equal(catchUpDelayMs(at(10_050), 10_000), null);
    assert.equal(catchUpDelayMs(undefined, 10_000), null);
  });
  it('refreshes once just past the expiry of a read that started before the request', () => {
    assert.equal(catchUpDelayMs(at(9_500), 10_000), OVERVIEW_MAX_AGE_MS - 500 + 100);
    assert.equal(catchUpDelayMs(at(10_000 - OVERVIEW_MAX_AGE_MS), 10_000), 100);
  });
  it('puts the catch-up beside the live tick in the trigger', () => {
    assert.equal(tickTrigger(null), 'live:tick from:body');
    assert.equal(tickTrigger(1600), 'live:tick from:body, load delay:1600ms');
  });
});
