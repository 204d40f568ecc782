import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actionsFor, renderJobDetail, renderLive, renderMissing, timeline } from '../src/jobs-detail-view.js';
import { assertInert, HOSTILE, jobJson, XSS } from './jobs-fixtures.js';

const ALL = { admin: true, dlq: true };
const NONE = { admin: false, dlq: false };

describe('job detail rendering', () => {
  const dead = jobJson({
    id: 'j-9',
    name: `n${XSS[1]}`,
    queue: 'q1',
    status: 'dead',
    attempt: 4,
    payload: { html: HOSTILE, list: [1, 2] },
    result: null,
    startedAt: '2026-01-31T09:00:02.000Z',
    finishedAt: '2026-01-31T09:00:05.500Z',
    failureReason: `Error: ${XSS[0]}`,
    firstFailedAt: '2026-01-31T09:00:01.000Z',
    lastFailedAt: '2026-01-31T09:00:05.500Z',
    errors: [
      { attempt: 1, round: 0, kind: 'error', name: 'Error', message: HOSTILE, stack: `Error: ${HOSTILE}\n    at handler (/app/x.js:1:1)`, workerId: 'w1', at: '2026-01-31T09:00:01.000Z' },
      { attempt: 4, round: 0, kind: 'timeout', name: 'TimeoutError', message: 'took too long', at: '2026-01-31T09:00:05.500Z' },
    ],
  });

  it('escapes payload, errors, stacks and names everywhere', () => {
    const out = renderJobDetail(dead, ALL).value;
    assertInert(out);
    assert.ok(out.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.match(out, /<pre class="error-stack">Error: &lt;script&gt;/);
    assert.match(out, /<details class="job-payload" open><summary>Payload<\/summary><pre class="json">\{\n {2}&quot;html&quot;/);
  });

  it('shows the facts: attempt n/max, times, wait and duration', () => {
    const out = renderJobDetail(dead, ALL).value;
    assert.match(out, /<th scope="row">Attempt<\/th><td>4 of 4 \(round 0\)<\/td>/);
    assert.match(out, /<th scope="row">Wait<\/th><td>2\.0 s<\/td>/);
    assert.match(out, /<th scope="row">Duration<\/th><td>3\.5 s<\/td>/);
    assert.match(out, /href="\/dlq\/q1"/);
    assert.match(out, /Failed attempts \(2\)/);
    assert.equal((out.match(/<details>/g) ?? []).length, 2, 'one collapsible per attempt');
  });

  it('offers the actions of the state, to keys that hold them', () => {
    assert.deepEqual(actionsFor('dead'), ['retry', 'delete', 'edit']);
    assert.deepEqual(actionsFor('running'), ['cancel']);
    assert.deepEqual(actionsFor('retrying'), ['cancel', 'promote', 'delete', 'edit']);
    assert.deepEqual(actionsFor('completed'), ['retry', 'delete', 'edit']);
    assert.deepEqual(actionsFor('cancelled'), ['retry', 'delete', 'edit']);
    assert.match(renderJobDetail({ ...dead, status: 'completed' }, ALL).value, /Runs the job again, as a new round, with this payload/);
    const out = renderJobDetail(dead, ALL).value;
    assert.match(out, /hx-post="\/ui\/actions\/job\/j-9\/retry"/);
    assert.match(out, /hx-post="\/ui\/actions\/job\/j-9\/edit"/);
    assert.ok(!out.includes('/cancel"'));
    const viewer = renderJobDetail(dead, NONE).value;
    for (const needle of ['hx-post', 'hx-confirm', '<textarea']) assert.ok(!viewer.includes(needle), needle);
    const dlqOnly = renderJobDetail(dead, { admin: false, dlq: true }).value;
    assert.ok(dlqOnly.includes('/edit"') && !dlqOnly.includes('/retry"'), 'a dlq-only key may replay with a payload, not retry');
  });

  it('hides payload and result when the key may not read them', () => {
    const { payload: _omit, ...noPayload } = dead;
    const out = renderJobDetail(noPayload, ALL).value;
    assert.match(out, /Hidden: this key may not read payloads/);
  });

  it('the live block refreshes on live events while unfinished, and not after', () => {
    const running = renderLive(jobJson({ id: 'r"1', status: 'running', attempt: 1, progress: 42, startedAt: new Date(Date.now() - 1500).toISOString() })).value;
    assert.match(running, /<progress id="job-progress" max="100" value="42"/);
    assert.match(running, /hx-get="\/ui\/jobs\/r%221\/live\?was=running"/);
    assert.match(running, /hx-trigger="live:job-progress from:body, [^"]*every \d+s"/);
    assert.match(running, /running for 1\.\d s/);
    const done = renderLive(jobJson({ status: 'completed', progress: { pct: 100, note: XSS[0] } })).value;
    assert.ok(!done.includes('hx-trigger'));
    assert.match(done, /value="100"/);
    assertInert(done);
  });

  it('orders the timeline', () => {
    const labels = timeline(dead).map((e) => (typeof e.label === 'string' ? e.label : e.label.value));
    assert.equal(labels[0], 'created');
    assert.match(labels[1]!, /attempt 1 \(round 0\) failed/);
    assert.match(labels.at(-1)!, /finished/);
  });

  it('a missing job page escapes the id', () => {
    assertInert(renderMissing(XSS[1]!, XSS[0]!).value);
  });
});
