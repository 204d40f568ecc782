/**
 * Browser tests of the topics, schedules, workers and alerts views (issue 8 point 6), on SQLite
 * and PostgreSQL, through test/helpers.ts (a real server, Debian's Chromium): the views load with
 * no console error; a topic's lag per group and partition shows the numbers the API computes after
 * publishing and committing (and follows a new commit live, and a seek); a schedule's "Run now"
 * enqueues a job; hostile text in schedule payloads, message keys/values/headers and member ids
 * renders as text and never executes (no dialog opens); the alerts view lists a configured rule
 * (a backlog rule) with its state per queue next to the built-in DLQ rule; a read-only key sees no control; the
 * seek action moves a group to an offset or a time and refuses bad input (inject).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { BACKEND_NAMES, injectPost, startDashboard, waitFor, type DashboardFixture } from './helpers.js';

const EVIL = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

for (const backend of BACKEND_NAMES) {
  describe(`topics, schedules, workers and alerts views in Chromium (${backend})`, { timeout: 120_000 }, () => {
    let fx: DashboardFixture;
    before(async () => {
      fx = await startDashboard({ backend, server: { alerts: { rules: [{ name: 'busy-backlog', kind: 'backlog', queue: 'busy', threshold: 100, forMs: 60_000 }] } } });
    });
    after(async () => {
      await fx?.close();
    });

    /** A JSON call to the API (the server runs open). */
    const api = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
      const res = await fx.app.inject({ method, url: `/api/v1${path}`, ...(body === undefined ? {} : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
      assert.ok(res.statusCode < 300, `${method} ${path} → ${res.statusCode} ${res.body}`);
      return JSON.parse(res.body);
    };

    const lagOf = async (page: Page, group: string, partition: number) => {
      const row = page.locator(`tr.lag-row[data-group="${group}"][data-partition="${partition}"]`);
      return { committed: Number(await row.getAttribute('data-committed')), highWater: Number(await row.getAttribute('data-high-water')), lag: Number(await row.getAttribute('data-lag')) };
    };

    it('every view loads with no console error', async () => {
      await api('POST', '/topics', { name: 'orders', partitions: 2 });
      await api('POST', '/topics/orders/messages', { messages: [{ key: 'a', value: { n: 1 } }, { key: 'b', value: { n: 2 } }] });
      await api('POST', '/topics/orders/groups/billing/members', { memberId: 'billing-1', sessionMs: 60_000 });
      await fx.client.schedules.upsert('nightly', { cron: '0 3 * * *', queue: 'reports', payload: { kind: 'daily' } });
      const release = gate();
      const worker = fx.client.queue('busy').process(async () => release.wait, { pollIntervalMs: 20, concurrency: 2 });
      const running = await fx.client.queue('busy').add('crunch', {});
      const failing = fx.client.queue('fragile').process(async () => {
        throw new Error('nope');
      }, { pollIntervalMs: 20 });
      const dead = await fx.client.queue('fragile').add('breaks', {}, { maxRetries: 0 });
      try {
        await waitFor(async () => (await fx.client.getJob(dead.id))?.state === 'dead', 'the dead job');
        await waitFor(async () => (await fx.client.getJob(running.id))?.state === 'running', 'the running job');
        const page = await fx.newPage();
        for (const [path, selector] of [
          ['/topics', 'tr[data-topic="orders"]'],
          ['/topics/orders', 'tr.lag-row[data-group="billing"][data-partition="1"]'],
          ['/topics/orders?partition=1&offset=0', '#peek[data-partition="1"]'],
          ['/schedules', 'tr[data-schedule="nightly"]'],
          ['/workers', `.current-jobs a[href="/jobs/${running.id}"]`],
          ['/alerts', 'tr[data-rule="dlq-not-empty"][data-queue="fragile"][data-state="firing"]'],
          ['/alerts', '.alert-event[data-type="alert.firing"][data-rule="dlq-not-empty"][data-queue="fragile"]'],
          ['/alerts', 'table.alert-rules tr[data-rule="busy-backlog"][data-source="config"][data-kind="backlog"]'],
          ['/alerts', 'table.alert-states tr[data-rule="busy-backlog"][data-queue="busy"][data-state="ok"]'],
        ] as const) {
          const res = await page.goto(fx.base + path);
          assert.ok(res && res.status() < 400, `${path} answered ${res?.status()}`);
          await page.waitForSelector(selector, { timeout: 15_000 });
        }
        await page.goto(`${fx.base}/workers`);
        const busyRow = page.locator('tr[data-worker]', { has: page.locator(`a[href="/jobs/${running.id}"]`) });
        assert.equal(await busyRow.getAttribute('data-busy'), '1');
        assert.equal(await busyRow.getAttribute('data-concurrency'), '2');
        await page.waitForTimeout(300);
        fx.assertClean();
        // An unknown topic is a 404 page (by inject: Chromium logs every 404 as a console error).
        const missing = await fx.app.inject({ method: 'GET', url: '/topics/no-such-topic' });
        assert.equal(missing.statusCode, 404);
        assert.match(missing.body, /No topic named/);
      } finally {
        release.open();
        await worker.close();
        await failing.close();
      }
    });

    it("a topic's lag shows the right numbers after publishing and committing, live, and after a seek", async () => {
      await api('POST', '/topics', { name: 'lagged', partitions: 2 });
      const published = await api('POST', '/topics/lagged/messages', { messages: Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: { i } })) });
      assert.equal(published.messages.length, 12);
      const join = await api('POST', '/topics/lagged/groups/audit/members', { memberId: 'audit-1', sessionMs: 60_000 });
      assert.deepEqual(join.partitions, [0, 1]);
      const topic = await api('GET', '/topics/lagged');
      const hw = (p: number) => topic.offsets.find((o: { partition: number }) => o.partition === p).highWater as number;
      assert.equal(hw(0) + hw(1), 12);
      const c0 = Math.min(2, hw(0));
      const commit = await api('POST', '/topics/lagged/groups/audit/commits', { memberId: 'audit-1', generation: join.generation, offsets: [{ partition: 0, offset: c0 }, { partition: 1, offset: hw(1) }] });
      assert.equal(commit.committed, true);

      const page = await fx.newPage();
      await page.goto(`${fx.base}/topics/lagged`);
      await page.waitForSelector('tr.lag-row[data-group="audit"]');
      assert.deepEqual(await lagOf(page, 'audit', 0), { committed: c0, highWater: hw(0), lag: hw(0) - c0 });
      assert.deepEqual(await lagOf(page, 'audit', 1), { committed: hw(1), highWater: hw(1), lag: 0 });
      assert.equal(await page.locator('.group[data-group="audit"]').getAttribute('data-lag'), String(hw(0) - c0));
      assert.match((await page.locator('.group[data-group="audit"] .members-table').innerText()) ?? '', /audit-1/);
      // The list shows the total lag too.
      const list = await fx.app.inject({ method: 'GET', url: '/topics' });
      assert.match(list.body, new RegExp(`<tr data-topic="lagged">[\\s\\S]*?${hw(0) - c0}</span>`));

      // A new commit appears without a reload (the groups section refreshes every 5 s).
      await api('POST', '/topics/lagged/groups/audit/commits', { memberId: 'audit-1', generation: join.generation, offsets: [{ partition: 0, offset: hw(0) }] });
      await page.waitForSelector(`tr.lag-row[data-group="audit"][data-partition="0"][data-lag="0"]`, { timeout: 8000 });
      assert.deepEqual(await lagOf(page, 'audit', 0), { committed: hw(0), highWater: hw(0), lag: 0 });

      // Seek to earliest through the form (confirmed): every partition is behind by its high water.
      await page.selectOption('.seek-form select[name="group"]', 'audit');
      await page.selectOption('.seek-form select[name="mode"]', 'earliest');
      await page.click('.seek-form button[type="submit"]');
      await page.waitForSelector('#topic-groups .notice.ok', { timeout: 15_000 });
      assert.ok(fx.dialogs.some((d) => d.startsWith('confirm: Move the committed offsets')), fx.dialogs.join('\n'));
      assert.deepEqual(await lagOf(page, 'audit', 0), { committed: 0, highWater: hw(0), lag: hw(0) });
      assert.deepEqual(await lagOf(page, 'audit', 1), { committed: 0, highWater: hw(1), lag: hw(1) });
      fx.assertClean();
    });

    it("a schedule's Run now enqueues a job; pause and delete change it", async () => {
      await fx.client.schedules.upsert('hourly', { everyMs: 3_600_000, queue: 'sched-q', payload: { report: 'hourly' } });
      const page = await fx.newPage();
      await page.goto(`${fx.base}/schedules`);
      const row = () => page.locator('tr[data-schedule="hourly"]');
      await row().waitFor();
      assert.equal((await fx.client.listJobs({ filter: { queue: 'sched-q' }, limit: 10 })).jobs.length, 0);
      await row().locator('button[data-action="run"]').click();
      const link = page.locator('#schedules-table a.run-job');
      await link.waitFor({ timeout: 15_000 });
      const jobId = (await link.innerText()).trim();
      const jobs = (await fx.client.listJobs({ filter: { queue: 'sched-q' }, limit: 10 })).jobs;
      assert.deepEqual(jobs.map((j) => j.id), [jobId]);
      assert.deepEqual(jobs[0]!.payload, { report: 'hourly' });
      assert.ok(fx.dialogs.some((d) => d.startsWith('confirm: Enqueue one hourly job into sched-q')), fx.dialogs.join('\n'));

      await row().locator('button[data-action="pause"]').click();
      await page.waitForSelector('tr[data-schedule="hourly"][data-paused="true"]', { timeout: 15_000 });
      assert.equal((await fx.client.schedules.get('hourly'))?.paused, true);
      await row().locator('button[data-action="delete"]').click();
      await page.waitForSelector('#schedules-table .notice.ok', { timeout: 15_000 });
      await waitFor(async () => (await row().count()) === 0, 'the row to go');
      assert.equal(await fx.client.schedules.get('hourly'), null);
      fx.assertClean();
    });

    it('renders hostile payloads, message keys, values, headers and member ids as text and never executes them', async () => {
      const dialogsBefore = fx.dialogs.length;
      // Names are validated by the API (letters, digits, . _ -): hostile names never get stored.
      const refused = await fx.app.inject({ method: 'PUT', url: `/api/v1/schedules/${encodeURIComponent(EVIL)}`, payload: JSON.stringify({ everyMs: 60_000, queue: 'q' }), headers: { 'content-type': 'application/json' } });
      assert.equal(refused.statusCode, 400);
      await fx.client.schedules.upsert('evil-schedule', { everyMs: 600_000, queue: 'xss-sched', payload: { html: EVIL, [EVIL]: EVIL } });
      await api('POST', '/topics', { name: 'xss-topic', partitions: 1 });
      await api('POST', '/topics/xss-topic/messages', { messages: [{ key: EVIL, value: { html: EVIL }, headers: { [EVIL]: EVIL } }, { value: EVIL }] });
      await api('POST', `/topics/xss-topic/groups/xss-group/members`, { memberId: EVIL, sessionMs: 60_000 });

      const page = await fx.newPage();
      await page.goto(`${fx.base}/schedules`);
      const sched = page.locator('tr[data-schedule="evil-schedule"]');
      await sched.waitFor();
      assert.ok(((await sched.innerText()) ?? '').includes('<script>alert(1)</script>'), 'the payload shows as text');
      await page.goto(`${fx.base}/topics/xss-topic?partition=0&offset=0`);
      await page.waitForSelector('#peek tr.message[data-offset="1"]');
      const peek = (await page.locator('#peek').innerText()) ?? '';
      assert.ok(peek.includes('<script>alert(1)</script>"><img'), 'key and value show as text');
      const members = (await page.locator('.group[data-group="xss-group"] .members-table').innerText()) ?? '';
      assert.ok(members.includes(EVIL), 'the member id shows as text');
      assert.equal(await page.locator('main script, main img').count(), 0, 'no element was injected');
      await page.waitForTimeout(5500); // one refresh of the groups section
      assert.equal(await page.locator('main script, main img').count(), 0);
      // Hostile text in URLs is escaped too.
      const res = await fx.app.inject({ method: 'GET', url: `/topics/${encodeURIComponent(EVIL)}` });
      assert.equal(res.statusCode, 404);
      assert.ok(!res.body.includes('<script>alert(1)'));
      assert.deepEqual(fx.dialogs.slice(dialogsBefore), [], 'no dialog may open');
      fx.assertClean();
    });
  });
}

