import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJitter, baseDelay, computeBackoff, DEFAULT_BACKOFF } from '../src/job/backoff.js';
import { checkBackoff } from '../src/job/backoff.js';
import { Issues } from '../src/validate.js';

describe('backoff', () => {
  it("gives the seed's 10 s → 30 s → 90 s with one option (factor 3, no jitter)", () => {
    const spec = { type: 'exponential', delayMs: 10_000, factor: 3, jitter: 'none' } as const;
    assert.deepEqual([1, 2, 3].map((a) => computeBackoff(spec, a)), [10_000, 30_000, 90_000]);
  });

  it('keeps the seed schedule within ±10 % under the default jitter', () => {
    const spec = { type: 'exponential', delayMs: 10_000, factor: 3 } as const;
    for (const [attempt, base] of [[1, 10_000], [2, 30_000], [3, 90_000]] as const) {
      for (const r of [0, 0.5, 0.999]) {
        const d = computeBackoff({ ...spec, jitter: 0.1 }, attempt, () => r);
        assert.ok(d >= base * 0.9 && d <= base * 1.1, `${d} within 10% of ${base}`);
      }
    }
  });

  it('caps exponential growth at maxDelayMs and never overflows', () => {
    const spec = { type: 'exponential', delayMs: 1000, factor: 2, maxDelayMs: 60_000 } as const;
    assert.equal(baseDelay(spec, 1), 1000);
    assert.equal(baseDelay(spec, 7), 60_000);
    assert.equal(baseDelay(spec, 5000), 60_000);
  });

  it('fixed backoff ignores the attempt number', () => {
    assert.equal(computeBackoff({ type: 'fixed', delayMs: 500 }, 9), 500);
  });

  it('applies full, equal and ratio jitter within their bounds', () => {
    assert.equal(applyJitter(1000, 'full', () => 0), 0);
    assert.equal(applyJitter(1000, 'full', () => 0.999), 999);
    assert.equal(applyJitter(1000, 'equal', () => 0), 500);
    assert.equal(applyJitter(1000, 0.5, () => 0), 500);
    assert.equal(applyJitter(1000, 0.5, () => 1), 1500);
    assert.equal(applyJitter(1000, 'none', () => 0.3), 1000);
  });

  it('uses the default (1 s doubling) when the job has no spec or a custom one without a function', () => {
    assert.deepEqual(DEFAULT_BACKOFF, { type: 'exponential', delayMs: 1000, factor: 2, maxDelayMs: 3_600_000, jitter: 0.1 });
    const d = computeBackoff(null, 3, () => 0.5);
    assert.equal(d, 4000);
    assert.equal(computeBackoff({ type: 'custom' }, 1, () => 0.5), 1000);
  });

  it('rejects malformed specs with the field named', () => {
    const cases: Array<[unknown, string]> = [
      [{ type: 'linear', delayMs: 1 }, 'backoff.type'],
      [{ type: 'fixed', delayMs: NaN }, 'backoff.delayMs'],
      [{ type: 'exponential', delayMs: 10, factor: 0.5 }, 'backoff.factor'],
      [{ type: 'exponential', delayMs: 10, jitter: 2 }, 'backoff.jitter'],
      [{ type: 'fixed', delayMs: 10, delay: 5 }, 'backoff.delay'],
      ['fast', 'backoff'],
    ];
    for (const [value, path] of cases) {
      const issues = new Issues();
      assert.equal(checkBackoff(issues, 'backoff', value), null);
      assert.ok(issues.list.some((i) => i.path === path), `${JSON.stringify(value)} → ${JSON.stringify(issues.list)}`);
    }
  });
});
