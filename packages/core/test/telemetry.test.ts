// Pure logic of a client's telemetry: the throughput recorder (per-queue, per-minute counting,
// one statement per flush, unwritten rows kept after a failure, minute rotation), the worker
// registry (one upsert for all workers, serialised removal), the store checks' normalisation,
// and the telemetry options.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, RecordStatsParams, UpsertWorkersParams } from '../src/backend/backend.js';
import { checkReadStats, checkRecordStats, checkUpsertWorkers, minuteStart } from '../src/backend/store-checks.js';
import { ValidationError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { StatsRecorder } from '../src/telemetry/stats-recorder.js';
import { checkTelemetry, DEFAULT_TELEMETRY, resolveTelemetry } from '../src/telemetry/telemetry.js';
import { WorkerRegistry } from '../src/telemetry/worker-registry.js';
import { Issues } from '../src/validate.js';

/** A backend with only the store writes, recording their params. */
function fakeBackend(failRecord = 0): { backend: Backend; recorded: RecordStatsParams[]; upserts: UpsertWorkersParams[]; removed: string[][] } {
  const recorded: RecordStatsParams[] = [];
  const upserts: UpsertWorkersParams[] = [];
  const removed: string[][] = [];
  let failures = failRecord;
  const backend = {
    async recordStats(p: RecordStatsParams) {
      if (failures > 0) {
        failures -= 1;
        throw new Error('database down');
      }
      recorded.push(p);
    },
    async upsertWorkers(p: UpsertWorkersParams) {
      await new Promise((r) => setTimeout(r, 5));
      upserts.push(p);
    },
    async removeWorkers(p: { ids: string[] }) {
      removed.push(p.ids);
      return p.ids.length;
    },
  } as unknown as Backend;
  return { backend, recorded, upserts, removed };
}

describe('StatsRecorder', () => {
  it('counts per queue and kind, and writes one statement per flush', async () => {
    const { backend, recorded } = fakeBackend();
    const rec = new StatsRecorder({ backend, flushMs: 60_000, logger: silentLogger });
    rec.countInserted(
      [{ queue: 'a' }, { queue: 'a' }, { queue: 'b' }, { queue: 'a' }] as never,
      [{ inserted: true }, { inserted: false }, { inserted: true }, { inserted: true }] as never,
    );
    // The worker counts the outcomes the backend accepted (a refused one is not counted at all).
    for (const kind of ['complete', 'retry', 'dead', 'cancel', 'snooze', 'release'] as const) rec.countFinalized('a', kind);
    await rec.flush();
    assert.equal(recorded.length, 1);
    const rows = recorded[0]!.rows.map(({ minute, ...counts }) => counts);
    assert.deepStrictEqual(rows, [
      { queue: 'a', enqueued: 2, completed: 1, retried: 1, dead: 1, cancelled: 1 },
      { queue: 'b', enqueued: 1, completed: 0, retried: 0, dead: 0, cancelled: 0 },
    ]);
    await rec.flush();
    assert.equal(recorded.length, 1, 'nothing counted: no statement');
  });

  it('keeps unwritten rows after a failed flush and writes them with the next one', async () => {
    const { backend, recorded } = fakeBackend(1);
    const rec = new StatsRecorder({ backend, flushMs: 60_000, logger: silentLogger });
    rec.add('q', 'completed', 3);
    await assert.rejects(rec.flush(), /database down/);
    rec.add('q', 'completed', 2);
    await rec.flush();
    const total = recorded.flatMap((r) => r.rows).reduce((sum, r) => sum + (r.completed ?? 0), 0);
    assert.equal(total, 5);
  });

  it('starts a new row when the minute changes', async () => {
    const { backend, recorded } = fakeBackend();
    const rec = new StatsRecorder({ backend, flushMs: 60_000, logger: silentLogger });
    const now = mock.method(Date, 'now', () => 1_000_000 * 60_000 + 59_000);
    try {
      rec.add('q', 'enqueued');
      now.mock.mockImplementation(() => 1_000_001 * 60_000 + 1_000);
      rec.add('q', 'enqueued');
      await rec.flush();
    } finally {
      now.mock.restore();
    }
    assert.deepStrictEqual(
      recorded[0]!.rows.map((r) => [r.minute!.getTime(), r.enqueued]),
      [[1_000_000 * 60_000, 1], [1_000_001 * 60_000, 1]],
    );
  });
});

describe('WorkerRegistry', () => {
  const w = (id: string, running = 0, queues = ['q']) => ({
    id, queues, strategy: 'strict', concurrency: 4,
    runningIn: (queue: string) => (queue === queues[0] ? running : 1),
  });

  it('heartbeats every worker in one statement and never lists a worker after its removal', async () => {
    const { backend, upserts, removed } = fakeBackend();
    const registry = new WorkerRegistry({ backend, heartbeatMs: 60_000, logger: silentLogger });
    const a = w('a', 2);
    const b = w('b', 9); // more running than concurrency is reported as full, never invalid
    registry.add(a);
    registry.add(b);
    registry.start();
    await registry.beatNow();
    assert.ok(upserts.length >= 1);
    assert.deepStrictEqual(upserts.at(-1)!.workers.map((x) => [x.id, x.busy, x.kind]), [['a', 2, 'library'], ['b', 4, 'library']]);
    const beat = registry.beatNow();
    const removal = registry.remove(a);
    await Promise.all([beat, removal]);
    await registry.beatNow();
    assert.deepStrictEqual(removed, [['a']]);
    assert.deepStrictEqual(upserts.at(-1)!.workers.map((x) => x.id), ['b']);
    await registry.stop();
    assert.deepStrictEqual(removed, [['a'], ['b']], 'stop removes the rest');
  });

  it('lists a multi-queue worker once per queue, with that queue\'s busy slots and its strategy', async () => {
    const { backend, upserts, removed } = fakeBackend();
    const registry = new WorkerRegistry({ backend, heartbeatMs: 60_000, logger: silentLogger });
    registry.add(w('m', 3, ['high', 'low']));
    registry.start();
    await registry.beatNow();
    assert.deepStrictEqual(upserts.at(-1)!.workers.map((x) => [x.id, x.queue, x.busy, x.meta]), [
      ['m@high', 'high', 3, JSON.stringify({ queues: ['high', 'low'], strategy: 'strict' })],
      ['m@low', 'low', 1, JSON.stringify({ queues: ['high', 'low'], strategy: 'strict' })],
    ]);
    await registry.stop();
    assert.deepStrictEqual(removed, [['m@high', 'm@low']]);
  });
});

describe('store checks', () => {
  it('normalise: minutes floored, absent pid/meta null', () => {
    const { rows } = checkRecordStats({ rows: [{ queue: 'q', minute: new Date(125_000), dead: 2 }] });
    assert.deepStrictEqual(rows, [{ queue: 'q', minute: 120_000, enqueued: 0, completed: 0, retried: 0, dead: 2, cancelled: 0 }]);
    assert.equal(minuteStart(-1), -60_000);
    const { from, to } = checkReadStats({ from: new Date(61_000), to: new Date(200_000) });
    assert.deepStrictEqual([from, to], [60_000, 200_000]);
    const { workers } = checkUpsertWorkers({ workers: [{ id: 'w', queue: 'q', host: 'h', concurrency: 1, busy: 0, kind: 'http' }] });
    assert.deepStrictEqual(workers, [{ id: 'w', queue: 'q', host: 'h', pid: null, concurrency: 1, busy: 0, kind: 'http', meta: null }]);
  });

  it('reject every bad field at once', () => {
    assert.throws(
      () => checkUpsertWorkers({ workers: [{ id: '', queue: 'q q', host: 'h', concurrency: 0, busy: 0, kind: 'x' as never }] }),
      (err: unknown) => err instanceof ValidationError && err.issues.length === 4,
    );
  });
});

describe('telemetry options', () => {
  it('defaults, false, and partial objects', () => {
    assert.deepStrictEqual(resolveTelemetry(undefined), DEFAULT_TELEMETRY);
    assert.equal(resolveTelemetry(false).enabled, false);
    assert.deepStrictEqual(resolveTelemetry({ heartbeatMs: 100, statsRetentionMs: null }), { ...DEFAULT_TELEMETRY, heartbeatMs: 100, statsRetentionMs: null });
    const issues = new Issues();
    checkTelemetry(issues, { heartbeatMs: 5, bogus: 1 });
    assert.deepStrictEqual(issues.list.map((i) => i.path).sort(), ['telemetry.bogus', 'telemetry.heartbeatMs']);
  });
});
