/**
 * Test helper shared by this package's tests and the conformance suite: a migrated
 * SqliteBackend on a fresh temporary database file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBackend } from '../src/index.js';

export async function makeTestBackend(): Promise<{ backend: SqliteBackend; path: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'spindle-sqlite-'));
  const path = join(dir, 'spindle.db');
  const backend = new SqliteBackend({ path });
  await backend.migrate();
  return {
    backend,
    path,
    async cleanup() {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
