/**
 * Idempotency keys (stores.ts): claimIdempotencyKey is an atomic insert-if-absent per
 * (scope, key): the first claim stores its request hash; later claims while it lives get the
 * stored hash back (`claimed: false`); a claim at or after `expiresAt` replaces it. Concurrent
 * claims of one key: exactly one wins and every other sees the winner's hash. pruneStores
 * deletes expired keys. Bad input is a ValidationError and writes nothing.
 */
import assert from 'node:assert/strict';
import type { Suite } from '../suite.js';

const HOUR = 3600 * 1000;

export function idempotencyTests(suite: Suite): void {
  suite.group('idempotency keys', () => {
    suite.test('the first claim stores the key; later claims get the stored request back', async ({ backend, at }) => {
      const first = await backend.claimIdempotencyKey({ scope: 'enqueue:emails', key: 'k-1', requestHash: 'sha256:aaa', ttlMs: 24 * HOUR, now: at(0) });
      assert.deepStrictEqual(first, { claimed: true, requestHash: 'sha256:aaa', createdAt: at(0), expiresAt: at(24 * HOUR) });
      const same = await backend.claimIdempotencyKey({ scope: 'enqueue:emails', key: 'k-1', requestHash: 'sha256:aaa', ttlMs: 24 * HOUR, now: at(1_000) });
      assert.deepStrictEqual(same, { claimed: false, requestHash: 'sha256:aaa', createdAt: at(0), expiresAt: at(24 * HOUR) });
      const other = await backend.claimIdempotencyKey({ scope: 'enqueue:emails', key: 'k-1', requestHash: 'sha256:bbb', ttlMs: HOUR, now: at(2_000) });
      assert.deepStrictEqual(other, { claimed: false, requestHash: 'sha256:aaa', createdAt: at(0), expiresAt: at(24 * HOUR) });
    });

    suite.test('keys are scoped: one key in two scopes is two keys', async ({ backend, at }) => {
      const a = await backend.claimIdempotencyKey({ scope: 'tenant-a', key: 'same', requestHash: 'h1', ttlMs: HOUR, now: at(0) });
      const b = await backend.claimIdempotencyKey({ scope: 'tenant-b', key: 'same', requestHash: 'h2', ttlMs: HOUR, now: at(0) });
      assert.equal(a.claimed, true);
      assert.equal(b.claimed, true);
      assert.equal(b.requestHash, 'h2');
    });

    suite.test('a key is claimed anew once it has expired', async ({ backend, at }) => {
      await backend.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'old', ttlMs: 10_000, now: at(0) });
      const live = await backend.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'new', ttlMs: 10_000, now: at(9_999) });
      assert.equal(live.claimed, false);
      assert.equal(live.requestHash, 'old');
      const renewed = await backend.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'new', ttlMs: 5_000, now: at(10_000) });
      assert.deepStrictEqual(renewed, { claimed: true, requestHash: 'new', createdAt: at(10_000), expiresAt: at(15_000) });
      const after = await backend.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'third', ttlMs: 5_000, now: at(11_000) });
      assert.deepStrictEqual(after, { claimed: false, requestHash: 'new', createdAt: at(10_000), expiresAt: at(15_000) });
    });

    suite.test('concurrent claims of one key: exactly one wins, the others see its request', async ({ backend, at }) => {
      const claims = await Promise.all(
        Array.from({ length: 12 }, (_, i) => backend.claimIdempotencyKey({ scope: 'race', key: 'k', requestHash: `h${i}`, ttlMs: HOUR, now: at(0) })),
      );
      const winners = claims.filter((c) => c.claimed);
      assert.equal(winners.length, 1);
      for (const c of claims) assert.equal(c.requestHash, winners[0]!.requestHash);
    });

    suite.test('pruneStores deletes expired keys only', async ({ backend, at }) => {
      await backend.claimIdempotencyKey({ scope: 's', key: 'short', requestHash: 'a', ttlMs: 1_000, now: at(0) });
      await backend.claimIdempotencyKey({ scope: 's', key: 'long', requestHash: 'b', ttlMs: HOUR, now: at(0) });
      const pruned = await backend.pruneStores({ workerExpiryMs: null, statsRetentionMs: null, limit: 100, now: at(1_000) });
      assert.deepStrictEqual(pruned, { workers: 0, idempotencyKeys: 1, stats: 0 });
      const long = await backend.claimIdempotencyKey({ scope: 's', key: 'long', requestHash: 'x', ttlMs: HOUR, now: at(2_000) });
      assert.deepStrictEqual([long.claimed, long.requestHash], [false, 'b']);
      assert.equal((await backend.pruneStores({ workerExpiryMs: null, statsRetentionMs: null, limit: 100, now: at(2_000) })).idempotencyKeys, 0);
    });

    suite.test('rejects bad input with a ValidationError and writes nothing', async ({ backend, at }) => {
      const ok = { scope: 's', key: 'k', requestHash: 'h', ttlMs: HOUR, now: at(0) };
      const bad: Array<[string, Record<string, unknown>]> = [
        ['empty key', { ...ok, key: '' }],
        ['key with a newline', { ...ok, key: 'a\nb' }],
        ['key too long', { ...ok, key: 'k'.repeat(256) }],
        ['empty scope', { ...ok, scope: '' }],
        ['hash with a space', { ...ok, requestHash: 'a b' }],
        ['ttl 0', { ...ok, ttlMs: 0 }],
        ['ttl not an integer', { ...ok, ttlMs: 1.5 }],
        ['ttl over a year', { ...ok, ttlMs: 366 * 24 * HOUR }],
        ['unknown field', { ...ok, body: '{}' }],
        ['bad now', { ...ok, now: 'yesterday' }],
      ];
      for (const [what, params] of bad) {
        await assert.rejects(
          () => backend.claimIdempotencyKey(params as never),
          (err: unknown) => (err as Error).name === 'ValidationError',
          what,
        );
      }
      const first = await backend.claimIdempotencyKey(ok);
      assert.equal(first.claimed, true, 'no rejected call stored the key');
    });
  });
}
