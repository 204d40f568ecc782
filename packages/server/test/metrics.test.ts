/**
 * `/metrics` on both backends: counters follow jobs through their lifecycle, gauges read the
 * database, durations land in histograms, and the text passes `promtool check metrics` (the
 * Debian `prometheus` package; required on CI, where .ci/run installs it) — elsewhere, when
 * promtool is missing, a strict line parser checks the exposition format instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { BACKENDS, call, waitFor, withServer } from './harness.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** Every line is a comment (# HELP / # TYPE), blank, or `name{label="v",…} value`. */
function strictParse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const metric = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*,?)?\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$/;
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = metric.exec(line);
    assert.ok(m, `not exposition format: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: /metrics`, () => {
    test('counters, gauges and histograms follow the jobs; the output is valid exposition format', () =>
      withServer(maker, async ({ app, client }) => {
        await call(app, 'POST', '/api/v1/queues/m/jobs/batch', { jobs: [{ name: 'ok' }, { name: 'ok' }, { name: 'bad' }] });
        await call(app, 'POST', '/api/v1/queues/m/jobs', { name: 'later', opts: { delay: 60_000 } });
        const worker = client.queue('m').process(
          async (job) => {
            if (job.name === 'bad') throw new Error('nope');
            await new Promise((r) => setTimeout(r, 20));
          },
          { concurrency: 2 },
        );
        await client.queue('m').counts();
        await waitFor(async () => (await client.counts({ queue: 'm' })).m?.completed === 2 && (await client.counts({ queue: 'm' })).m?.retrying === 1, 'two completed, one retrying');
        const live = await call(app, 'GET', '/metrics');
        assert.match(live.raw, /^spindle_worker_slots\{queue="m"\} 2$/m, 'the live worker and its concurrency');
        assert.match(live.raw, /^spindle_workers\{queue="m",kind="library"\} 1$/m);
        assert.match(live.raw, /^spindle_worker_busy_slots\{queue="m"\} \d+$/m);
        await worker.close();
        await call(app, 'POST', '/api/v1/queues/m2/jobs', { name: 'waiting' });
        await call(app, 'POST', '/api/v1/queues/m2/pause');
        await new Promise((r) => setTimeout(r, 300));

        const res = await call(app, 'GET', '/metrics');
        assert.equal(res.status, 200);
        assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
        const samples = strictParse(res.raw);
        assert.equal(samples.get('spindle_jobs_enqueued_total{queue="m"}'), 4);
        assert.equal(samples.get('spindle_jobs_completed_total{queue="m"}'), 2);
        assert.equal(samples.get('spindle_jobs_failed_total{queue="m",final="false"}'), 1);
        assert.equal(samples.get('spindle_queue_jobs{queue="m",state="scheduled"}'), 1);
        assert.equal(samples.get('spindle_queue_jobs{queue="m",state="completed"}'), 2);
        assert.equal(samples.get('spindle_job_process_duration_seconds_count{queue="m",status="completed"}'), 2);
        assert.ok((samples.get('spindle_job_process_duration_seconds_sum{queue="m",status="completed"}') ?? 0) >= 0.03);
        assert.equal(samples.get('spindle_job_wait_duration_seconds_count{queue="m"}'), 3);
        assert.ok(samples.has('process_cpu_user_seconds_total'));
        assert.equal(samples.get('spindle_queue_paused{queue="m2"}'), 1, 'database gauges are read in the same scrape');
        assert.ok((samples.get('spindle_queue_oldest_job_age_seconds{queue="m2"}') ?? -1) >= 0.2);
        assert.equal(samples.get('spindle_queue_jobs{queue="m2",state="queued"}'), 1);
        assert.doesNotMatch(res.raw, /job_id|jobId/, 'no job ids in labels');

        if (hasPromtool) {
          const check = spawnSync('promtool', ['check', 'metrics'], { input: res.raw, encoding: 'utf8' });
          assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
        } else {
          assert.ok(!process.env.CI, 'CI must have promtool (.ci/run installs the Debian prometheus package)');
        }
      }));

    test('topic gauges and totals: published (high water), retained start, committed (consumed), lag and members per group', () =>
      withServer(maker, async ({ app, client }) => {
        await client.topics.create('metered', { partitions: 2 });
        await client.topics.publishBatch('metered', [0, 1, 2, 3, 4].map((n) => ({ key: `k${n}`, value: { n } })));
        const consumer = client.topics.consumer('metered', 'billing', { start: 'earliest', pollMs: 20 });
        await consumer.run({ eachMessage: () => undefined });
        await waitFor(async () => (await client.topics.group('metered', 'billing'))!.offsets.every((o) => o.lag === 0), 'billing caught up');
        await new Promise((r) => setTimeout(r, 300));
        const { raw } = await call(app, 'GET', '/metrics');
        const samples = strictParse(raw);
        const sum = (name: string, labels: (p: number) => string) => [0, 1].reduce((t, p) => t + (samples.get(`${name}{${labels(p)}}`) ?? NaN), 0);
        assert.equal(sum('spindle_topic_high_water', (p) => `topic="metered",partition="${p}"`), 5);
        assert.equal(sum('spindle_topic_start_offset', (p) => `topic="metered",partition="${p}"`), 0);
        assert.equal(sum('spindle_topic_group_committed_offset', (p) => `topic="metered",group="billing",partition="${p}"`), 5);
        assert.equal(sum('spindle_topic_published_total', (p) => `topic="metered",partition="${p}"`), 5, 'published total = high water');
        assert.equal(sum('spindle_topic_group_consumed_total', (p) => `topic="metered",group="billing",partition="${p}"`), 5, 'consumed total = committed offset');
        for (const p of [0, 1]) {
          assert.equal(samples.get(`spindle_topic_published_total{topic="metered",partition="${p}"}`), samples.get(`spindle_topic_high_water{topic="metered",partition="${p}"}`));
        }
        assert.match(raw, /^# TYPE spindle_topic_published_total counter$/m);
        assert.match(raw, /^# HELP spindle_topic_published_total Messages ever published to the partition: its high water/m);
        assert.match(raw, /^# TYPE spindle_topic_group_consumed_total counter$/m);
        assert.match(raw, /^# HELP spindle_topic_group_consumed_total Messages the consumer group has consumed \(committed\)/m);
        if (hasPromtool) {
          const check = spawnSync('promtool', ['check', 'metrics'], { input: raw, encoding: 'utf8' });
          assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
        }
        assert.equal(sum('spindle_topic_group_lag', (p) => `topic="metered",group="billing",partition="${p}"`), 0);
        assert.equal(samples.get('spindle_topic_group_members{topic="metered",group="billing"}'), 1);
        await consumer.stop();
      }));
  });
}
