/**
 * The worker process of the crash tests. A backend package's fixture builds its backend and
 * calls `runCrashChild(backend)`; this runs a worker as the environment says and reports what
 * happens as JSON lines on stdout, which the parent test reads:
 *   {ev:'ready'} {ev:'started',id,attempt} {ev:'aborted',id,attempt,reason}
 *   {ev:'handler_done',id,attempt} {ev:'refused',id,outcome}
 * Environment: CRASH_QUEUE, CRASH_TAG (written into results), CRASH_MODE (`hang` | `quick` |
 * `sleep:<ms>` | `timed:<ms>`: sleeps and returns its start and end times), CRASH_CONCURRENCY,
 * CRASH_LEASE_MS, CRASH_HEARTBEAT_MS.
 */
import { Client, type Backend, type Logger } from '@spindle/core';

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const reportingLogger: Logger = {
  debug() {},
  info() {},
  warn(obj) {
    const o = obj as { jobId?: string; outcome?: string };
    if (o.outcome) emit({ ev: 'refused', id: o.jobId, outcome: o.outcome });
  },
  error(obj, msg) {
    emit({ ev: 'error', msg, err: String((obj as { err?: unknown }).err) });
  },
};

export async function runCrashChild(backend: Backend): Promise<void> {
  const env = process.env;
  const tag = env.CRASH_TAG ?? 'child';
  const mode = env.CRASH_MODE ?? 'quick';
  const leaseMs = Number(env.CRASH_LEASE_MS ?? 1000);
  const client = new Client({ backend, maintenance: false, logger: reportingLogger });
  await client.start();
  const queue = client.queue(env.CRASH_QUEUE ?? 'crash');
  queue.process(
    async (job) => {
      emit({ ev: 'started', id: job.id, attempt: job.attempt });
      job.signal.addEventListener('abort', () => emit({ ev: 'aborted', id: job.id, attempt: job.attempt, reason: String(job.signal.reason) }));
      if (mode === 'hang') await new Promise(() => {});
      if (mode.startsWith('sleep:')) await new Promise((r) => setTimeout(r, Number(mode.slice(6))));
      if (mode.startsWith('timed:')) {
        // The handler's own run, in this machine's clock (sub-millisecond): inside the job's
        // true running interval (after its claim committed, before its completion is written).
        const start = performance.timeOrigin + performance.now();
        await new Promise((r) => setTimeout(r, Number(mode.slice(6))));
        return { by: tag, attempt: job.attempt, start, end: performance.timeOrigin + performance.now() };
      }
      emit({ ev: 'handler_done', id: job.id, attempt: job.attempt });
      return { by: tag, attempt: job.attempt };
    },
    {
      concurrency: Number(env.CRASH_CONCURRENCY ?? 4),
      leaseMs,
      heartbeatMs: Number(env.CRASH_HEARTBEAT_MS ?? Math.floor(leaseMs / 3)),
      pollIntervalMs: 50,
    },
  );
  emit({ ev: 'ready' });
  process.on('SIGTERM', () => {
    void client.close({ graceMs: 1000 }).then(() => process.exit(0));
  });
}
