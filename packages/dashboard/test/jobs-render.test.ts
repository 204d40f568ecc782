import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fmtDuration, fmtTime, formValues, operationFragment, progressPercent, toInstant } from '../src/jobs-common.js';
import { apiListPath, bulkFilter, countMatching, describeFilter, filterQuery, parseFilter } from '../src/jobs-filter.js';
import { renderBulkResult, renderJobsPage, renderPreview } from '../src/jobs-render.js';
import { assertInert, HOSTILE, jobJson, XSS } from './jobs-fixtures.js';

describe('jobs filter', () => {
  it('defaults to pending states and 50 per page', () => {
    const f = parseFilter({});
    assert.deepEqual(f, { state: 'pending', limit: 50 });
    assert.equal(apiListPath(f), '/jobs?state=scheduled%2Cqueued%2Crunning%2Cretrying%2Cwaiting&limit=50');
    assert.deepEqual(bulkFilter(f), { states: ['scheduled', 'queued', 'running', 'retrying', 'waiting'] });
  });

  it('maps every field to the list query and the same selection to the bulk filter', () => {
    const f = parseFilter({ queue: 'emails', state: ['dead', 'bogus', 'cancelled'], name: ' send ', q: 'order-7', from: '2026-01-31T09:00', to: '2026-02-01T00:00:00+01:00', limit: '100', cursor: 'abc' });
    assert.equal(f.state, 'dead,cancelled');
    assert.equal(f.from, '2026-01-31T09:00:00Z');
    assert.equal(f.to, '2026-02-01T00:00:00+01:00');
    const p = new URLSearchParams(apiListPath(f).split('?')[1]);
    assert.deepEqual(Object.fromEntries(p), { queue: 'emails', state: 'dead,cancelled', name: 'send', q: 'order-7', from: '2026-01-31T09:00:00Z', to: '2026-02-01T00:00:00+01:00', cursor: 'abc', limit: '100' });
    assert.deepEqual(bulkFilter(f), { queue: 'emails', states: ['dead', 'cancelled'], name: 'send', payloadContains: 'order-7', createdAfter: '2026-01-31T09:00:00Z', createdBefore: '2026-02-01T00:00:00+01:00' });
    assert.equal(filterQuery(f).cursor, undefined, 'links drop the cursor unless asked');
    assert.match(describeFilter(f), /state dead, cancelled, queue emails, name send, payload contains "order-7"/);
  });

  it('state=all has no state condition; junk times and limits are dropped', () => {
    const f = parseFilter({ state: 'all', from: 'yesterday', limit: '5000' });
    assert.equal(f.from, undefined);
    assert.equal(f.limit, 50);
    assert.ok(!apiListPath(f).includes('state='));
    assert.deepEqual(bulkFilter(f), {});
  });

  it('an id filter has no bulk filter (actions use the ids)', () => {
    const f = parseFilter({ id: 'a, b c' });
    assert.equal(f.id, 'a,b,c');
    assert.equal(bulkFilter(f), null);
  });

  it('counts a filter with the exact count endpoint; an id filter by listing its ids', async () => {
    const calls: string[] = [];
    const get = async <T>(path: string) => {
      calls.push(path);
      if (path.startsWith('/jobs/count?')) return { status: 200, body: { count: 12_345 } as T };
      return { status: 200, body: { jobs: [jobJson({ id: 'a' }), jobJson({ id: 'c' })], nextCursor: null } as T };
    };
    assert.deepEqual(await countMatching(get, parseFilter({ queue: 'emails', state: 'dead,queued', q: 'x', cursor: 'abc', limit: '25' })), { count: 12_345 });
    assert.equal(calls.at(-1), '/jobs/count?queue=emails&state=dead%2Cqueued&q=x', 'the list query without its paging');
    assert.deepEqual(await countMatching(get, parseFilter({ id: 'a,b,c' })), { count: 2, ids: ['a', 'c'] });
    assert.match(calls.at(-1)!, /^\/jobs\?.*id=a%2Cb%2Cc/);
    const refused = async <T>() => ({ status: 404, body: { code: 'not_found' } as T });
    assert.equal((await countMatching(refused, parseFilter({ queue: 'secret' }))).error?.status, 404);
  });
});

