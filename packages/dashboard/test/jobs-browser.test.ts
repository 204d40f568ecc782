/**
 * Browser tests of the jobs list, job detail and DLQ views (issue 8 points 3-5), on SQLite and
 * PostgreSQL, through test/helpers.ts (a real server, Debian's Chromium): the views load without
 * console errors, a job's progress bar moves live, a DLQ entry is found by search, replayed with
 * a click and completes, a bulk retry by filter affects exactly the previewed count, and hostile
 * payloads and error messages render as text and never execute.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BACKEND_NAMES, startDashboard, waitFor, type DashboardFixture } from './helpers.js';

const EVIL = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

for (const backend of BACKEND_NAMES) {
  describe(`jobs, job detail and DLQ views in Chromium (${backend})`, { timeout: 120_000 }, () => {
    let fx: DashboardFixture;
    before(async () => {
      fx = await startDashboard({ backend });
    });
    after(async () => {
      await fx?.close();
    });

    const dead = async (ids: string[]) =>
      waitFor(async () => (await Promise.all(ids.map((id) => fx.client.getJob(id)))).every((j) => j && ['dead', 'completed'].includes(j.state)), 'jobs to finish');

    it('every view loads with no console error', async () => {
      const q = fx.client.queue('seed');
      const queued = await q.add('noop', { n: 1 }, { delay: 60_000 });
      const w = q.process(async () => {
        throw new Error('boom');
      }, { pollIntervalMs: 20 });
      const failing = await fx.client.queue('seed').add('fail', { n: 2 }, { maxRetries: 0 });
      await dead([failing.id]);
      await w.close();
      const page = await fx.newPage();
      for (const [path, selector] of [
        ['/jobs', 'section.jobs'],
        ['/jobs?queue=seed&state=all', `tr[data-job-id="${queued.id}"]`],
        [`/jobs/${queued.id}`, '#job-live'],
        [`/jobs/${failing.id}`, 'ol.attempts'],
        ['/dlq', 'tr[data-queue="seed"]'],
        ['/dlq/seed', `tr[data-job-id="${failing.id}"]`],
      ] as const) {
        const res = await page.goto(fx.base + path);
        assert.ok(res && res.status() < 500, `${path} answered ${res?.status()}`);
        await page.waitForSelector(selector, { timeout: 5000 });
      }
      await page.waitForTimeout(300);
      fx.assertClean();
      // A missing job is a 404 page (not loaded in the browser: Chromium logs every 404).
      const missing = await fx.app.inject({ method: 'GET', url: `/jobs/${encodeURIComponent('no-such-job')}` });
      assert.equal(missing.statusCode, 404);
      assert.match(missing.body, /No job no-such-job/);
    });

    it("a job's progress bar moves live while its worker reports progress", async () => {
      const steps = [10, 35, 80];
      const gates = steps.map(() => gate());
      const worker = fx.client.queue('progress').process(
        async (job) => {
          for (let i = 0; i < steps.length; i++) {
            await job.progress(steps[i]);
            await gates[i]!.wait;
          }
          return { frames: 3 };
        },
        { pollIntervalMs: 20 },
      );
      try {
        const page = await fx.newPage();
        const { id } = await fx.client.queue('progress').add('render', { video: 'v1' });
        await page.goto(`${fx.base}/jobs/${id}`);
        await page.waitForSelector('#job-live[data-status="running"][data-progress="10"]', { timeout: 10_000 });
        // From here on the page must not reload: the bar moves in place.
        await page.evaluate(`window.stay = true; window.liveProgress = 0;
          document.body.addEventListener('live:job-progress', () => { window.liveProgress += 1; });`);
        gates[0]!.open();
        await page.waitForSelector('#job-live[data-progress="35"]', { timeout: 15_000 });
        // The progress came over the page's live stream (not only the 5 s fallback poll).
        assert.ok(Number(await page.evaluate('window.liveProgress')) >= 1, 'no live:job-progress event reached the page');
        assert.equal(await page.locator('#job-progress').getAttribute('value'), '35');
        gates[1]!.open();
        await page.waitForSelector('#job-live[data-progress="80"]', { timeout: 15_000 });
        assert.equal(await page.evaluate('window.stay === true'), true, 'the page was reloaded');
        gates[2]!.open();
        await page.waitForSelector('#job-live[data-status="completed"]', { timeout: 10_000 });
        assert.match((await page.locator('details.job-result pre').textContent()) ?? '', /"frames": 3/);
      } finally {
        for (const g of gates) g.open();
        await worker.close();
      }
    });

    it('a DLQ entry is found by search, replayed with a click, and completes', async () => {
      let healthy = false;
      const worker = fx.client.queue('payments').process(
        async () => {
          if (!healthy) throw new Error('card declined');
          return 'paid';
        },
        { pollIntervalMs: 20 },
      );
      try {
        const q = fx.client.queue('payments');
        const target = await q.add('charge', { order: 'ORD-4242' }, { maxRetries: 0 });
        const other = await q.add('charge', { order: 'ORD-1111' }, { maxRetries: 0 });
        await dead([target.id, other.id]);
        const page = await fx.newPage();
        await page.goto(`${fx.base}/dlq`);
        await page.fill('input[name="queue"]', 'payments');
        await page.fill('input[name="q"]', 'ORD-4242');
        await Promise.all([page.waitForURL(/\/dlq\/payments\?q=ORD-4242/), page.click('form[role="search"] button[type="submit"]')]);
        await page.waitForSelector(`tr[data-job-id="${target.id}"]`);
        assert.equal(await page.locator('tr.dead-job').count(), 1, 'the search finds exactly the entry');
        assert.match((await page.locator('.dlq-groups').textContent()) ?? '', /card declined/);
        healthy = true;
        await page.click(`tr[data-job-id="${target.id}"] button.row-replay`);
        await page.waitForSelector(`tr.dead-job-done[data-job-id="${target.id}"]`, { timeout: 5000 });
        assert.match((await page.locator(`tr.dead-job-done[data-job-id="${target.id}"]`).textContent()) ?? '', /Replayed 1/);
        assert.ok(fx.dialogs.some((d) => d.startsWith('confirm') && d.includes(target.id)), 'the replay asked for confirmation');
        await waitFor(async () => (await fx.client.getJob(target.id))?.state === 'completed', 'the replayed job to complete');
        assert.equal((await fx.client.getJob(other.id))?.state, 'dead', 'the other entry stays in the DLQ');
        await page.goto(`${fx.base}/jobs/${target.id}`);
        await page.waitForSelector('#job-live[data-status="completed"]');
      } finally {
        await worker.close();
      }
    });

    it('bulk retry by filter affects exactly the previewed count', async () => {
      const q = fx.client.queue('bulk');
      const worker = q.process(
        async (job) => {
          if ((job.payload as { fail: boolean }).fail) throw new Error('nope');
          return 'ok';
        },
        { pollIntervalMs: 20, concurrency: 5 },
      );
      const added = await q.addBulk([
        ...Array.from({ length: 7 }, (_, n) => ({ name: 'sync', payload: { batch: 'B1', n, fail: true }, opts: { maxRetries: 0 } })),
        ...Array.from({ length: 3 }, (_, n) => ({ name: 'sync', payload: { batch: 'B2', n, fail: true }, opts: { maxRetries: 0 } })),
        ...Array.from({ length: 2 }, (_, n) => ({ name: 'sync', payload: { batch: 'B1', n, fail: false }, opts: { maxRetries: 0 } })),
      ]);
      await dead(added.map((a) => a.id));
      await worker.close();
      assert.deepEqual({ dead: (await q.counts()).dead, completed: (await q.counts()).completed }, { dead: 10, completed: 2 });

      const page = await fx.newPage();
      await page.goto(`${fx.base}/jobs?queue=bulk&state=dead&q=B1`);
      assert.equal(await page.locator('table.jobs-table tbody tr[data-job-id]').count(), 7);
      await page.click('button.bulk-filter[data-action="retry"]');
      const preview = page.locator('form.preview');
      await preview.waitFor();
      const previewed = Number(await preview.getAttribute('data-count'));
      assert.equal(previewed, 7);
      await page.click('form.preview button[type="submit"]');
      const op = page.locator('.operation[data-status="succeeded"]');
      await op.waitFor({ timeout: 10_000 });
      const result = JSON.parse((await op.locator('.operation-result').getAttribute('data-result')) ?? '{}') as { outcomes: Record<string, number> };
      assert.deepEqual(result.outcomes, { ok: previewed });
      const counts = await q.counts();
      assert.deepEqual({ queued: counts.queued, dead: counts.dead, completed: counts.completed }, { queued: previewed, dead: 3, completed: 2 });
    });

    it('select all checks every row of the page, and the selection action acts on exactly those', async () => {
      const q = fx.client.queue('pick');
      const added = await q.addBulk(Array.from({ length: 5 }, (_, n) => ({ name: 'later', payload: { n }, opts: { delay: 3_600_000 } })));
      const page = await fx.newPage();
      await page.goto(`${fx.base}/jobs?queue=pick&state=scheduled&limit=25`);
      const rows = page.locator('table.jobs-table tbody input[name="ids"]');
      assert.equal(await rows.count(), 5);
      await page.check('table.jobs-table thead input.select-all');
      assert.deepEqual(await rows.evaluateAll((boxes) => boxes.map((b) => (b as unknown as { checked: boolean }).checked)), [true, true, true, true, true]);
      await page.uncheck('table.jobs-table thead input.select-all');
      assert.equal(await page.locator('table.jobs-table tbody input[name="ids"]:checked').count(), 0);
      await page.check('table.jobs-table thead input.select-all');
      await page.uncheck(`tr[data-job-id="${added[0]!.id}"] input[name="ids"]`);
      await page.click('button.bulk-selected[data-action="cancel"]');
      await page.waitForSelector('.bulk-result[data-action="cancel"]');
      assert.equal(await page.locator('.bulk-result').getAttribute('data-ok'), '4');
      const states = await Promise.all(added.map(async (a) => (await fx.client.getJob(a.id))?.state));
      assert.deepEqual(states, ['scheduled', 'cancelled', 'cancelled', 'cancelled', 'cancelled']);
    });

    it('payloads and error messages with markup render as text and never execute', async () => {
      const dialogsBefore = fx.dialogs.length;
      const q = fx.client.queue('xss');
      const worker = q.process(async () => {
        throw new Error(EVIL);
      }, { pollIntervalMs: 20 });
      const deadJob = await q.add('evil', { html: EVIL, [EVIL]: EVIL }, { maxRetries: 0 });
      await dead([deadJob.id]);
      await worker.close();
      const pending = await fx.client.queue('xss-pending').add('evil', { html: EVIL }, { delay: 3_600_000 });
      const page = await fx.newPage();
      for (const path of [
        '/jobs?state=all&q=onerror',
        `/jobs?queue=xss&state=dead&q=${encodeURIComponent(EVIL)}`,
        `/jobs/${deadJob.id}`,
        `/jobs/${pending.id}`,
        '/dlq/xss',
        `/dlq/xss?error=${encodeURIComponent('<script>')}&resolved=all`,
        `/dlq?queue=xss&q=${encodeURIComponent(EVIL)}`,
      ]) {
        await page.goto(fx.base + path);
        await page.waitForLoadState('load');
        assert.equal(await page.locator('img[src="x"]').count(), 0, `an injected <img> on ${path}`);
        assert.equal(await page.evaluate("[...document.scripts].some((s) => (s.textContent || '').includes('alert(1)'))"), false, `an injected <script> on ${path}`);
      }
      await page.goto(`${fx.base}/jobs/${deadJob.id}`);
      await page.locator('ol.attempts summary').first().click();
      assert.ok(((await page.locator('details.job-payload pre').textContent()) ?? '').includes('<script>alert(1)</script>'));
      assert.ok(((await page.locator('ol.attempts').textContent()) ?? '').includes(EVIL));
      assert.ok(((await page.locator('ol.attempts pre.error-stack').textContent()) ?? '').includes(EVIL));
      await page.goto(`${fx.base}/dlq/xss`);
      assert.ok(((await page.locator('.dlq-groups').textContent()) ?? '').includes(EVIL), 'the group reason shows the text');
      await page.waitForTimeout(500);
      assert.deepEqual(fx.dialogs.slice(dialogsBefore), [], 'no dialog may open');
      fx.assertClean();
    });
  });
}
