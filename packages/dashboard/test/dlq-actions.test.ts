/**
 * The DLQ and job-detail actions end to end without a browser (inject as a logged-in session,
 * with its CSRF token), on SQLite and PostgreSQL: per job, per group (exactly the group's
 * members), by filter and all (tracked operations), replay to another queue, resolve with a
 * note, purge; job-detail retry / cancel / promote / delete and "edit payload & retry"; and a
 * read-only key that sees no control and whose posts the API refuses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BACKEND_NAMES, injectPost, startDashboard, waitFor, type DashboardFixture, type InjectSession } from './helpers.js';

for (const backend of BACKEND_NAMES) {
  describe(`DLQ and job actions by inject (${backend})`, { timeout: 120_000 }, () => {
    let fx: DashboardFixture;
    let admin: InjectSession;
    let viewer: InjectSession;
    before(async () => {
      fx = await startDashboard({ backend, auth: true });
      admin = await fx.injectSession(fx.keys!.admin);
      viewer = await fx.injectSession(fx.keys!.readOnly);
    });
    after(async () => {
      await fx?.close();
    });

    /** Adds jobs to `queue` that die at once (failing with `reason(payload)`); resolves with their ids. */
    async function killed(queue: string, payloads: Array<{ reason: string; [k: string]: unknown }>): Promise<string[]> {
      const q = fx.client.queue(queue);
      const worker = q.process(async (job) => {
        throw new Error((job.payload as { reason: string }).reason);
      }, { pollIntervalMs: 20, concurrency: 50 });
      const added = await q.addBulk(payloads.map((payload) => ({ name: 'task', payload, opts: { maxRetries: 0 } })));
      const ids = added.map((a) => a.id);
      await waitFor(async () => (await Promise.all(ids.map((id) => fx.client.getJob(id)))).every((j) => j?.state === 'dead'), 'jobs to die', 30_000);
      await worker.close();
      return ids;
    }
    const state = async (id: string) => (await fx.client.getJob(id))?.state;
    const page = (url: string, s: InjectSession) => fx.app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });
    const fragment = (url: string, s: InjectSession) => fx.app.inject({ method: 'GET', url, headers: { cookie: s.cookie, 'hx-request': 'true' } });
    /** Polls an operation fragment until it stops polling; returns its markup. */
    async function settle(markup: string): Promise<string> {
      let current = markup;
      for (let i = 0; i < 100; i++) {
        const poll = /hx-get="(\/ui\/(?:jobs|dlq)\/operations\/[^"]+)"/.exec(current)?.[1];
        if (!poll) return current;
        await new Promise((r) => setTimeout(r, 50));
        current = (await fragment(poll.replaceAll('&amp;', '&'), admin)).body;
      }
      throw new Error('operation did not finish');
    }

    it('per job and per group: a group acts on exactly its members', async () => {
      const [a1, a2, b1] = await killed('grp', [{ reason: 'Timeout' }, { reason: 'Timeout' }, { reason: 'Timeout while reading' }]);
      const view = await page('/dlq/grp', admin);
      assert.equal(view.statusCode, 200);
      assert.match(view.body, /data-reason="Error: Timeout"/);
      // Replay the group "Error: Timeout": its substring also matches b1's reason, which must stay.
      const res = await injectPost(fx.app, '/ui/actions/dlq/grp/replay?scope=group', admin, { reason: 'Error: Timeout' });
      assert.equal(res.statusCode, 200);
      assert.match(await settle(res.body), /replayed 2/);
      assert.equal(await state(a1!), 'queued');
      assert.equal(await state(a2!), 'queued');
      assert.equal(await state(b1!), 'dead');
      // Per job: purge b1 as a table row.
      const row = await injectPost(fx.app, '/ui/actions/dlq/grp/purge?scope=ids&row=1', admin, { ids: b1! });
      assert.match(row.body, /<tr class="dead-job-done" data-job-id="[^"]+">.*Purged 1/s);
      assert.equal(await state(b1!), undefined);
    });

    it('replay to another queue, resolve with a note, by filter and all with progress', async () => {
      const ids = await killed('flt', [
        { reason: 'bad input', order: 'X-1' },
        { reason: 'bad input', order: 'X-2' },
        { reason: 'bad input', order: 'Y-1' },
        { reason: 'other', order: 'Z-1' },
      ]);
      // Resolve by filter (payload contains X-): a tracked operation.
      const started = await injectPost(fx.app, '/ui/actions/dlq/flt/resolve?scope=filter', admin, { q: 'X-', resolved: 'false', note: 'known issue' });
      assert.match(started.body, /class="operation /);
      const done = await settle(started.body);
      assert.match(done, /data-status="succeeded"/);
      assert.match(done, /resolved 2/);
      const resolved = await fx.client.getJob(ids[0]!);
      assert.equal(resolved?.resolution?.note, 'known issue');
      const depth = await fx.client.dlq.depth({ queue: 'flt' });
      assert.equal(depth[0]?.depth, 2);
      // Replay one to another queue.
      const moved = await injectPost(fx.app, '/ui/actions/dlq/flt/replay?scope=ids', admin, { ids: ids[2]!, toQueue: 'flt-retry' });
      assert.match(moved.body, /Replayed 1/);
      assert.equal((await fx.client.getJob(ids[2]!))?.queue, 'flt-retry');
      // Purge all: everything dead in the queue, resolved or not.
      const all = await settle((await injectPost(fx.app, '/ui/actions/dlq/flt/purge?scope=all', admin)).body);
      assert.match(all, /purged 3/);
      assert.equal(await state(ids[3]!), undefined);
      // A bad target queue name is refused before the API.
      const bad = await injectPost(fx.app, '/ui/actions/dlq/flt/replay?scope=all', admin, { toQueue: 'no/slashes' });
      assert.match(bad.body, /target queue name/);
    });

    it('job detail actions follow the state; edit payload & retry for dead, cancelled and pending jobs', async () => {
      const [deadId] = await killed('det', [{ reason: 'boom' }]);
      const detail = await page(`/jobs/${deadId}`, admin);
      assert.match(detail.body, /hx-post="\/ui\/actions\/job\/[^"]+\/retry"/);
      const edited = await injectPost(fx.app, `/ui/actions/job/${deadId}/edit`, admin, { payload: '{"reason":"fixed","v":2}' });
      assert.equal(edited.headers['hx-refresh'], 'true', edited.body);
      const replayed = await fx.client.getJob(deadId!);
      assert.deepEqual([replayed?.state, replayed?.payload], ['queued', { reason: 'fixed', v: 2 }]);
      const invalid = await injectPost(fx.app, `/ui/actions/job/${deadId}/edit`, admin, { payload: '{nope' });
      assert.match(invalid.body, /not valid JSON/);

      const delayed = await fx.client.queue('det2').add('later', { a: 1 }, { delay: 3_600_000 });
      const patched = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/edit`, admin, { payload: '{"a":2}' });
      assert.equal(patched.headers['hx-refresh'], 'true', patched.body);
      const job = await fx.client.getJob(delayed.id);
      assert.deepEqual([job?.state, job?.payload], ['queued', { a: 2 }], 'edited and made due');
      const cancelled = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/cancel`, admin);
      assert.equal(cancelled.headers['hx-refresh'], 'true');
      assert.equal(await state(delayed.id), 'cancelled');
      const twice = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/cancel`, admin);
      assert.match(twice.body, /already finished/);
      const retried = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/edit`, admin, { payload: '{"a":3}' });
      assert.equal(retried.headers['hx-refresh'], 'true', retried.body);
      const again = await fx.client.getJob(delayed.id);
      assert.deepEqual([again?.state, again?.round, again?.payload], ['queued', 1, { a: 3 }], 'a cancelled job edited and retried');
      const refused = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/retry`, admin);
      assert.match(refused.body, /notice error/, 'a queued job is not retried');
      const deleted = await injectPost(fx.app, `/ui/actions/job/${delayed.id}/delete`, admin);
      assert.equal(deleted.headers['hx-redirect'], '/jobs?queue=det2&state=all');
      assert.equal(await state(delayed.id), undefined);
    });

    it('bulk by selection answers outcome counts', async () => {
      const q = fx.client.queue('sel');
      const jobs = await q.addBulk([1, 2, 3].map((n) => ({ name: 'x', payload: { n }, opts: { delay: 3_600_000 } })));
      const body = new URLSearchParams();
      for (const j of jobs.slice(0, 2)) body.append('ids', j.id);
      const res = await fx.app.inject({ method: 'POST', url: '/ui/actions/jobs/bulk/cancel', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: admin.cookie, 'x-csrf-token': admin.csrf }, payload: body.toString() });
      assert.match(res.body, /Cancel: cancelled 2/);
      assert.deepEqual(await Promise.all(jobs.map((j) => state(j.id))), ['cancelled', 'cancelled', 'scheduled']);
      const none = await injectPost(fx.app, '/ui/actions/jobs/bulk/cancel', admin, {});
      assert.match(none.body, /Select jobs first/);
      const preview = await fragment('/ui/jobs/preview?action=delete&queue=sel&state=cancelled', admin);
      assert.match(preview.body, /data-count="2"/);
    });

    it('the jobs list pages with the API cursor and keeps the filter', async () => {
      const q = fx.client.queue('pages');
      const jobs = await q.addBulk([1, 2, 3, 4, 5].map((n) => ({ name: 'p', payload: { n }, opts: { delay: 3_600_000 } })));
      const seen: string[] = [];
      let next: string | undefined = '/jobs?queue=pages&state=scheduled&limit=2';
      for (let i = 0; next && i < 5; i++) {
        const res = await page(next, admin);
        assert.equal(res.statusCode, 200);
        seen.push(...[...res.body.matchAll(/<tr data-job-id="([^"]+)"/g)].map((m) => m[1]!));
        const href = /<a class="page-next" rel="next" href="([^"]+)"/.exec(res.body)?.[1]?.replaceAll('&amp;', '&');
        if (href) assert.match(href, /queue=pages&state=scheduled&limit=2&cursor=/);
        next = href;
      }
      assert.deepEqual(seen.sort(), jobs.map((j) => j.id).sort(), 'every job once, newest first over 3 pages');
    });

    it('a group of any size is acted on by its exact reason, unresolved jobs only, as a tracked operation', async () => {
      const ids = await killed('big', Array.from({ length: 1001 }, (_, n) => ({ reason: n === 0 ? 'Overloaded now' : 'Overloaded', n })));
      const resolvedBefore = ids[1]!;
      await fx.client.dlq.resolve({ ids: [resolvedBefore], note: 'earlier' });
      const view = await page('/dlq/big', admin);
      assert.match(view.body, /data-reason="Error: Overloaded">.*?<td class="num">999<\/td>/s, 'the group counts unresolved jobs, like the depth');
      const started = await injectPost(fx.app, '/ui/actions/dlq/big/resolve?scope=group', admin, { reason: 'Error: Overloaded', note: 'capacity' });
      assert.match(started.body, /class="operation /, started.body);
      const done = await settle(started.body);
      assert.match(done, /resolved 999/);
      assert.equal((await fx.client.getJob(ids[1000]!))?.resolution?.note, 'capacity');
      assert.equal((await fx.client.getJob(resolvedBefore))?.resolution?.note, 'earlier', 'an already resolved job keeps its note');
      assert.equal((await fx.client.getJob(ids[0]!))?.resolution, null, 'a reason that only contains the group\'s is another group');
    });

    it('a read-only key sees no control, and its posts are refused by the API', async () => {
      const [id] = await killed('ro', [{ reason: 'x' }]);
      for (const url of ['/jobs?state=all', `/jobs/${id}`, '/dlq/ro']) {
        const res = await page(url, viewer);
        assert.equal(res.statusCode, 200, url);
        assert.ok(res.body.includes('<main'), url);
        const main = res.body.slice(res.body.indexOf('<main'));
        for (const needle of ['hx-post', 'hx-confirm', 'type="checkbox"', '<textarea']) assert.ok(!main.includes(needle), `${needle} on ${url}`);
      }
      const replay = await injectPost(fx.app, '/ui/actions/dlq/ro/replay?scope=ids', viewer, { ids: id! });
      assert.match(replay.body, /notice error/);
      const retry = await injectPost(fx.app, `/ui/actions/job/${id}/retry`, viewer);
      assert.match(retry.body, /notice error/);
      const bulk = await injectPost(fx.app, '/ui/actions/jobs/filter/delete', viewer, { state: 'all' });
      assert.match(bulk.body, /notice error/);
      assert.equal(await state(id!), 'dead');
    });
  });
}
