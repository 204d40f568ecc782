// `spindle jobs show` of flow jobs on a SQLite file: a parent lists its children (state, and how
// many are unfinished under which policy), a child names its parent; `--json` carries both.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, silentLogger } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { spindle, tempDir } from './helpers.js';

it('jobs show: a flow parent lists its children, a child names its parent', async () => {
  const tmp = tempDir();
  try {
    const db = join(tmp.dir, 'flows.db');
    const client = await Client.open({ backend: new SqliteBackend({ path: db }), logger: silentLogger, maintenance: false });
    const flow = await client.flow({
      queue: 'notifications',
      name: 'notify',
      payload: { videoId: 'v1' },
      opts: { id: 'notify-v1' },
      onChildFailure: 'continue',
      children: [
        { queue: 'video.transcode', name: 'transcode_720p', payload: {} },
        { queue: 'moderation', name: 'moderate', payload: {} },
      ],
    });
    await client.cancel(flow.children[1]!.id);
    await client.close();

    const parent = await spindle(['--db', db, 'jobs', 'show', 'notify-v1']);
    assert.equal(parent.code, 0, parent.stderr);
    assert.match(parent.stdout, /waiting/);
    assert.match(parent.stdout, /children\s+1 of 2 unfinished \(runs even if a child fails\)/);
    assert.match(parent.stdout, new RegExp(`${flow.children[0]!.id}\\s+video\\.transcode/transcode_720p\\s+queued`));
    assert.match(parent.stdout, new RegExp(`${flow.children[1]!.id}\\s+moderation/moderate\\s+cancelled`));

    const child = await spindle(['--db', db, 'jobs', 'show', flow.children[0]!.id]);
    assert.equal(child.code, 0, child.stderr);
    assert.match(child.stdout, /parent\s+notify-v1/);

    const json = JSON.parse((await spindle(['--db', db, '--json', 'jobs', 'show', 'notify-v1'])).stdout) as { pendingChildren: number; children: Array<{ id: string; status: string }> };
    assert.equal(json.pendingChildren, 1);
    assert.deepEqual(json.children.map((c) => c.status), ['queued', 'cancelled']);
  } finally {
    tmp.cleanup();
  }
});
