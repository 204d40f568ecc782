// Runs the README's quick-start example as a user would and checks what it prints:
// one job completes, one is retried then completes, one lands in the DLQ.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('quick-start example shows a completion, a retry and a DLQ entry', () => {
  const db = join(tmpdir(), `spindle-quickstart-${process.pid}.db`);
  const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'examples/quickstart.ts'], {
    env: { ...process.env, SPINDLE_DB: db },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(out, /enqueued 3 jobs/);
  assert.equal((out.match(/retrying/g) ?? []).length, 2, out);
  assert.match(out, /moved to the dead-letter queue/);
  assert.match(out, /completed\s+attempts 1\/3/);
  assert.match(out, /completed\s+attempts 3\/3/);
  assert.match(out, /dead\s+attempts 1\/3/);
  assert.match(out, /videos: 1 × "PermanentError: cannot decode corrupt.mp4: bad header"/);
});
