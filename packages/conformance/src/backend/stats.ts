/**
 * Per-minute throughput counters (stores.ts): recordStats adds counts to (queue, minute) rows in
 * one call (rows of one minute add up, also within a call; a minute is stored as its UTC start;
 * no minute = the minute of now), readStats returns the rows of [from's minute, to) by minute
 * then queue, optionally of one queue; pruneStores deletes rows older than `statsRetentionMs`.
 * Bad input is a ValidationError and writes nothing.
 */
import assert from 'node:assert/strict';
import { MINUTE_MS, minuteStart, type StatsRow } from '@spindle/core';
import type { Suite } from '../suite.js';

const ZERO = { enqueued: 0, completed: 0, retried: 0, dead: 0, cancelled: 0 };

function row(queue: string, minute: number, counts: Partial<typeof ZERO>): StatsRow {
  return { queue, minute: new Date(minute), ...ZERO, ...counts };
}

export function statsTests(suite: Suite): void {
  suite.group('throughput counters', () => {
    suite.test('adds counts to per-minute rows, also rows of one minute within one call', async ({ backend, t0 }) => {
      const m0 = minuteStart(t0.getTime());
      const m1 = m0 + MINUTE_MS;
      await backend.recordStats({
        rows: [
          { queue: 'emails', minute: new Date(m0 + 1_234), enqueued: 5, completed: 2 },
          { queue: 'emails', minute: new Date(m0 + 59_999), completed: 1, dead: 1 },
          { queue: 'emails', minute: new Date(m1), retried: 3, cancelled: 1 },
          { queue: 'billing', minute: new Date(m0), enqueued: 1 },
        ],
      });
      await backend.recordStats({ rows: [{ queue: 'emails', minute: new Date(m0), enqueued: 10, completed: 7, retried: 1 }] });
      const rows = await backend.readStats({ from: new Date(m0), to: new Date(m1 + MINUTE_MS) });
      assert.deepStrictEqual(rows, [
        row('billing', m0, { enqueued: 1 }),
        row('emails', m0, { enqueued: 15, completed: 10, retried: 1, dead: 1 }),
        row('emails', m1, { retried: 3, cancelled: 1 }),
      ]);
    });

    suite.test('a row without a minute counts for the minute of now', async ({ backend, at }) => {
      const now = at(90_000);
      await backend.recordStats({ rows: [{ queue: 'q', completed: 4 }, { queue: 'q', minute: now, completed: 1 }], now });
      const minute = minuteStart(now.getTime());
      assert.deepStrictEqual(await backend.readStats({ from: new Date(minute), to: new Date(minute + MINUTE_MS) }), [row('q', minute, { completed: 5 })]);
    });

    suite.test('reads the minutes from the one containing `from` up to `to` (exclusive), optionally of one queue', async ({ backend, t0 }) => {
      const m = minuteStart(t0.getTime());
      const rows = [0, 1, 2, 3].flatMap((i) => [
        { queue: 'a', minute: new Date(m + i * MINUTE_MS), enqueued: i + 1 },
        { queue: 'b', minute: new Date(m + i * MINUTE_MS), enqueued: 10 * (i + 1) },
      ]);
      await backend.recordStats({ rows });
      const from = new Date(m + MINUTE_MS + 30_000); // within minute 1
      const to = new Date(m + 3 * MINUTE_MS); // minute 3 excluded
      assert.deepStrictEqual(await backend.readStats({ from, to }), [
        row('a', m + MINUTE_MS, { enqueued: 2 }),
        row('b', m + MINUTE_MS, { enqueued: 20 }),
        row('a', m + 2 * MINUTE_MS, { enqueued: 3 }),
        row('b', m + 2 * MINUTE_MS, { enqueued: 30 }),
      ]);
      assert.deepStrictEqual(await backend.readStats({ queue: 'b', from, to }), [row('b', m + MINUTE_MS, { enqueued: 20 }), row('b', m + 2 * MINUTE_MS, { enqueued: 30 })]);
      assert.deepStrictEqual(await backend.readStats({ queue: 'nobody', from, to }), []);
    });

    suite.test('pruneStores deletes rows older than statsRetentionMs, at most limit per call', async ({ backend, t0 }) => {
      const m = minuteStart(t0.getTime());
      await backend.recordStats({
        rows: [0, 1, 2, 3, 4].map((i) => ({ queue: 'q', minute: new Date(m - i * MINUTE_MS), completed: 1 })),
      });
      const now = new Date(m + 30_000);
      // Cut-off: now - 2.5 minutes → minutes m-3 and m-4 start before it.
      const prune = { workerExpiryMs: null, statsRetentionMs: 150_000, limit: 1, now };
      assert.deepStrictEqual(await backend.pruneStores(prune), { workers: 0, idempotencyKeys: 0, stats: 1 });
      assert.deepStrictEqual(await backend.pruneStores({ ...prune, limit: 100 }), { workers: 0, idempotencyKeys: 0, stats: 1 });
      assert.equal((await backend.pruneStores({ ...prune, statsRetentionMs: null })).stats, 0, 'null keeps every row');
      const left = await backend.readStats({ from: new Date(m - 10 * MINUTE_MS), to: new Date(m + MINUTE_MS) });
      assert.deepStrictEqual(left.map((r) => r.minute.getTime()), [m - 2 * MINUTE_MS, m - MINUTE_MS, m]);
    });

    suite.test('rejects bad input with a ValidationError and writes nothing', async ({ backend, t0 }) => {
      const m = new Date(minuteStart(t0.getTime()));
      const ok = { queue: 'q', minute: m, completed: 1 };
      const bad: Array<[string, () => Promise<unknown>]> = [
        ['no rows', () => backend.recordStats({ rows: [] })],
        ['negative count', () => backend.recordStats({ rows: [ok, { ...ok, dead: -1 }] })],
        ['fractional count', () => backend.recordStats({ rows: [ok, { ...ok, enqueued: 0.5 }] })],
        ['bad queue', () => backend.recordStats({ rows: [ok, { ...ok, queue: 'a/b' }] })],
        ['bad minute', () => backend.recordStats({ rows: [ok, { ...ok, minute: new Date('nope') }] })],
        ['unknown counter', () => backend.recordStats({ rows: [ok, { ...ok, failed: 1 } as never] })],
        ['to not after from', () => backend.readStats({ from: m, to: m })],
        ['range over 31 days', () => backend.readStats({ from: m, to: new Date(m.getTime() + 32 * 24 * 3600 * 1000) })],
        ['from not a date', () => backend.readStats({ from: 'soon' as never, to: m })],
        ['bad read queue', () => backend.readStats({ queue: '', from: m, to: new Date(m.getTime() + MINUTE_MS) })],
        ['prune limit 0', () => backend.pruneStores({ workerExpiryMs: 1, statsRetentionMs: 1, limit: 0 })],
      ];
      for (const [what, call] of bad) {
        await assert.rejects(call, (err: unknown) => (err as Error).name === 'ValidationError', what);
      }
      assert.deepStrictEqual(await backend.readStats({ from: new Date(m.getTime() - MINUTE_MS), to: new Date(m.getTime() + MINUTE_MS) }), [], 'nothing was written');
    });
  });
}