describe('jobs page rendering', () => {
  const hostile = jobJson({ id: 'j-1', name: 'x', queue: 'q', payload: { note: HOSTILE }, failureReason: `Error: ${HOSTILE}` });

  it('escapes payloads, reasons and filter values', () => {
    const f = parseFilter({ q: XSS[1], name: XSS[0] });
    const out = renderJobsPage({ jobs: [hostile], nextCursor: 'c"><b' }, f, true, XSS[2]!).value;
    assertInert(out);
    assert.ok(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(out.includes('cursor=c%22%3E%3Cb'), 'the cursor is URL-encoded in the next link');
  });

  it('shows checkboxes and bulk controls only to admins', () => {
    const admin = renderJobsPage({ jobs: [hostile], nextCursor: null }, parseFilter({}), true, null).value;
    const viewer = renderJobsPage({ jobs: [hostile], nextCursor: null }, parseFilter({}), false, null).value;
    assert.match(admin, /type="checkbox" name="ids" value="j-1"/);
    assert.match(admin, /hx-post="\/ui\/actions\/jobs\/bulk\/retry"/);
    assert.match(admin, /hx-get="\/ui\/jobs\/preview\?[^"]*action=delete/);
    for (const needle of ['type="checkbox"', 'hx-post', 'hx-get', 'hx-confirm']) assert.ok(!viewer.includes(needle), needle);
    assert.match(viewer, /href="\/jobs\/j-1"/);
  });

  it('keeps the filter in the form and in paging links', () => {
    const f = parseFilter({ queue: 'emails', state: 'dead', cursor: 'p2' });
    const out = renderJobsPage({ jobs: [jobJson()], nextCursor: 'p3' }, f, false, null).value;
    assert.match(out, /<option value="dead" selected>/);
    assert.match(out, /href="\/jobs\?queue=emails&amp;state=dead&amp;cursor=p3"/);
    assert.match(out, /href="\/jobs\?queue=emails&amp;state=dead">← First page/);
    assert.match(out, /Jobs of <a href="\/queues\/emails">/);
  });

  it('previews a whole-filter action with its count and posts the same filter', () => {
    const f = parseFilter({ queue: 'emails', state: 'dead', q: XSS[0] });
    const out = renderPreview('retry', f, { count: 12 }).value;
    assertInert(out);
    assert.match(out, /data-count="12"/);
    assert.match(out, /hx-post="\/ui\/actions\/jobs\/filter\/retry"/);
    assert.match(out, /hx-confirm="Retry 12 jobs \(/);
    assert.match(out, /name="expected" value="12"/);
    assert.match(out, /name="state" value="dead"/);
    assert.match(renderPreview('delete', f, { count: 0 }).value, /nothing to delete/);
    const large = renderPreview('cancel', f, { count: 1_234_567 }).value;
    assert.match(large, /Cancel 1,234,567 jobs/);
    assert.match(large, /name="expected" value="1234567"/);
  });

  it('summarises bulk outcomes', () => {
    const out = renderBulkResult('retry', [{ id: 'a', outcome: 'ok' }, { id: 'b', outcome: 'ok' }, { id: 'c', outcome: 'wrong_state' }]).value;
    assert.match(out, /Retry: ok 2 · wrong_state 1/);
    assert.match(out, /data-ok="2"/);
  });
});

describe('operation fragment', () => {
  const op = { id: '0b4f2a8e-1111-4222-8333-444455556666', kind: 'jobs.retry', status: 'running' as const, processed: 3, result: null, error: null, startedAt: '2026-01-01T00:00:00Z', finishedAt: null };

  it('polls itself every second while running, and stops when done', () => {
    const running = operationFragment(op, '/ui/jobs/operations', 10).value;
    assert.match(running, /hx-get="\/ui\/jobs\/operations\/0b4f2a8e-1111-4222-8333-444455556666\?expected=10" hx-trigger="every 1s" hx-swap="outerHTML"/);
    assert.match(running, /<progress class="op-progress" max="10" value="3">/);
    const done = operationFragment({ ...op, status: 'succeeded', processed: 10, result: { outcomes: { ok: 10 } }, finishedAt: 'x' }, '/ui/jobs/operations', 10).value;
    assert.ok(!done.includes('hx-trigger'));
    assert.match(done, /ok 10/);
    const failed = operationFragment({ ...op, status: 'failed', error: { code: 'x', message: XSS[0]! } }, '/ui/jobs/operations').value;
    assertInert(failed);
  });
});

describe('formatting helpers', () => {
  it('formats times, durations and progress', () => {
    assert.equal(fmtTime('2026-01-31T09:00:00.123Z'), '2026-01-31 09:00:00Z');
    assert.equal(fmtTime(null), '—');
    assert.equal(fmtDuration(850), '850 ms');
    assert.equal(fmtDuration(12_340), '12.3 s');
    assert.equal(fmtDuration(245_000), '4 min 05 s');
    assert.equal(fmtDuration(7_380_000), '2 h 03 min');
    assert.equal(progressPercent(40), 40);
    assert.equal(progressPercent({ stage: 'x', pct: 12 }), 12);
    assert.equal(progressPercent({ stage: 'x' }), null);
    assert.equal(progressPercent(140), null);
    assert.equal(toInstant('2026-01-31'), '2026-01-31T00:00:00Z');
    assert.equal(toInstant('2026-13-99T00:00:00Z'), undefined);
    assert.deepEqual(formValues({ ids: ['a', '', 'b'] }, 'ids'), ['a', 'b']);
    assert.deepEqual(formValues({ ids: 'a' }, 'ids'), ['a']);
  });
});
