/**
 * Screenshots of the dashboard's main views for the docs (docs/dashboard.md, README): runs the
 * `spindle demo` data set (packages/cli/src/demo: uploads, transcoding with progress, moderation,
 * emails, dead uploads in the DLQ) for a while on a fresh SQLite file, adds a topic with a lagging
 * consumer group and two schedules, serves it with the dashboard (open, loopback) and saves PNGs
 * of overview, queues, jobs, job detail, DLQ, topics, schedules, workers and alerts with
 * playwright-core driving Debian's Chromium.
 *
 * Usage: node --conditions=source --import tsx packages/dashboard/scripts/screenshots.ts [outDir] [seconds]
 * Default outDir: docs/screenshots; default 25 s of demo traffic (speed 4). Deterministic data
 * (seed 42); times and ids differ per run. So the throughput chart has a shape, the per-minute
 * counters of the hour before the demo started are filled with a synthetic daily-ish curve
 * (counters only: no jobs are made up).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, silentLogger } from '@spindle/core';
import { SpindleServer } from '@spindle/server';
import { SqliteBackend } from '@spindle/sqlite';
import { chromium } from 'playwright-core';
import { startDemo } from '../../cli/src/demo/index.js';

const outDir = resolve(process.argv[2] ?? 'docs/screenshots');
const seconds = Number(process.argv[3] ?? 25);
const CHROMIUM = process.env.SPINDLE_CHROMIUM ?? '/usr/bin/chromium';

const dir = mkdtempSync(join(tmpdir(), 'spindle-shots-'));
const client = new Client({ backend: new SqliteBackend({ path: join(dir, 'demo.db') }), logger: silentLogger, telemetry: { heartbeatMs: 1000, statsFlushMs: 1000 } });
await client.start();
const server = new SpindleServer(client, { port: 0, host: '127.0.0.1', logger: false, dlqAlertIntervalMs: 500 });
const base = await server.start();
const minute = 60_000;
const start = Math.floor(Date.now() / minute) * minute;
const history = [];
for (let m = 60; m >= 1; m--) {
  const wave = Math.round(60 + 40 * Math.sin(m / 9) + (m % 7) * 3);
  for (const [queue, share] of [['video.paid', 0.3], ['video.free', 0.4], ['video.transcode', 1.2], ['notifications', 0.5]] as const) {
    const completed = Math.round(wave * share);
    history.push({ queue, minute: new Date(start - m * minute), enqueued: completed + (m % 5), completed, retried: m % 11 === 0 ? 3 : m % 4 === 0 ? 1 : 0, dead: queue.startsWith('video.') && m % 13 === 0 ? 1 : 0 });
  }
}
await client.backend.recordStats({ rows: history });
const demo = await startDemo(client, { seed: 42, speed: 4 });

// Topics and schedules (the demo has neither): an event topic with one caught-up and one lagging group.
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}/api/v1${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
};
await api('POST', '/topics', { name: 'video.events', partitions: 3, retention: { maxAgeMs: 7 * 24 * 3_600_000 } });
const kinds = ['uploaded', 'transcoded', 'published', 'flagged'];
await api('POST', '/topics/video.events/messages', {
  messages: Array.from({ length: 240 }, (_, i) => ({ key: `video-${i % 37}`, value: { type: `video.${kinds[i % 4]}`, videoId: `video-${i % 37}`, at: new Date(Date.now() - (240 - i) * 5000).toISOString() }, headers: { source: 'demo' } })),
});
for (const [group, member, behind] of [
  ['search-indexer', 'indexer-7f3a', 0],
  ['analytics', 'analytics-01', 25],
] as const) {
  const join = await api('POST', `/topics/video.events/groups/${group}/members`, { memberId: member, sessionMs: 600_000 });
  const topic = await api('GET', '/topics/video.events');
  await api('POST', `/topics/video.events/groups/${group}/commits`, {
    memberId: member,
    generation: join.generation,
    offsets: topic.offsets.map((o: { partition: number; highWater: number }) => ({ partition: o.partition, offset: Math.max(0, o.highWater - behind * (o.partition + 1)) })),
  });
}
await client.schedules.upsert('nightly-report', { cron: '0 3 * * *', timezone: 'Europe/Paris', queue: 'email', jobName: 'send_email', payload: { template: 'nightly-report' } });
await client.schedules.upsert('cleanup-uploads', { everyMs: 15 * 60_000, queue: 'moderation', jobName: 'cleanup', payload: { olderThanDays: 30 } });
await client.schedules.runNow('nightly-report');

await new Promise((r) => setTimeout(r, seconds * 1000));

mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
const errors: string[] = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

async function shot(name: string, path: string, waitFor: string): Promise<void> {
  await page.goto(base + path);
  await page.waitForSelector(waitFor, { timeout: 10_000 });
  await page.waitForTimeout(600); // charts draw after load
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage: false });
  console.log(`saved ${name}.png (${path})`);
}

try {
  const dead = await client.listJobs({ filter: { states: ['dead'] }, limit: 1 });
  const running = await client.listJobs({ filter: { states: ['running'] }, limit: 20 });
  const withProgress = running.jobs.find((j) => j.progress !== null) ?? running.jobs[0];
  const deadQueue = dead.jobs[0]?.queue;
  await shot('overview', '/', '#overview-cards');
  await shot('queues', '/queues', '#queues-table');
  await shot('jobs', '/jobs?state=all', 'section.jobs');
  // A dead job: its page shows the timeline, the attempts with errors and stacks, and the actions.
  const detail = dead.jobs[0] ?? withProgress;
  if (detail) await shot('job-detail', `/jobs/${detail.id}`, '#job-live');
  if (deadQueue) await shot('dlq', `/dlq/${deadQueue}`, 'section');
  await shot('topics', '/topics/video.events', '#topic-groups');
  await shot('schedules', '/schedules', '#schedules-table');
  await shot('workers', '/workers', '#workers-table');
  await shot('alerts', '/alerts', '#alerts-body');
  if (errors.length) console.log(`console errors:\n${errors.join('\n')}`);
} finally {
  await browser.close();
  await demo.stop();
  await server.stop();
  await client.close({ graceMs: 500 });
  rmSync(dir, { recursive: true, force: true });
}
