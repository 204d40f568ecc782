// The demo scenario end to end on a real SQLite file: a run with a fixed seed at 10x speed is
// stopped mid-burst (nothing left running), a second run on the same file (new client, as after
// a restart) resumes the leftovers and continues the upload numbering; then every upload's fate
// is checked against the seeded plan, through the client and through the HTTP API.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, silentLogger, type JobRecord, type JobState } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { SpindleServer } from '@spindle/server';
import { planUpload, QUEUES, renderDemoSummary, startDemo, type UploadPlan } from '../src/demo/index.js';
import { TranscoderPool } from '../src/demo/pool.js';

const SEED = 8;
const FIRST_RUN = 30;
const SECOND_RUN = 4;
const DEMO_QUEUES = Object.values(QUEUES);
const OPEN_STATES: JobState[] = ['queued', 'scheduled', 'running', 'retrying', 'waiting'];

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function allJobs(client: Client, queue: string): Promise<JobRecord[]> {
  const jobs: JobRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await client.listJobs({ filter: { queue }, limit: 1000, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

async function openCount(client: Client): Promise<number> {
  const counts = await client.counts();
  return DEMO_QUEUES.reduce((n, q) => n + OPEN_STATES.reduce((m, s) => m + (counts[q]?.[s] ?? 0), 0), 0);
}

it('demo: bursts, weighted transcoders, DLQ, email retries and notifications; stop leaves nothing running; a restart resumes', async () => {
  const plans = Array.from({ length: FIRST_RUN + SECOND_RUN }, (_, i) => planUpload(SEED, i + 1));
  const corrupt = plans.filter((p) => p.corrupt !== null);
  const good = plans.filter((p) => p.corrupt === null);
  // The seed was chosen for a story with every ingredient; the plan is pure, so check it first.
  assert.ok(corrupt.some((p) => p.tier === 'paid') && corrupt.some((p) => p.tier === 'free'), 'corrupt uploads in both tiers');
  assert.ok(good.some((p) => p.emailFailures >= 2), 'an email failing at least twice');
  assert.deepEqual(planUpload(SEED, 7), plans[6], 'plans are a pure function of (seed, upload number)');

  const dir = await mkdtemp(join(tmpdir(), 'spindle-demo-'));
  const path = join(dir, 'demo.db');
  try {
    // Run 1: stop as soon as the last burst is in, with no grace: in-flight jobs are released.
    const lines: string[] = [];
    const client1 = await Client.open({ backend: new SqliteBackend({ path }), logger: silentLogger });
    const demo1 = await startDemo(client1, { seed: SEED, speed: 10, maxUploads: FIRST_RUN, graceMs: 0, log: (l) => lines.push(l) });
    await waitFor('the first run to submit its uploads', () => demo1.summary().uploadsSubmitted === FIRST_RUN);
    await Promise.all([demo1.stop(), demo1.stop()]);
    await demo1.stop(); // idempotent
    const counts1 = await client1.counts();
    for (const q of DEMO_QUEUES) assert.equal(counts1[q]?.running ?? 0, 0, `nothing running in ${q} after stop()`);
    const left = (await client1.listJobs({ filter: { states: ['queued', 'scheduled', 'retrying', 'waiting'] }, limit: 1000 })).jobs.map((j) => j.id);
    assert.ok(left.length > 0, 'jobs were left waiting at stop');
    const s1 = demo1.summary();
    assert.equal(s1.stopped, true);
    assert.equal(s1.uploadsSubmitted, FIRST_RUN);
    assert.equal(s1.firstUpload, 1);
    assert.ok(lines.some((l) => l.startsWith('burst')), 'bursts are logged');
    assert.match(renderDemoSummary(s1), /video\.paid[\s\S]*video\.free[\s\S]*video\.transcode[\s\S]*moderation[\s\S]*notifications[\s\S]*DLQ/);
    await client1.close();

    // Run 2: a new client on the same file, with the HTTP server over it.
    const client2 = await Client.open({ backend: new SqliteBackend({ path }), logger: silentLogger });
    const server = new SpindleServer(client2, { port: 0 });
    const base = await server.start();
    try {
      const demo2 = await startDemo(client2, { seed: SEED, speed: 10, maxUploads: SECOND_RUN });
      await waitFor('the second run to finish every job', async () => demo2.summary().uploadsSubmitted === SECOND_RUN && (await openCount(client2)) === 0);
      await demo2.stop();
      const s2 = demo2.summary();
      assert.equal(s2.firstUpload, FIRST_RUN + 1, 'numbering continues after the restart');

      for (const id of left) {
        const job = await client2.getJob(id);
        assert.ok(job && ['completed', 'dead'].includes(job.state), `job ${id} left at stop was finished after the restart (${job?.state})`);
      }

      // Every upload met the fate the seed planned for it.
      const videos = [...(await allJobs(client2, QUEUES.paid)), ...(await allJobs(client2, QUEUES.free))];
      assert.deepEqual(videos.map((j) => (j.payload as UploadPlan).seq).sort((a, b) => a - b), plans.map((p) => p.seq));
      const videoOf = new Map(videos.map((j) => [j.id, j]));
      for (const job of videos) {
        const plan = job.payload as UploadPlan;
        assert.equal(job.queue, plan.tier === 'paid' ? QUEUES.paid : QUEUES.free);
        if (plan.corrupt) {
          assert.equal(job.state, 'dead', `${plan.file} is dead`);
          assert.match(job.failureReason ?? '', new RegExp(plan.corrupt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
          assert.equal(job.errors.length, 1);
          assert.equal(job.errors[0]!.kind, 'permanent');
        } else {
          assert.equal(job.state, 'completed', `${plan.file} is probed and its flow started`);
          assert.deepEqual(job.result, { notifyJobId: `notify.${job.id}` });
        }
      }
      const dlq = await client2.dlq.list({ filter: {}, limit: 100 });
      assert.deepEqual(dlq.jobs.map((j) => (j.payload as UploadPlan).seq).sort((a, b) => a - b), corrupt.map((p) => p.seq));

      const moderation = await allJobs(client2, QUEUES.moderation);
      assert.equal(moderation.length, good.length);
      assert.ok(moderation.every((j) => j.state === 'completed' && j.priority === 0 && videoOf.has(j.parentId!.replace(/^notify\./, ''))));

      // The flow of each good upload: notify (the parent) ran after its renditions, thumbnail and
      // moderation, and read their outcomes.
      const notifications = await allJobs(client2, QUEUES.notifications);
      assert.equal(notifications.length, good.length);
      for (const job of notifications) {
        const plan = videoOf.get(job.id.replace(/^notify\./, ''))!.payload as UploadPlan;
        assert.equal(job.state, 'completed', `notification to ${plan.email}`);
        assert.equal(job.pendingChildren, 0);
        const children = await client2.getChildren(job.id);
        const renditions = plan.tier === 'paid' ? ['720p', '1080p', '4k'] : ['720p', '1080p'];
        assert.deepEqual(children.map((c) => c.name), [...renditions.map((r) => `transcode_${r}`), 'thumbnail', 'moderate']);
        for (const child of children) {
          assert.equal(child.state, 'completed');
          assert.ok(child.finishedAt! <= job.startedAt!, `${child.name} of ${plan.file} finished before notify started`);
        }
        const last = children.find((c) => c.name === `transcode_${renditions.at(-1)}`)!;
        assert.deepEqual(last.progress, { pct: 100, stage: 'transcode', rendition: renditions.at(-1) });
        assert.deepEqual((job.result as { links: string[] }).links, [...renditions.map((r) => `https://cdn.example.com/v/${plan.seq}/${r}.mp4`), `https://cdn.example.com/v/${plan.seq}/thumb.jpg`]);
        assert.equal(job.attempt, plan.emailFailures + 1, `notify for ${plan.file}: one attempt per planned failure, then success`);
        assert.equal(job.errors.length, plan.emailFailures);
        assert.ok(job.errors.every((e) => e.kind === 'error' && /421/.test(e.message)));
      }
      assert.ok(notifications.some((j) => j.attempt >= 3), 'an email took several attempts');
      assert.ok(s2.notificationsSent > 0);

      // The same through the HTTP API.
      const queues = (await (await fetch(`${base}/api/v1/queues`)).json()) as { queues: Array<{ name: string; counts: Record<string, number>; dlqDepth: number }> };
      for (const q of DEMO_QUEUES) {
        const view = queues.queues.find((v) => v.name === q);
        assert.ok(view && view.counts.completed! > 0, `GET /queues: ${q} completed jobs`);
        assert.equal(view.counts.running, 0);
        assert.equal(view.dlqDepth, q === QUEUES.paid || q === QUEUES.free ? corrupt.filter((p) => (p.tier === 'paid' ? QUEUES.paid : QUEUES.free) === q).length : 0);
      }
      const depth = (await (await fetch(`${base}/api/v1/dlq`)).json()) as { queues: Array<{ queue: string; depth: number }> };
      assert.equal(depth.queues.reduce((n, d) => n + d.depth, 0), corrupt.length);
      const deadFree = (await (await fetch(`${base}/api/v1/dlq/${QUEUES.free}/jobs`)).json()) as { jobs: Array<{ failureReason: string }> };
      assert.ok(deadFree.jobs.length > 0 && deadFree.jobs.every((j) => /cannot decode /.test(j.failureReason)), JSON.stringify(deadFree).slice(0, 2000));
    } finally {
      await server.stop();
      await client2.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('demo transcoder pool: 3:1 paid first while both wait, work-conserving, aborted waiters leave', async () => {
  const pool = new TranscoderPool<'paid' | 'free'>(1, { paid: 3, free: 1 });
  const never = new AbortController().signal;
  const order: string[] = [];
  const hold = await pool.acquire('free', never);
  const waits = [...Array(8)].flatMap(() => (['paid', 'free'] as const).map((lane) => pool.acquire(lane, never).then((release) => ({ lane, release }))));
  const aborted = new AbortController();
  const gone = pool.acquire('free', aborted.signal);
  aborted.abort(new Error('shutdown'));
  await assert.rejects(gone, /shutdown/);
  assert.deepEqual(pool.stats().waiting, { paid: 8, free: 8 });
  // Each grant is released right away: the next goes to the lane whose turn it is.
  const granted = new Set<number>();
  hold();
  while (granted.size < waits.length) {
    const next = await Promise.race(waits.map((w, i) => (granted.has(i) ? new Promise<never>(() => undefined) : w.then((g) => ({ ...g, i })))));
    granted.add(next.i);
    order.push(next.lane);
    next.release();
  }
  assert.deepEqual(order.slice(0, 8), ['paid', 'paid', 'free', 'paid', 'paid', 'paid', 'free', 'paid']);
  assert.deepEqual(order.slice(-6), Array(6).fill('free'), 'once paid is empty, free gets every slot');
  pool.close();
  let late = false;
  void pool.acquire('paid', never).then(() => (late = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(late, false, 'nothing is granted after close()');
});
