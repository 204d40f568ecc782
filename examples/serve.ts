/**
 * Spindle as a service on the embedded default: an SQLite file, the HTTP server (API, live push,
 * docs, metrics) and a small demo that keeps work flowing — a producer adding video jobs and a
 * worker transcoding them with progress, a few transient failures (retried) and a few corrupt
 * uploads (dead-lettered). `npm start` runs this; Ctrl-C stops it gracefully.
 *
 * Environment: SPINDLE_DB (default .tmp/spindle.db), PORT (default 7700; 0 picks one),
 * DEMO=0 (no demo producer/worker), DEMO_INTERVAL_MS (default 500), LOG_LEVEL (pino level of the
 * server log, default warn; info logs every request).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Client, consoleLogger, PermanentError } from '@spindle/core';
import { SpindleServer } from '@spindle/server';
import { SqliteBackend } from '@spindle/sqlite';

const path = process.env.SPINDLE_DB ?? '.tmp/spindle.db';
mkdirSync(dirname(path), { recursive: true });
const client = await Client.open({ backend: new SqliteBackend({ path }), logger: consoleLogger });
const server = new SpindleServer(client, { port: Number(process.env.PORT ?? 7700), logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
const base = await server.start();

console.log(`Spindle is running on SQLite (${path})
  API        ${base}/api/v1/queues
  API docs   ${base}/docs
  live       ${base}/api/v1/events   (SSE; WebSocket at ${base.replace('http', 'ws')}/api/v1/ws)
  metrics    ${base}/metrics
  enqueue    curl -X POST ${base}/api/v1/queues/videos/jobs -H 'content-type: application/json' -d '{"name":"transcode","payload":{"file":"cat.mp4"}}'`);

let timer: NodeJS.Timeout | null = null;
const demo = process.env.DEMO !== '0';
if (demo) {
  const videos = client.queue<{ file: string }>('videos', { defaultJobOptions: { maxRetries: 3, backoff: { type: 'exponential', delayMs: 500, factor: 2 } } });
  videos.process(
    async (job) => {
      const { file } = job.payload;
      if (file.startsWith('corrupt')) throw new PermanentError(`cannot decode ${file}: bad header`);
      if (file.startsWith('flaky') && job.attempt < 2) throw new Error('storage timeout');
      for (const pct of [20, 40, 60, 80, 100]) {
        await new Promise((r) => setTimeout(r, 150));
        await job.progress(pct);
      }
      return { url: `https://cdn.example.com/${file.replace('.mp4', '')}/720p.mp4` };
    },
    { concurrency: 4 },
  );
  let n = 0;
  timer = setInterval(() => {
    n++;
    const file = n % 29 === 0 ? `corrupt-${n}.mp4` : n % 7 === 0 ? `flaky-${n}.mp4` : `video-${n}.mp4`;
    videos.add('transcode', { file }).catch((err: unknown) => console.error('demo enqueue failed', err));
  }, Number(process.env.DEMO_INTERVAL_MS ?? 500));
  console.log('  demo       a producer adds a "videos" job every 500 ms; a worker runs them (DEMO=0 turns this off)');
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  if (timer) clearInterval(timer);
  await server.stop();
  await client.close({ graceMs: 5000 });
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
