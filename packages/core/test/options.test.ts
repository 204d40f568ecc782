import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildJobInsert, mergeOptions } from '../src/job/options.js';
import { Issues, serializeJson } from '../src/validate.js';

const ctx = { queue: 'emails', maxPayloadBytes: 1024 * 1024, customBackoff: false };

function build(name: unknown, payload: unknown, opts?: unknown) {
  const issues = new Issues();
  const insert = buildJobInsert(issues, '', ctx, name, payload, opts);
  return { insert, issues: issues.list };
}

describe('job options', () => {
  it('fills the defaults: priority normal, 3 retries, a time-ordered id', () => {
    const { insert } = build('send', { to: 'a' });
    assert.ok(insert);
    assert.equal(insert.priority, 500);
    assert.equal(insert.maxRetries, 3);
    assert.match(insert.id, /^[0-9a-f-]{36}$/);
    assert.equal(insert.payload, '{"to":"a"}');
    assert.deepEqual(insert.retention, { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null });
  });

  it('maps named priorities and BullMQ-style retention options', () => {
    assert.equal(build('n', 1, { priority: 'critical' }).insert?.priority, 0);
    assert.equal(build('n', 1, { priority: 'low' }).insert?.priority, 750);
    assert.equal(build('n', 1, { priority: 42 }).insert?.priority, 42);
    assert.deepEqual(build('n', 1, { removeOnComplete: true }).insert?.retention.completedKeepMs, 0);
    assert.deepEqual(build('n', 1, { removeOnComplete: false }).insert?.retention.completedKeepMs, -1);
    const counted = build('n', 1, { removeOnComplete: 100, removeOnFail: { ageMs: 5000 } }).insert!.retention;
    assert.deepEqual(counted, { completedKeepMs: -1, completedKeepCount: 100, deadKeepMs: 5000, deadKeepCount: null });
  });

  it('rejects bad input naming each field, and builds nothing', () => {
    const cases: Array<[unknown, unknown, unknown, string]> = [
      ['bad name!', 1, undefined, 'name'],
      ['n', undefined, undefined, 'payload'],
      ['n', { f: () => 1 }, undefined, 'payload.f'],
      ['n', { x: NaN }, undefined, 'payload.x'],
      ['n', { d: new Date() }, undefined, 'payload.d'],
      ['n', 1, { maxRetries: -1 }, 'opts.maxRetries'],
      ['n', 1, { maxRetries: 1.5 }, 'opts.maxRetries'],
      ['n', 1, { delay: NaN }, 'opts.delay'],
      ['n', 1, { delay: -5 }, 'opts.delay'],
      ['n', 1, { priority: 'urgent' }, 'opts.priority'],
      ['n', 1, { priority: 1001 }, 'opts.priority'],
      ['n', 1, { runAt: 'not a date' }, 'opts.runAt'],
      ['n', 1, { delay: 5, runAt: new Date() }, 'opts'],
      ['n', 1, { id: 'has space' }, 'opts.id'],
      ['n', 1, { timeoutMs: 0 }, 'opts.timeoutMs'],
      ['n', 1, { attempts: 3 }, 'opts.attempts'],
      ['n', 1, { uniqueKey: '' }, 'opts.uniqueKey'],
      ['n', 1, 'opts-as-string', 'opts'],
    ];
    for (const [name, payload, opts, path] of cases) {
      const { insert, issues } = build(name, payload, opts);
      assert.equal(insert, null, `${path} should fail`);
      assert.ok(issues.some((i) => i.path === path), `expected an issue at ${path}, got ${JSON.stringify(issues)}`);
    }
  });

  it('detects circular payloads and excessive nesting', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.ok(build('n', cyclic).issues.some((i) => /circular/.test(i.message)));
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    assert.ok(build('n', deep).issues.some((i) => /deeper/.test(i.message)));
  });

  it('enforces the payload size limit in bytes of UTF-8 JSON', () => {
    const issues = new Issues();
    assert.equal(serializeJson(issues, 'payload', 'é'.repeat(600), 1000), null);
    assert.match(issues.list[0]!.message, /over the 1000-byte limit/);
    assert.equal(serializeJson(new Issues(), 'payload', 'é'.repeat(400), 1000), JSON.stringify('é'.repeat(400)));
  });

  it('merges queue defaults under job options but never inherits id, uniqueKey or unique', () => {
    const merged = mergeOptions({ maxRetries: 5, priority: 'high', id: 'x', uniqueKey: 'k', unique: { key: 'u', while: 'queued' } }, { priority: 'low' });
    assert.deepEqual(merged, { maxRetries: 5, priority: 'low' });
  });

  it('translates unique: the defaults are uniqueKey exactly, other modes go to uniqueMode (ADR 0016)', () => {
    const plain = build('n', 1, { uniqueKey: 'k' }).insert!;
    assert.equal(plain.uniqueKey, 'k');
    assert.equal('uniqueMode' in plain, false);
    for (const unique of [{ key: 'k' }, { key: 'k', while: 'active' }, { key: 'k', onConflict: 'keep' }]) {
      const insert = build('n', 1, { unique }).insert!;
      assert.deepEqual([insert.uniqueKey, 'uniqueMode' in insert], ['k', false], JSON.stringify(unique));
    }
    const mode = (unique: unknown) => build('n', 1, { unique }).insert!.uniqueMode;
    assert.deepEqual(mode({ key: 'k', while: 'queued' }), { scope: 'queued', forMs: null, replace: false });
    assert.deepEqual(mode({ key: 'k', onConflict: 'replace' }), { scope: 'active', forMs: null, replace: true });
    assert.deepEqual(mode({ key: 'k', while: { forMs: 60_000 }, onConflict: 'replace' }), { scope: 'period', forMs: 60_000, replace: true });
  });

  it('rejects bad unique options naming each field', () => {
    const cases: Array<[unknown, string]> = [
      [{ uniqueKey: 'k', unique: { key: 'k' } }, 'opts.unique'],
      [{ unique: 'k' }, 'opts.unique'],
      [{ unique: null }, 'opts.unique'],
      [{ unique: {} }, 'opts.unique.key'],
      [{ unique: { key: '' } }, 'opts.unique.key'],
      [{ unique: { key: 'x'.repeat(513) } }, 'opts.unique.key'],
      [{ unique: { key: 7 } }, 'opts.unique.key'],
      [{ unique: { key: 'k', while: 'running' } }, 'opts.unique.while'],
      [{ unique: { key: 'k', while: { forMs: 0 } } }, 'opts.unique.while.forMs'],
      [{ unique: { key: 'k', while: { forMs: 1.5 } } }, 'opts.unique.while.forMs'],
      [{ unique: { key: 'k', while: { forMs: 11 * 365 * 24 * 3600 * 1000 } } }, 'opts.unique.while.forMs'],
      [{ unique: { key: 'k', while: { forMs: 5, ms: 5 } } }, 'opts.unique.while.ms'],
      [{ unique: { key: 'k', while: ['queued'] } }, 'opts.unique.while'],
      [{ unique: { key: 'k', onConflict: 'merge' } }, 'opts.unique.onConflict'],
      [{ unique: { key: 'k', ttl: 5 } }, 'opts.unique.ttl'],
    ];
    for (const [opts, path] of cases) {
      const { insert, issues } = build('n', 1, opts);
      assert.equal(insert, null, `${path} should fail for ${JSON.stringify(opts)}`);
      assert.ok(issues.some((i) => i.path === path), `expected an issue at ${path}, got ${JSON.stringify(issues)}`);
    }
  });
});
