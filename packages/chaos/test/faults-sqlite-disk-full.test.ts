/**
 * The disk-full fault really fills the disk for Spindle's own SQLite connection: an insert that
 * needs new pages fails with a typed BackendError (cause SQLITE_FULL), a batch that fails writes
 * none of its jobs, reads go on; after the heal inserts work again and the file is intact.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BackendError, type JobInsert, newJobId } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { fillDisk } from '../src/faults/sqlite-disk-full.js';

const dirs: string[] = [];
const backends: SqliteBackend[] = [];
after(async () => {
  await Promise.all(backends.map((b) => b.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function job(payloadBytes = 10): JobInsert {
  return {
    id: newJobId(), queue: 'full', name: 'work', payload: JSON.stringify({ pad: 'x'.repeat(payloadBytes) }), priority: 500, maxRetries: 3,
    delayMs: null, runAt: null, uniqueKey: null, timeoutMs: null, backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

describe('sqlite disk full (max_page_count)', () => {
  it('fails writes that need space with a typed error, writes nothing partial, and recovers intact', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-full-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    const backend = new SqliteBackend({ path: file });
    backends.push(backend);
    await backend.migrate();
    const before = job();
    await backend.insertJobs({ jobs: [before] });

    const faults: string[] = [];
    const fault = await fillDisk(backend, { target: file, recorder: { faultStarted: (a) => (faults.push(`start ${a.fault}`), () => faults.push(`heal ${a.fault}`)) } });
    assert.ok(fault.limitPages < fault.previousLimit);
    assert.equal(backend.maxPageCount(), fault.limitPages);

    // A batch whose last job needs new pages (a 256 KiB payload): rejected as a whole.
    const batch = [job(), job(), job(256 * 1024)];
    const err = await backend.insertJobs({ jobs: batch }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof BackendError, `a typed error, got ${String(err)}`);
    assert.equal((err.cause as { code?: string }).code, 'SQLITE_FULL');
    for (const j of batch) assert.equal(await backend.getJob(j.id), null, 'no job of the failed batch was written');
    assert.equal((await backend.getJob(before.id))?.id, before.id, 'reads still work');

    await fault.heal();
    await fault.heal(); // idempotent
    assert.equal(backend.maxPageCount(), fault.previousLimit);
    const out = await backend.insertJobs({ jobs: batch });
    assert.deepEqual(out.map((o) => o.inserted), [true, true, true]);
    assert.deepEqual(faults, ['start disk_full', 'heal disk_full']);

    const check = new Database(file, { readonly: true });
    try {
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      check.close();
    }
  });

  it('headroomPages lets the database grow a little before it is full', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-full-'));
    dirs.push(dir);
    const backend = new SqliteBackend({ path: join(dir, 'db.sqlite') });
    backends.push(backend);
    await backend.migrate();
    const full = await fillDisk(backend);
    const roomy = await fillDisk(backend, { headroomPages: 500 });
    assert.equal(roomy.limitPages, full.limitPages + 500);
    await backend.insertJobs({ jobs: [job(64 * 1024)] }); // fits in the headroom
    await roomy.heal();
    await full.heal();
    assert.equal(backend.maxPageCount(), full.previousLimit);
    assert.throws(() => backend.maxPageCount(0), /positive integer/);
  });
});
