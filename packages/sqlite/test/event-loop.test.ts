/**
 * A worker draining a backlog on SQLite (a synchronous driver: every step resolves as a
 * microtask) must still let the event loop turn: timers — lease heartbeats, an HTTP server's
 * sockets, IPC — run while it works, not only once its queue is empty.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, silentLogger } from '@spindle/core';
import { makeTestBackend } from './helpers.js';

test('timers fire while a worker drains a backlog larger than its claims', async () => {
  const { backend, cleanup } = await makeTestBackend();
  const client = new Client({ backend, logger: silentLogger, closeBackend: false });
  try {
    await client.start();
    const queue = client.queue('backlog');
    const total = 20_000;
    for (let i = 0; i < total; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, () => ({ name: 'noop', payload: null })));
    let handled = 0;
    let handledAtFirstTick: number | null = null;
    const tick = setInterval(() => {
      handledAtFirstTick ??= handled;
    }, 1);
    const done = new Promise<void>((resolve) => {
      queue.process(async () => {
        if (++handled === total) resolve();
      }, { concurrency: 50, prefetch: 450 });
    });
    await done;
    clearInterval(tick);
    assert.ok(handledAtFirstTick !== null && handledAtFirstTick < total / 2, `a timer ran early in the drain (first tick after ${handledAtFirstTick} of ${total} jobs)`);
  } finally {
    await client.close({ graceMs: 100 });
    await cleanup();
  }
});
