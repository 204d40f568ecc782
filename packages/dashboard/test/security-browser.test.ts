/**
 * CSRF and XSS sweeps of the whole dashboard in headless Chromium (reliability S4, S6), on
 * SQLite and PostgreSQL. The routes come from the server's route table, so a new page or action
 * is swept without editing this file.
 *
 * Owns:
 * - CSRF: every dashboard POST route, with every action name, forged from an attacker page by a
 *   form submission and by a no-cors fetch, from the same site on another port (the session
 *   cookie is sent: the Origin check must refuse) and from another site (SameSite=Strict keeps
 *   the cookie home): all 403, and the jobs, queues, schedules and topic groups are unchanged;
 * - XSS: hostile markup planted in every stored text the views show (payloads, results,
 *   progress, errors and stacks, DLQ notes, schedule payloads, topic keys, values and headers)
 *   and in every query parameter and path parameter of every dashboard page: no dialog opens,
 *   no script runs (CSP violations are console errors, which fail the fixture), and no element
 *   from the markup appears in the page.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { BACKEND_NAMES, startDashboard, waitFor, type DashboardFixture } from './helpers.js';

const XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>", '</textarea><script>window.__pwned=1</script>', 'javascript:alert(1)', '<div hx-get="/logout" hx-trigger="load">x</div>'];
const EVIL = XSS.join(' ');
/** The action names each `:action` route knows (an unknown one is refused like any forgery). */
const ACTIONS: Record<string, string[]> = {
  '/ui/actions/jobs/bulk/:action': ['cancel', 'retry', 'promote', 'delete'],
  '/ui/actions/jobs/filter/:action': ['cancel', 'retry', 'promote', 'delete'],
  '/ui/actions/job/:id/:action': ['cancel', 'retry', 'promote', 'delete', 'edit'],
  '/ui/actions/dlq/:queue/:action': ['replay', 'purge', 'resolve'],
  '/ui/actions/schedules/:name/:action': ['pause', 'resume', 'run', 'delete'],
};
const QUERY_NAMES = ['q', 'error', 'reason', 'state', 'name', 'queue', 'range', 'cursor', 'limit', 'from', 'to', 'order', 'id', 'resolved', 'partition', 'offset', 'scope', 'view', 'group', 'all'];
const INJECTED = 'img[src="x"], script:not([src]), [onerror], [onload], iframe, object, embed, [hx-trigger="load"][hx-get="/logout"]';

async function listen(host: string, body: string): Promise<{ server: Server; base: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, base: `http://${host}:${(server.address() as AddressInfo).port}` };
}

/** Submits a form (and sends a no-cors fetch) to `target` from the attacker page; the statuses. */
async function forge(page: Page, evil: string, target: string, fields: Record<string, string>): Promise<number[]> {
  await page.goto(`${evil}/`);
  const [fetched] = await Promise.all([
    page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
    page.evaluate(`fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams(${JSON.stringify(fields)}) }).catch(() => null)`),
  ]);
  const [submitted] = await Promise.all([
    page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
    page.waitForURL(target, { waitUntil: 'load' }),
    // A string, evaluated in the page (the test code is not compiled against the DOM).
    page.evaluate(`(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = ${JSON.stringify(target)};
      for (const [k, v] of Object.entries(${JSON.stringify(fields)})) {
        const input = document.createElement('input');
        input.name = k;
        input.value = v;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    })()`),
  ]);
  return [fetched.status(), submitted.status()];
}

