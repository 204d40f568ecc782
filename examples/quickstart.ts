/**
 * Quick start: Spindle on an embedded SQLite file. Three uploads are processed by a worker:
 * one succeeds, one fails twice on a flaky dependency and is retried with backoff, and one is
 * corrupt — a permanent error that lands in the dead-letter queue with its failure story.
 *
 * Run it: `npm start` (or `node --conditions=source --import tsx examples/quickstart.ts`).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { Client, PermanentError } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';

const path = process.env.SPINDLE_DB ?? '.tmp/quickstart.db';
mkdirSync('.tmp', { recursive: true });
for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });

const client = await Client.open({ backend: new SqliteBackend({ path }) });

// A typed queue. Every job gets 3 attempts (maxRetries: 2), 200 ms → 600 ms apart.
const videos = client.queue<{ file: string }>('videos', {
  defaultJobOptions: { maxRetries: 2, backoff: { type: 'exponential', delayMs: 200, factor: 3, jitter: 'none' } },
});

client.on('retrying', (e) => console.log(`↻ ${e.jobId.slice(-6)} attempt ${e.attempt} failed (${(e.data as { message?: string })?.message}); retrying`));
client.on('dead', (e) => console.log(`✗ ${e.jobId.slice(-6)} moved to the dead-letter queue`));
client.on('completed', (e) => console.log(`✓ ${e.jobId.slice(-6)} completed: ${JSON.stringify(e.data)}`));

const worker = videos.process(async (job) => {
  const { file } = job.payload;
  if (file.startsWith('corrupt')) throw new PermanentError(`cannot decode ${file}: bad header`);
  if (file.startsWith('flaky') && job.attempt < 3) throw new Error('storage timeout');
  for (const pct of [25, 50, 75, 100]) {
    await new Promise((r) => setTimeout(r, 20));
    await job.progress(pct);
  }
  return { url: `https://cdn.example.com/${file.replace('.mp4', '')}/720p.mp4` };
}, { concurrency: 3 });

const jobs = await videos.addBulk([
  { name: 'transcode', payload: { file: 'holiday.mp4' } },
  { name: 'transcode', payload: { file: 'flaky-upload.mp4' } },
  { name: 'transcode', payload: { file: 'corrupt.mp4' } },
]);
console.log(`enqueued ${jobs.length} jobs: ${jobs.map((j) => j.id.slice(-6)).join(', ')}`);

// Wait until every job reached a terminal state.
for (;;) {
  const states = await Promise.all(jobs.map(async (j) => (await client.getJob(j.id))?.state));
  if (states.every((s) => s === 'completed' || s === 'dead')) break;
  await new Promise((r) => setTimeout(r, 50));
}

console.log('\nstatus:');
for (const { id } of jobs) {
  const job = (await client.getJob(id))!;
  console.log(`  ${id.slice(-6)} ${job.state.padEnd(9)} attempts ${job.attempt}/${job.maxRetries + 1}  ${JSON.stringify(job.payload)}`);
}

console.log('\ndead-letter queue:');
for (const group of await client.dlq.groups()) {
  console.log(`  ${group.queue}: ${group.count} × "${group.reason}"`);
}
const { jobs: dead } = await client.dlq.list();
for (const job of dead) {
  console.log(`  job ${job.id.slice(-6)}: ${job.failureReason}; failed at ${job.lastFailedAt?.toISOString()}; ${job.errors.length} attempt error(s)`);
}

await worker.close();
await client.close();
