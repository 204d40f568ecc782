// Runs the topics example (examples/orders-fanout.ts) as a user would and checks what it prints:
// fan-out to three groups, an idempotent re-publish, a poison message in the payment DLQ topic,
// zero lag, and a replay of the payment group.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('the orders example fans one event out to three groups and replays one of them', () => {
  const db = join(tmpdir(), `spindle-orders-example-${process.pid}.db`);
  const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'examples/orders-fanout.ts'], {
    env: { ...process.env, SPINDLE_DB: db },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(out, /published 4 orders/);
  assert.match(out, /publishing o-1 again: duplicate=true/);
  const handled = (group: string) => new RegExp(`${group}\\s+handled (.*)`).exec(out)![1]!.split(', ').sort();
  assert.deepEqual(handled('payment'), ['o-1', 'o-2', 'o-4']);
  assert.deepEqual(handled('inventory'), ['o-1', 'o-2', 'o-3', 'o-4']);
  assert.deepEqual(handled('notification'), ['o-1', 'o-2', 'o-3', 'o-4']);
  // ada's orders keep their order in every group.
  for (const group of ['inventory', 'notification']) {
    const line = new RegExp(`${group}\\s+handled (.*)`).exec(out)![1]!.split(', ');
    const ada = line.filter((id) => ['o-1', 'o-3', 'o-4'].includes(id));
    assert.deepEqual(ada, ['o-1', 'o-3', 'o-4'], `${group}: ${line}`);
  }
  assert.match(out, /payment DLQ: o-3 \(Error: cannot charge -5\)/);
  assert.equal((out.match(/lag 0/g) ?? []).length, 3, out);
  assert.match(out, /payment replay handled o-1, o-2, o-3, o-4/);
});
