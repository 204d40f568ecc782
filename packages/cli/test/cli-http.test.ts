// The CLI against a running server (`--url`): `spindle serve --workers` on a SQLite file, then
// every command (scenario.ts) over HTTP — SSE for `jobs tail`, operations for `dlq … --all`;
// and a server with API keys (`serve --keys-file`): no key or a wrong one exits 6.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { oneErrorLine, serve, spindle, tempDir, WORKERS } from './helpers.js';
import { scenario } from './scenario.js';

scenario('spindle --url <server>', async () => {
  const tmp = tempDir();
  const served = await serve(['--db', join(tmp.dir, 'served.db')], ['--workers', WORKERS]);
  return {
    kind: 'http',
    conn: ['--url', served.url],
    dir: tmp.dir,
    async cleanup() {
      assert.equal(await served.stop(), 0, served.output());
      tmp.cleanup();
    },
  };
});

it('--api-key / SPINDLE_API_KEY against a server with keys made by `spindle keys`; a refused or revoked key exits 6', async () => {
  const tmp = tempDir();
  const keysFile = join(tmp.dir, 'keys.json');
  const created = await spindle(['--json', 'keys', 'create', 'cli-test', '--keys-file', keysFile, '--actions', 'read,read-payload,enqueue,admin,dlq']);
  assert.equal(created.code, 0, created.stderr);
  const { key, record } = JSON.parse(created.stdout) as { key: string; record: { id: string } };
  assert.match(key, new RegExp(`^spk_${record.id}_`));
  assert.equal(statSync(keysFile).mode & 0o777, 0o600);
  const served = await serve(['--db', join(tmp.dir, 'auth.db')], ['--keys-file', keysFile]);
  try {
    const url = ['--url', served.url];
    const wrong = `${key.slice(0, -4)}AAAA`;
    const viaEnv = await spindle([...url, 'enqueue', 'emails', 'welcome'], { env: { SPINDLE_API_KEY: key } });
    const [none, bad, flagOverEnv] = await Promise.all([
      spindle([...url, 'queues', 'ls']),
      spindle([...url, '--api-key', wrong, 'queues', 'ls']),
      spindle([...url, '--api-key', key, '--json', 'queues', 'ls'], { env: { SPINDLE_API_KEY: wrong } }),
    ]);
    for (const r of [none, bad]) {
      assert.equal(r.code, 6, r.stderr);
      assert.match(oneErrorLine(r), /^spindle: Send a valid API key/);
    }
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(flagOverEnv.code, 0, flagOverEnv.stderr);
    assert.equal((JSON.parse(flagOverEnv.stdout) as { queues: unknown[] }).queues.length, 1);
    // Revoked in the file: the server re-reads it and refuses the key within a second or two.
    const revoked = await spindle(['keys', 'revoke', record.id, '--keys-file', keysFile]);
    assert.equal(revoked.code, 0, revoked.stderr);
    let after = await spindle([...url, '--api-key', key, 'queues', 'ls']);
    for (let i = 0; i < 20 && after.code === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await spindle([...url, '--api-key', key, 'queues', 'ls']);
    }
    assert.equal(after.code, 6, after.stderr);
  } finally {
    assert.equal(await served.stop(), 0, served.output());
    tmp.cleanup();
  }
});
