/**
 * A process of the schedule handover tests. A backend package's fixture builds its backend and
 * calls `runScheduleChild(backend)`: a Client with maintenance on (so it competes for leadership
 * and, while it leads, runs the schedule runner), reporting as JSON lines on stdout:
 *   {ev:'ready'}  {ev:'leader', value: true|false, at}  {ev:'error', msg}
 * Environment: SCHED_TTL_MS (leadership TTL), SCHED_ROGUE=1 (also run a schedule runner outside
 * leadership, as a stalled ex-leader would: every firing then races the others).
 * SIGTERM closes the client and exits 0.
 */
import { Client, ScheduleRunner, type Backend, type Logger } from '@spindle/core';

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const logger: Logger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    if (String(msg).includes('failed')) emit({ ev: 'error', msg, err: String((obj as { err?: unknown }).err) });
  },
  error(obj, msg) {
    emit({ ev: 'error', msg, err: String((obj as { err?: unknown }).err) });
  },
};

export async function runScheduleChild(backend: Backend): Promise<void> {
  const ttl = Number(process.env.SCHED_TTL_MS ?? 1500);
  const client = new Client({ backend, logger, telemetry: false, maintenance: { leaderTtlMs: ttl, promoteIntervalMs: 1000, rescueIntervalMs: 5000, pruneIntervalMs: 60_000 } });
  await client.start();
  const rogue = process.env.SCHED_ROGUE === '1' ? new ScheduleRunner({ backend, logger, intervalMs: 100 }) : null;
  rogue?.start();
  let leader = false;
  const watch = setInterval(() => {
    if (client.isLeader !== leader) {
      leader = client.isLeader;
      emit({ ev: 'leader', value: leader, at: Date.now() });
    }
  }, 20);
  emit({ ev: 'ready' });
  process.on('SIGTERM', () => {
    clearInterval(watch);
    void (async () => {
      await rogue?.stop();
      await client.close({ graceMs: 500 });
      process.exit(0);
    })();
  });
}
