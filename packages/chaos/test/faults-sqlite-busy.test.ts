/**
 * The SQLite busy holder really holds the write lock from another process: while it holds it a
 * second connection with busy_timeout 0 gets SQLITE_BUSY, and a Spindle backend with a short
 * busy timeout gets its typed BackendError; after the release both write again.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BackendError, type JobInsert, newJobId } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { startBusyHolder, type BusyHolder } from '../src/faults/sqlite-busy.js';
import { isAlive } from '../src/faults/nemesis.js';

const dirs: string[] = [];
const holders: BusyHolder[] = [];
const backends: SqliteBackend[] = [];
after(async () => {
  await Promise.all(holders.map((h) => h.stop()));
  await Promise.all(backends.map((b) => b.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function job(): JobInsert {
  return {
    id: newJobId(), queue: 'busy', name: 'work', payload: '{}', priority: 500, maxRetries: 3, delayMs: null, runAt: null,
    uniqueKey: null, timeoutMs: null, backoff: null, retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

describe('sqlite busy holder', () => {
  it('holds BEGIN EXCLUSIVE in another process: writers get SQLITE_BUSY until it releases', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-busy-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    const backend = new SqliteBackend({ path: file, busyTimeoutMs: 50 });
    backends.push(backend);
    await backend.migrate();

    const faults: string[] = [];
    const holder = await startBusyHolder(file, { recorder: { faultStarted: (a) => (faults.push(`start ${a.fault}`), () => faults.push(`heal ${a.fault}`)) } });
    holders.push(holder);
    assert.notEqual(holder.pid, process.pid);

    const other = new Database(file, { timeout: 0 });
    try {
      const hold = holder.lock(1500);
      await hold.locked;
      assert.throws(() => other.exec('BEGIN IMMEDIATE'), (e: { code?: string }) => e.code === 'SQLITE_BUSY');
      const refused = job();
      await assert.rejects(backend.insertJobs({ jobs: [refused] }), (e) => e instanceof BackendError && /busy/.test(e.message));
      assert.equal(await backend.getJob(refused.id), null, 'reads still work in WAL mode; nothing was written');
      const [lockedAt, releasedAt] = await Promise.all([hold.locked, hold.released]);
      assert.ok(releasedAt - lockedAt >= 1500, `held ${releasedAt - lockedAt} ms on the child's clock`);

      other.exec('BEGIN IMMEDIATE');
      other.exec('ROLLBACK');
      const [out] = await backend.insertJobs({ jobs: [job()] });
      assert.equal(out?.inserted, true);
      await holder.hold(50); // hold() resolves after the release, and holds can repeat
      assert.deepEqual(faults, ['start sqlite_busy', 'heal sqlite_busy', 'start sqlite_busy', 'heal sqlite_busy']);
    } finally {
      other.close();
    }

    await holder.stop();
    assert.equal(isAlive(holder.pid), false);
    await assert.rejects(holder.lock(10).locked, /exited/);
  });
});