for (const backend of BACKEND_NAMES) {
  describe(`dashboard CSRF and XSS sweeps in Chromium (${backend})`, () => {
    let fx: DashboardFixture;
    let deadId = '';
    let pendingId = '';
    const api = async (method: 'POST' | 'PUT', url: string, body: unknown) => {
      const res = await fx.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${fx.keys!.admin}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
      return JSON.parse(res.body);
    };
    const world = async () =>
      JSON.stringify([(await fx.client.listJobs({ limit: 1000 })).jobs, await fx.client.listQueues(), await fx.client.schedules.list(), (await fx.client.topics.groups('xss-events')).map((g) => [g.group, g.offsets])]);

    before(async () => {
      fx = await startDashboard({ backend, auth: true });
      // Stored text with markup, in every field the views show.
      const { id } = await api('POST', '/queues/xss/jobs', { name: 'evil', payload: { html: EVIL, [EVIL]: EVIL }, opts: { maxRetries: 0 } });
      const claimed = (await api('POST', '/queues/xss/claim', { workerId: 'w' })).jobs[0];
      await api('POST', `/jobs/${id}/progress`, { attempt: claimed.attempt, leaseToken: claimed.leaseToken, progress: { step: EVIL } });
      await api('POST', `/jobs/${id}/fail`, { attempt: claimed.attempt, leaseToken: claimed.leaseToken, error: { message: EVIL, name: 'Evil', stack: `Error: ${EVIL}\n    at x (${EVIL}:1:1)` } });
      deadId = id;
      const done = await api('POST', '/queues/xss/jobs', { name: 'ok', payload: EVIL });
      const c2 = (await api('POST', '/queues/xss/claim', { workerId: 'w' })).jobs[0];
      await api('POST', `/jobs/${done.id}/complete`, { attempt: c2.attempt, leaseToken: c2.leaseToken, result: { html: EVIL } });
      const resolved = await api('POST', '/queues/xss/jobs', { name: 'r', payload: 1, opts: { maxRetries: 0 } });
      const c3 = (await api('POST', '/queues/xss/claim', { workerId: 'w' })).jobs[0];
      await api('POST', `/jobs/${resolved.id}/fail`, { attempt: c3.attempt, leaseToken: c3.leaseToken, error: { message: 'x' } });
      await api('POST', '/dlq/xss/resolve', { ids: [resolved.id], note: EVIL });
      pendingId = (await api('POST', '/queues/xss/jobs', { name: 'later', payload: { html: EVIL }, opts: { delay: 3_600_000 } })).id;
      await api('PUT', '/schedules/xss-sync', { everyMs: 3_600_000, queue: 'xss', payload: { html: EVIL }, paused: true });
      await api('POST', '/topics', { name: 'xss-events' });
      await api('POST', '/topics/xss-events/messages', { messages: [{ key: EVIL.slice(0, 1000), value: { html: EVIL }, headers: { [XSS[0]!]: EVIL } }] });
      await api('POST', '/topics/xss-events/groups/g/members', { memberId: 'm1' });
    });
    after(() => fx.close());

    it('refuses every forged dashboard POST, same-site and cross-site, and nothing changes', async () => {
      const sameSite = await listen('127.0.0.1', '<!doctype html><title>evil</title><p>same site, other port</p>');
      const crossSite = await listen('127.0.0.2', '<!doctype html><title>evil</title><p>another site</p>');
      try {
        const page = await fx.newPage();
        await fx.login(page, fx.keys!.admin);
        fx.allowErrors(/status of 403/);
        const posts = fx.app.spindleRoutes.list().filter((r) => r.method === 'POST' && !r.url.startsWith('/api/') && r.url !== '/login');
        assert.ok(posts.length >= 8, `${posts.length} dashboard POST routes`);
        const before = await world();
        const fields = { _csrf: 'guess', ids: deadId, note: 'forged', payload: '{"forged":true}', toQueue: 'elsewhere', group: 'g', to: 'latest', scope: 'all', confirm: '1' };
        let forged = 0;
        for (const { url } of posts) {
          const actions = url.includes(':action') ? (ACTIONS[url] ?? ['cancel', 'delete', 'purge']) : [''];
          for (const action of actions) {
            const path = url.replace(':queue', 'xss').replace(':id', deadId).replace(':topic', 'xss-events').replace(':name', 'xss-sync').replace(':action', action);
            for (const evil of [sameSite.base, crossSite.base]) {
              const statuses = await forge(page, evil, fx.base + path, fields);
              assert.deepEqual(statuses, [403, 403], `${path} forged from ${evil}`);
              forged += 2;
            }
          }
        }
        assert.ok(forged >= 50, `${forged} forged requests`);
        assert.ok((await world()) === before, 'no forged request changed anything (jobs, queues, schedules, group offsets)');
        const back = await page.goto(`${fx.base}/queues`);
        assert.equal(back?.status(), 200, 'the session survived (the forged logout was refused too)');
        fx.assertClean();
      } finally {
        await new Promise((r) => sameSite.server.close(r));
        await new Promise((r) => crossSite.server.close(r));
      }
    });

    it('renders hostile stored text and hostile URLs on every page as text, and runs none of it', async () => {
      const page = await fx.newPage();
      await fx.login(page, fx.keys!.admin);
      fx.allowErrors(/status of 4\d\d/);
      const gets = fx.app.spindleRoutes.list().filter((r) => r.method === 'GET' && !/^\/(api\/|metrics|docs|openapi\.json|healthz|readyz|ui\/assets\/|ui\/events$)/.test(r.url));
      assert.ok(gets.length >= 20, `${gets.length} dashboard pages and fragments`);
      const hostileQuery = QUERY_NAMES.map((n, i) => `${n}=${encodeURIComponent(XSS[i % XSS.length]!)}`).join('&');
      let visits = 0;
      for (const { url } of gets) {
        const concrete = url.replace(':queue', 'xss').replace(':id', url.includes('operations') ? '00000000-0000-4000-8000-000000000000' : deadId).replace(':topic', 'xss-events');
        const hostilePath = url.replace(/:(queue|id|topic)/g, encodeURIComponent(XSS[1]!));
        const paths = [concrete, `${concrete}?${hostileQuery}`, ...(url.includes(':') ? [hostilePath] : [])];
        if (url === '/jobs/:id') paths.push(`/jobs/${pendingId}`);
        if (url === '/topics/:topic') paths.push('/topics/xss-events?partition=0&offset=0');
        for (const path of paths) {
          const res = await page.goto(fx.base + path);
          assert.ok(res && res.status() < 500, `${path}: ${res?.status()}`);
          // Fragments that pages load by htmx are visited directly too, so the loaded page suffices.
          assert.equal(await page.locator(INJECTED).count(), 0, `${path}: an element from the markup was injected`);
          assert.equal(await page.evaluate('window.__pwned'), undefined, `${path}: script ran`);
          visits++;
        }
      }
      // The stored text is shown, as text, where it belongs.
      await page.goto(`${fx.base}/jobs/${deadId}`);
      await waitFor(async () => (await page.locator('main').innerText()).includes('<script>alert(1)</script>'), 'the payload and error shown as text');
      await page.goto(`${fx.base}/dlq/xss?resolved=true`);
      assert.ok((await page.locator('main').innerText()).includes('javascript:alert(1)'), 'the DLQ note shown as text');
      assert.equal(await page.locator('a[href^="javascript:"]').count(), 0, 'no javascript: link');
      assert.ok(visits >= 50, `${visits} page visits`);
      assert.deepEqual(fx.dialogs.filter((d) => !d.startsWith('confirm')), [], 'no alert or prompt opened');
      fx.assertClean();
    });
  });
}
