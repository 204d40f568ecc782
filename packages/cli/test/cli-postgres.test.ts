// The CLI against PostgreSQL (`--db postgres://… --schema <random>`): migrate a fresh schema,
// then every command (scenario.ts) with a `spindle serve --workers` process on the same schema.
// PostgreSQL must be running (127.0.0.1:5432, or SPINDLE_PG_URL): these tests never skip.
import assert from 'node:assert/strict';
import { dropSchema, randomSchema } from '../../postgres/test/helpers.js';
import { PG_URL, serve, spindle, tempDir, WORKERS } from './helpers.js';
import { scenario } from './scenario.js';

scenario('spindle --db postgres://… --schema <s>', async () => {
  const tmp = tempDir();
  const schema = randomSchema();
  const conn = ['--db', PG_URL, '--schema', schema];
  try {
    const dry = await spindle([...conn, 'migrate', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`^migrations are pending: PostgreSQL schema "${schema}" is at version 0`));
    const migrated = await spindle([...conn, 'migrate']);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, new RegExp(`^applied 0001_init, .* to postgres://postgres@127\\.0\\.0\\.1:5432/test \\(schema ${schema}\\)`));
  } catch (err) {
    await dropSchema(schema, PG_URL);
    throw err;
  }
  const served = await serve(conn, ['--workers', WORKERS]);
  return {
    kind: 'postgres',
    conn,
    dir: tmp.dir,
    async cleanup() {
      const code = await served.stop();
      await dropSchema(schema, PG_URL);
      tmp.cleanup();
      assert.equal(code, 0, served.output());
    },
  };
});
