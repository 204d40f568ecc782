// Regression tests from the chaos scenario C3 (PostgreSQL restarted under load): maintenance
// must resume soon after the database does. The leader election and the leader's rescuer used
// the Loop's default backoff (doubling up to 30 s), so a few failed ticks during a brief outage
// kept maintenance — rescue of expired leases, promotion of due retries — off for up to 30 s
// after the database was back. Now a failing election / promoter / rescuer / schedule runner
// retries at least every RESUME_RETRY_CAP_MS (5 s), or at its own interval when longer.
// Timers are mocked: a 60 s outage runs in a few ms.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/backend/backend.js';
import { silentLogger } from '../src/logger.js';
import { LeaderElector } from '../src/services/leader-elector.js';
import type { Service } from '../src/services/loop.js';
import { createRescuer, DEFAULT_MAINTENANCE } from '../src/services/maintenance.js';

/** reliability.md §5.6: resumes ≤ 5 s after the database returns. */
const TARGET_MS = 5000;

const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Advances mocked time by `ms` in steps, letting the loops run between steps; returns when `until()` holds (or after `ms`). */
async function advance(ms: number, until: () => boolean = () => false, step = 50): Promise<number> {
  let elapsed = 0;
  while (elapsed < ms && !until()) {
    mock.timers.tick(step);
    elapsed += step;
    await turns();
  }
  return elapsed;
}

describe('maintenance resumes soon after a database outage', () => {
  it('the leader election retries at least every 5 s while the database is down: re-elected ≤ 5 s after it is back', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let down = false;
      let attempts = 0;
      const backend = {
        tryAcquireLeadership: async () => {
          attempts += 1;
          if (down) throw new Error('database down');
          return true;
        },
        releaseLeadership: async () => {},
      } as unknown as Backend;
      let running = false;
      const service: Service = { start: () => { running = true; }, stop: async () => { running = false; } };
      // Default TTL 15 s: the election runs every 5 s.
      const elector = new LeaderElector({ backend, holderId: 'h', ttlMs: 15_000, logger: silentLogger, services: [service] });
      elector.start();
      await turns();
      assert.equal(elector.isLeader, true);
      down = true;
      await advance(60_000); // a long outage: many failed elections, the leader demoted
      assert.equal(elector.isLeader, false);
      assert.equal(running, false);
      down = false;
      const back = await advance(60_000, () => elector.isLeader);
      assert.equal(elector.isLeader, true, 'elected again');
      assert.equal(running, true, 'its services started again');
      assert.ok(back <= TARGET_MS + 100, `re-elected ${back} ms after the database was back (the default backoff waited up to 30 s)`);
      assert.ok(attempts >= 12, `kept trying during the outage (${attempts} attempts in 60 s)`);
      await elector.stop();
    } finally {
      mock.timers.reset();
    }
  });

  it('the rescuer (interval shorter than 5 s) retries at least every 5 s while the database is down: sweeps ≤ 5 s after it is back', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let down = true;
      let sweeps = 0;
      const backend = {
        rescueExpiredLeases: async () => {
          if (down) throw new Error('database down');
          sweeps += 1;
          return { requeued: [], dead: [], cancelled: [] };
        },
      } as unknown as Backend;
      const hub = { addInternal: () => () => {} } as never;
      const rescuer = createRescuer({ backend, logger: silentLogger, hub, intervals: { ...DEFAULT_MAINTENANCE, rescueIntervalMs: 500 }, retention: { completedMs: null, cancelledMs: null, deadMs: null } as never });
      rescuer.start();
      await advance(62_000);
      down = false;
      const back = await advance(60_000, () => sweeps > 0);
      assert.ok(sweeps > 0, 'swept again');
      assert.ok(back <= TARGET_MS + 100, `swept ${back} ms after the database was back (the default backoff waited up to 30 s)`);
      await rescuer.stop();
    } finally {
      mock.timers.reset();
    }
  });
});
