// The CLI against a SQLite file (`--db <path>`): migrate a fresh file, then every command
// (scenario.ts) with a `spindle serve --workers` process working on the same file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { serve, spindle, tempDir, WORKERS } from './helpers.js';
import { scenario } from './scenario.js';

scenario('spindle --db <sqlite file>', async () => {
  const tmp = tempDir();
  const db = join(tmp.dir, 'nested', 'spindle.db');
  const conn = ['--db', db];
  const dry = await spindle([...conn, 'migrate', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^no database at .*spindle migrate` would create it/);
  assert.ok(!existsSync(db), 'a dry run creates nothing');
  const migrated = await spindle([...conn, 'migrate']);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /^applied 0001_init, .* to sqlite:.*spindle\.db \(schema version \d+\)/);
  const served = await serve(conn, ['--workers', WORKERS]);
  return {
    kind: 'sqlite',
    conn,
    dir: tmp.dir,
    async cleanup() {
      assert.equal(await served.stop(), 0, served.output());
      tmp.cleanup();
    },
  };
});
