import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dlqActionFilter, dlqListPath, parseDlqFilter, renderDlqIndex, renderDlqQueuePage, renderGroups, renderRowDone } from '../src/dlq-render.js';
import { assertInert, HOSTILE, jobJson, XSS } from './jobs-fixtures.js';

describe('dlq filter', () => {
  it('defaults to unresolved, maps fields to the list query and the action filter', () => {
    assert.deepEqual(parseDlqFilter({}), { resolved: 'false', limit: 50 });
    const f = parseDlqFilter({ q: 'order', error: 'Timeout', name: 'send', resolved: 'all', from: '2026-01-01T00:00' });
    assert.equal(dlqListPath('a b', f), '/dlq/a%20b/jobs?name=send&q=order&error=Timeout&from=2026-01-01T00%3A00%3A00Z&limit=50');
    assert.deepEqual(dlqActionFilter(f), { name: 'send', payloadContains: 'order', errorContains: 'Timeout', createdAfter: '2026-01-01T00:00:00Z' });
    assert.deepEqual(dlqActionFilter(parseDlqFilter({})), { resolved: false });
  });
});

describe('dlq rendering', () => {
  const groups = [{ reason: `Error: ${HOSTILE}`, count: 3, firstFailedAt: '2026-01-31T09:00:00Z', lastFailedAt: '2026-01-31T10:00:00Z', sampleJobId: 'j-1' }];
  const dead = jobJson({ id: 'j-1', status: 'dead', payload: { x: HOSTILE }, failureReason: `Error: ${HOSTILE}`, lastFailedAt: '2026-01-31T10:00:00Z' });

  it('lists depths per queue', () => {
    const out = renderDlqIndex([{ queue: 'emails', depth: 4 }]).value;
    assert.match(out, /<a href="\/dlq\/emails">emails<\/a><\/td><td class="num">4<\/td>/);
    assert.match(renderDlqIndex([]).value, /No unresolved dead job/);
  });

  it('escapes reasons (also inside hx-vals and hx-confirm) and payloads', () => {
    const out = renderDlqQueuePage('emails', 3, groups, { jobs: [dead], nextCursor: null }, parseDlqFilter({ q: XSS[1] }), true, [XSS[0]!]).value;
    assertInert(out);
    assert.match(out, /hx-vals="\{&quot;reason&quot;:&quot;Error: &lt;script&gt;/);
    assert.match(out, /hx-confirm="Replay the 3 unresolved dead jobs of emails failing with &quot;Error: &lt;script&gt;/);
  });

  it('groups: count, first/last seen, sample, per-group actions for dlq keys', () => {
    const out = renderGroups('emails', groups, true).value;
    assert.match(out, /<td class="num">3<\/td>/);
    assert.match(out, /2026-01-31 09:00:00Z/);
    assert.match(out, /2026-01-31 10:00:00Z/);
    assert.match(out, /href="\/jobs\/j-1"/);
    for (const a of ['replay', 'resolve', 'purge']) assert.match(out, new RegExp(`hx-post="/ui/actions/dlq/emails/${a}\\?scope=group"`));
    assert.ok(!renderGroups('emails', groups, false).value.includes('hx-post'));
  });

  it('controls: selection, filter and all, each confirmed; none for read-only keys', () => {
    const page = (can: boolean) => renderDlqQueuePage('emails', 1, groups, { jobs: [dead], nextCursor: 'n' }, parseDlqFilter({}), can, []).value;
    const out = page(true);
    for (const scope of ['ids', 'filter', 'all']) assert.match(out, new RegExp(`hx-post="/ui/actions/dlq/emails/replay\\?scope=${scope}"[^>]*hx-confirm="`));
    assert.match(out, /hx-post="\/ui\/actions\/dlq\/emails\/replay\?scope=ids&amp;row=1" hx-vals="\{&quot;ids&quot;:&quot;j-1&quot;\}"/);
    assert.match(out, /name="toQueue"/);
    assert.match(out, /href="\/dlq\/emails\?cursor=n"/);
    const viewer = page(false);
    for (const needle of ['hx-post', 'hx-confirm', 'type="checkbox"', 'name="toQueue"']) assert.ok(!viewer.includes(needle), needle);
  });

  it('row replacement after a per-job action escapes its text', () => {
    assertInert(renderRowDone('j-1', XSS[0]!, false, 10).value);
  });
});