describe('a read-only key on the ops views (inject, SQLite)', { timeout: 60_000 }, () => {
  it('sees no seek form and no schedule control, and the API refuses a forged run', async () => {
    const fx = await startDashboard({ backend: 'sqlite', auth: true });
    try {
      await fx.client.topics.create('ro-topic', { partitions: 1 });
      await fx.app.inject({ method: 'POST', url: '/api/v1/topics/ro-topic/groups/g/members', headers: { authorization: `Bearer ${fx.keys!.admin}`, 'content-type': 'application/json' }, payload: JSON.stringify({ memberId: 'm' }) });
      await fx.client.schedules.upsert('ro-schedule', { everyMs: 60_000, queue: 'ro-q' });
      const viewer = await fx.injectSession(fx.keys!.readOnly);
      for (const path of ['/topics/ro-topic', '/schedules', '/workers', '/alerts', '/topics']) {
        const res = await fx.app.inject({ method: 'GET', url: path, headers: { cookie: viewer.cookie } });
        assert.equal(res.statusCode, 200, `${path}: ${res.body.slice(0, 200)}`);
        assert.doesNotMatch(res.body, /hx-post|hx-delete|seek-form/, path);
      }
      const forged = await fx.app.inject({ method: 'POST', url: '/ui/actions/schedules/ro-schedule/run', headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf, 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
      assert.equal(forged.headers['x-spindle-api-status'], '403');
      assert.equal((await fx.client.listJobs({ filter: { queue: 'ro-q' }, limit: 5 })).jobs.length, 0);
      const admin = await fx.injectSession(fx.keys!.admin);
      const page = await fx.app.inject({ method: 'GET', url: '/topics/ro-topic', headers: { cookie: admin.cookie } });
      assert.match(page.body, /seek-form/);
    } finally {
      await fx.close();
    }
  });
});

describe('seeking a group through the dashboard action (inject, SQLite)', { timeout: 60_000 }, () => {
  it('moves one partition to an offset, every partition to a time, and refuses bad input', async () => {
    const fx = await startDashboard({ backend: 'sqlite' });
    try {
      const api = async (method: 'GET' | 'POST', path: string, body?: unknown) =>
        JSON.parse((await fx.app.inject({ method, url: `/api/v1${path}`, ...(body === undefined ? {} : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) })).body);
      await api('POST', '/topics', { name: 'seekable', partitions: 1 });
      await api('POST', '/topics/seekable/messages', { messages: [{ value: 1 }, { value: 2 }, { value: 3 }] });
      const cut = new Date(Date.now() + 1000);
      await new Promise((r) => setTimeout(r, 1100));
      await api('POST', '/topics/seekable/messages', { messages: [{ value: 4 }, { value: 5 }] });
      await api('POST', '/topics/seekable/groups/g/members', { memberId: 'm', start: 'latest' });
      const session = await fx.injectSession();
      const seek = (fields: Record<string, string>) => injectPost(fx.app, '/ui/actions/topics/seekable/seek', session, { group: 'g', ...fields });
      const committed = async () => (await api('GET', '/topics/seekable/groups/g')).offsets[0].committed as number;
      assert.equal(await committed(), 5);

      const byOffset = await seek({ mode: 'offset', partition: '0', offset: '1' });
      assert.equal(byOffset.headers['x-spindle-api-status'], '200', byOffset.body);
      assert.match(byOffset.body, /data-partition="0" data-committed="1" data-high-water="5" data-lag="4"/);
      assert.equal(await committed(), 1);

      const byTime = await seek({ mode: 'time', time: cut.toISOString().slice(0, 19) });
      assert.equal(byTime.headers['x-spindle-api-status'], '200', byTime.body);
      assert.equal(await committed(), 3);

      const bads: Array<Record<string, string>> = [{ mode: 'offset', partition: '0', offset: '-1' }, { mode: 'time', time: 'yesterday' }, { mode: 'sideways' }];
      for (const bad of bads) {
        const res = await seek(bad);
        assert.equal(res.headers['x-spindle-api-status'], '400', JSON.stringify(bad));
        assert.match(res.body, /notice error/);
      }
      assert.equal(await committed(), 3);
      const unknown = await injectPost(fx.app, '/ui/actions/topics/seekable/seek', session, { group: 'nobody', mode: 'earliest' });
      assert.equal(unknown.headers['x-spindle-api-status'], '404');
    } finally {
      await fx.close();
    }
  });
});
