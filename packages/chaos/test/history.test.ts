/**
 * The history model's own tests: JSON-lines round trip, the merge of several processes' files
 * (ordering, an invoke with no completion becomes unknown, a torn last line is skipped, a corrupt
 * history throws), and how the recorder classifies thrown errors (refused vs unknown).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseLostError, BackendError, ValidationError } from '@spindle/core';
import { encodeLine, type HistoryLine, mergeLines, opsToLines, parseLines } from '../src/history.js';
import { classifyError, Recorder } from '../src/recorder.js';
import { goodRun } from './build.js';

describe('history JSON lines', () => {
  it('round-trips a history through text', () => {
    const { h } = goodRun();
    const text = opsToLines(h.ops).map(encodeLine).join('');
    assert.deepEqual(mergeLines(parseLines(text)), h.ops);
  });

  it('merges processes by invoke time; an invoke without completion is unknown; a torn last line is skipped', () => {
    const a: HistoryLine[] = [
      { type: 'invoke', proc: 'a', index: 1, f: 'claim', args: { queue: 'q' }, t: 10 },
      { type: 'ok', proc: 'a', index: 1, t: 12, value: { leases: [] } },
      { type: 'invoke', proc: 'a', index: 2, f: 'complete', args: { jobId: 'x', attempt: 1, token: 't' }, t: 20 },
    ];
    const b: HistoryLine[] = [
      { type: 'invoke', proc: 'b', index: 1, f: 'enqueue', args: { jobId: 'x' }, t: 5 },
      { type: 'fail', proc: 'b', index: 1, t: 6, code: 'validation_failed' },
    ];
    const text = a.map(encodeLine).join('') + '{"type":"ok","proc":"a","ind';
    const ops = mergeLines([...parseLines(text), ...b]);
    assert.deepEqual(ops.map((o) => `${o.proc}${o.index}:${o.outcome.type}`), ['b1:refused', 'a1:ok', 'a2:unknown']);
    assert.equal(ops[2]!.completeAt, null);
  });

  it('rejects a corrupt history', () => {
    assert.throws(() => mergeLines([{ type: 'ok', proc: 'a', index: 1, t: 1 }]), /completion without invoke/);
    assert.throws(() => mergeLines([
      { type: 'invoke', proc: 'a', index: 2, f: 'read', args: {}, t: 1 },
      { type: 'invoke', proc: 'a', index: 1, f: 'read', args: {}, t: 2 },
    ]), /not increasing/);
    assert.throws(() => parseLines('{bad\n{"type":"ok"}\n'));
  });
});

describe('recorder error classification', () => {
  it('records typed refusals as refused and anything else as unknown', async () => {
    assert.deepEqual(classifyError(new LeaseLostError('j', 1)), { type: 'fail', code: 'lease_lost', message: new LeaseLostError('j', 1).message });
    assert.equal(classifyError(new ValidationError([{ path: 'x', message: 'bad' }])).type, 'fail');
    assert.equal(classifyError(new BackendError('connection reset')).type, 'info');
    assert.equal(classifyError(Object.assign(new Error('terminating connection'), { code: '57P01' })).type, 'info');
    const rec = new Recorder({ proc: 'p', clock: () => 7 });
    await assert.rejects(rec.record([{ f: 'read', args: { jobId: 'j' } }], () => Promise.reject(new Error('timeout')), () => []));
    assert.deepEqual(rec.ops().map((o) => o.outcome), [{ type: 'unknown', error: 'timeout' }]);
  });

  it('records the handler side and the nemesis', () => {
    const rec = new Recorder({ proc: 'w' });
    const done = rec.handlerStarted({ jobId: 'j', attempt: 1, token: 't' });
    const heal = rec.faultStarted({ fault: 'sigstop', target: 'w2' });
    done({ ok: true });
    assert.deepEqual(rec.ops().map((o) => `${o.f}:${o.outcome.type}`), ['handler_start:ok', 'fault:unknown', 'handler_end:ok']);
    heal();
    assert.equal(rec.ops()[1]!.outcome.type, 'ok');
  });
});
