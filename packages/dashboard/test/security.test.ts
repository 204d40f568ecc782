/**
 * The dashboard's guard by inject (no browser): login and sessions, CSRF and origin checks,
 * security headers, read-only keys, the open (no auth) mode, the form parser, and the live
 * stream proxy. SQLite only: the checks are the plugin's, not the backend's (the browser tests
 * run both backends).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CSP } from '../src/plugin.js';
import { injectPost, sessionCookie, startDashboard, waitFor, type DashboardFixture } from './helpers.js';

describe('dashboard security (auth on)', () => {
  let fx: DashboardFixture;
  before(async () => {
    fx = await startDashboard({ backend: 'sqlite', auth: true });
    await fx.client.queue('emails').add('send', { to: 'a@example.com' });
  });
  after(() => fx.close());

  it('redirects to /login without a session; htmx requests get HX-Redirect; the live stream 204', async () => {
    for (const path of ['/', '/queues', '/queues/emails', '/jobs']) {
      const res = await fx.app.inject({ url: path });
      assert.equal(res.statusCode, 303, path);
      assert.equal(res.headers.location, '/login');
    }
    const htmx = await fx.app.inject({ url: '/ui/fragments/overview-cards', headers: { 'hx-request': 'true' } });
    assert.equal(htmx.headers['hx-redirect'], '/login');
    const live = await fx.app.inject({ url: '/ui/events', headers: { accept: 'text/event-stream' } });
    assert.equal(live.statusCode, 204);
    const login = await fx.app.inject({ url: '/login' });
    assert.equal(login.statusCode, 200);
    assert.match(login.body, /name="key"/);
  });

  it('logs in with a valid key only, into an HttpOnly SameSite=Strict cookie that never holds the key', async () => {
    const bad = await fx.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'key=spk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    const ok = await fx.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ key: fx.keys!.admin }).toString() });
    assert.equal(ok.statusCode, 303);
    const cookie = String(ok.headers['set-cookie']);
    assert.match(cookie, /^spindle_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict/);
    assert.ok(!cookie.includes('Secure'), 'no Secure flag over plain http');
    assert.ok(!cookie.includes(fx.keys!.admin));
    const page = await fx.app.inject({ url: '/', headers: { cookie: sessionCookie(ok.headers['set-cookie']) } });
    assert.equal(page.statusCode, 200);
    assert.ok(!page.body.includes(fx.keys!.admin), 'the key never reaches the page');
    assert.match(page.body, /admin-key/);
    const https = await fx.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' }, payload: new URLSearchParams({ key: fx.keys!.admin }).toString() });
    assert.equal(https.statusCode, 303); // no trustProxy: still http, so no Secure — the flag follows the real protocol
  });

  it('refuses a login posted from another origin', async () => {
    const res = await fx.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, payload: new URLSearchParams({ key: fx.keys!.admin }).toString() });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['set-cookie'], undefined);
  });

  it('sets the strict CSP and the other security headers on pages, fragments, assets and errors', async () => {
    const s = await fx.injectSession(fx.keys!.admin);
    const page = await fx.app.inject({ url: '/', headers: { cookie: s.cookie } });
    const assetUrl = /<script src="(\/ui\/assets\/htmx\.min\.js\?v=[0-9a-f]+)"/.exec(page.body)![1]!;
    for (const res of [page, await fx.app.inject({ url: '/login' }), await fx.app.inject({ url: assetUrl }), await fx.app.inject({ url: '/ui/fragments/problem-queues', headers: { cookie: s.cookie, 'hx-request': 'true' } })]) {
      assert.equal(res.headers['content-security-policy'], CSP);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'same-origin');
    }
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(page.body, /<style|\sstyle=/, 'no inline style');
    const asset = await fx.app.inject({ url: assetUrl });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    assert.equal((await fx.app.inject({ url: '/ui/assets/..%2Fpackage.json' })).statusCode, 404);
  });

  it('refuses a POST without the CSRF token, with a wrong one, or from a foreign origin — and nothing changes', async () => {
    const s = await fx.injectSession(fx.keys!.admin);
    const attempts = [
      injectPost(fx.app, '/ui/actions/queues/emails/pause', { ...s, csrf: '' }),
      injectPost(fx.app, '/ui/actions/queues/emails/pause', { ...s, csrf: 'x'.repeat(43) }),
      injectPost(fx.app, '/ui/actions/queues/emails/pause', s, {}, { origin: 'https://evil.example' }),
      injectPost(fx.app, '/ui/actions/queues/emails/pause', s, {}, { referer: 'https://evil.example/page' }),
      injectPost(fx.app, '/ui/actions/queues/emails/pause', s, {}, { 'sec-fetch-site': 'cross-site' }),
      injectPost(fx.app, '/ui/actions/queues/emails/pause', { cookie: '', csrf: s.csrf }),
    ];
    for (const res of await Promise.all(attempts)) assert.equal(res.statusCode, 403, res.body);
    // A token in the form field works the same as the header; without either it is refused.
    const noHeader = await fx.app.inject({ method: 'POST', url: '/ui/actions/queues/emails/pause', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie }, payload: '_csrf=wrong' });
    assert.equal(noHeader.statusCode, 403);
    const queues = await fx.client.listQueues();
    assert.ok(!queues.some((q) => q.name === 'emails' && q.paused), 'the queue was not paused');
    // The right token from this origin works.
    const ok = await injectPost(fx.app, '/ui/actions/queues/emails/pause', s, {}, { origin: 'http://localhost:80', 'hx-request': 'true' });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.ok((await fx.client.listQueues()).some((q) => q.name === 'emails' && q.paused));
    const resume = await fx.app.inject({ method: 'POST', url: '/ui/actions/queues/emails/resume', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie }, payload: new URLSearchParams({ _csrf: s.csrf }).toString() });
    assert.equal(resume.statusCode, 200);
    assert.ok(!(await fx.client.listQueues()).some((q) => q.name === 'emails' && q.paused));
  });

  it('shows a read-only key no mutating control, and the API refuses its changes anyway', async () => {
    const s = await fx.injectSession(fx.keys!.readOnly);
    for (const path of ['/', '/queues', '/queues/emails']) {
      const page = await fx.app.inject({ url: path, headers: { cookie: s.cookie } });
      assert.equal(page.statusCode, 200, path);
      assert.doesNotMatch(page.body, /hx-post="\/ui\/actions\//, path);
      assert.match(page.body, /read-only/);
    }
    const res = await injectPost(fx.app, '/ui/actions/queues/emails/pause', s, {}, { 'hx-request': 'true' });
    assert.equal(res.headers['x-spindle-api-status'], '403');
    assert.ok(!(await fx.client.listQueues()).some((q) => q.name === 'emails' && q.paused));
  });

  it('ends the session at logout (POST with CSRF only)', async () => {
    const s = await fx.injectSession(fx.keys!.admin);
    const forged = await fx.app.inject({ method: 'POST', url: '/logout', headers: { cookie: s.cookie } });
    assert.equal(forged.statusCode, 403);
    assert.equal((await fx.app.inject({ url: '/', headers: { cookie: s.cookie } })).statusCode, 200);
    const out = await injectPost(fx.app, '/logout', s);
    assert.equal(out.statusCode, 303);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await fx.app.inject({ url: '/', headers: { cookie: s.cookie } })).statusCode, 303);
  });

  it('escapes names reflected from the URL', async () => {
    const s = await fx.injectSession(fx.keys!.admin);
    const res = await fx.app.inject({ url: `/queues/${encodeURIComponent('<script>alert(1)</script>')}`, headers: { cookie: s.cookie } });
    assert.equal(res.statusCode, 404);
    assert.ok(!res.body.includes('<script>alert(1)'));
    assert.match(res.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  it('relays the live stream as the session key, thinned to ticks and queue/DLQ events', async () => {
    const s = await fx.injectSession(fx.keys!.admin);
    const before = fx.server.events.subscriberCount;
    const res = await fetch(`${fx.base}/ui/events`, { headers: { cookie: s.cookie } });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-security-policy')), /default-src 'none'/);
    const reader = res.body!.getReader();
    let text = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => {});
    await fx.client.queue('live').add('x', {});
    await fx.client.pauseQueue('live');
    await waitFor(() => text.includes('event: tick') && text.includes('event: queue.paused'), 'tick and queue.paused');
    assert.ok(!text.includes('event: job.added'), 'job events are not relayed without ?job=');
    assert.match(text, /data: \{"queues":\["live"\]\}/);
    await reader.cancel();
    await pump;
    await fx.client.resumeQueue('live');
    await waitFor(() => fx.server.events.subscriberCount === before, 'the upstream subscription to end');
  });
});

describe('dashboard without auth (open server)', () => {
  let fx: DashboardFixture;
  before(async () => {
    fx = await startDashboard({ backend: 'sqlite' });
  });
  after(() => fx.close());

  it('serves pages with an implicit session and no login; CSRF still applies', async () => {
    const page = await fx.app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['set-cookie']), /spindle_session=.*HttpOnly; SameSite=Strict/);
    assert.match(page.body, /open server/);
    assert.equal((await fx.app.inject({ url: '/login' })).statusCode, 303);
    await fx.client.queue('q1').add('x', {});
    const s = await fx.injectSession();
    assert.equal((await injectPost(fx.app, '/ui/actions/queues/q1/pause', { ...s, csrf: 'nope' })).statusCode, 403);
    assert.equal((await fx.app.inject({ method: 'POST', url: '/ui/actions/queues/q1/pause' })).statusCode, 403);
    assert.ok(!(await fx.client.listQueues()).some((q) => q.paused));
    assert.equal((await injectPost(fx.app, '/ui/actions/queues/q1/pause', s)).statusCode, 200);
    assert.ok((await fx.client.listQueues()).some((q) => q.name === 'q1' && q.paused));
  });

  it('can be turned off: dashboard: false leaves / unrouted', async () => {
    const off = await startDashboard({ backend: 'sqlite', server: { dashboard: false } });
    try {
      const res = await off.app.inject({ url: '/' });
      assert.equal(res.statusCode, 404);
    } finally {
      await off.close();
    }
  });
});
