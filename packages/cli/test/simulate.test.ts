/**
 * The capacity simulator: the seed's examples reproduce, shares follow the strategy, results are
 * deterministic, bad specs are refused; and `spindle simulate` end to end through the binary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '@spindle/core';
import { simulate } from '../src/simulate/engine.js';
import { EXAMPLES } from '../src/simulate/examples.js';
import { checkSpec, parseServiceTime, type SimulationSpec } from '../src/simulate/spec.js';
import { spindle } from './helpers.js';

const run = (spec: SimulationSpec) => simulate(checkSpec(spec));
const byName = (result: ReturnType<typeof simulate>, name: string) => result.queues.find((q) => q.name === name)!;

describe('capacity simulator', () => {
  it('100 uploads, 5 workers at 1 video a minute: the last one finishes after 20 minutes', () => {
    const result = run(EXAMPLES.uploads!.runs[0]!.spec);
    assert.equal(result.drained, true);
    assert.equal(result.endMs, 20 * 60_000);
    const uploads = byName(result, 'uploads');
    assert.equal(uploads.completed, 100);
    assert.equal(uploads.lastFinishMs, 20 * 60_000);
    assert.equal(uploads.waitMs!.max, 19 * 60_000, 'the last upload waited 19 minutes for a worker');
    assert.equal(run(EXAMPLES.uploads!.runs[1]!.spec).endMs, 10 * 60_000, 'twice the workers, half the time');
  });

  it('under sustained overload strict priority starves the low queue; 60/30/10 keeps it moving', () => {
    const [strict, weighted] = EXAMPLES.starvation!.runs.map((r) => run(r.spec));
    const low = byName(strict!, 'low');
    assert.ok(low.arrived > 100);
    assert.equal(low.completed, 0, 'strict: not one low job ran in ten minutes');
    const fairLow = byName(weighted!, 'low');
    assert.ok(fairLow.completed >= fairLow.arrived * 0.95, `weighted: low kept up (${fairLow.completed}/${fairLow.arrived})`);
    assert.ok(fairLow.waitMs!.p99 < 30_000, `weighted: low p99 wait ${fairLow.waitMs!.p99} ms`);
    assert.ok(byName(weighted!, 'high').unfinished > byName(strict!, 'high').unfinished, 'the price: high falls behind instead');
  });

  it('weighted under saturation: shares of 10,000 jobs match 6/3/1 within ±2 % (the same planner as a real worker)', () => {
    const result = run({
      queues: ['high', 'medium', 'low'].map((name) => ({ name, initial: 10_000, service: 'exp:10ms' })),
      workers: [{ count: 1, concurrency: 10, queues: { weighted: { high: 6, medium: 3, low: 1 } } }],
      untilSeconds: 10_000 * 10 / 10 / 1000, // about 10,000 jobs' worth of capacity
    });
    const total = result.completed;
    assert.ok(total > 9000 && total < 11_000, `about 10,000 done (${total})`);
    for (const [name, share] of [['high', 0.6], ['medium', 0.3], ['low', 0.1]] as const) {
      assert.ok(Math.abs(byName(result, name).share - share) <= 0.02, `${name}: ${byName(result, name).share}`);
    }
  });

  it('is work-conserving: a queue with nothing to do leaves its share to the others', () => {
    const result = run({
      queues: [{ name: 'high', service: 'fixed:1s' }, { name: 'low', initial: 600, service: 'fixed:1s' }],
      workers: [{ count: 2, concurrency: 3, queues: { weighted: { high: 9, low: 1 } } }],
    });
    assert.equal(result.endMs, 100_000, '600 jobs on 6 slots of 1 s each: 100 s, as if low were alone');
  });

  it('dedicated pools serve only their queue', () => {
    const result = run({
      queues: [{ name: 'video', initial: 10, service: 'fixed:10s' }, { name: 'email', initial: 100, service: 'fixed:100ms' }],
      workers: [{ count: 1, queues: 'video' }, { count: 1, queues: 'email' }],
    });
    assert.equal(byName(result, 'email').lastFinishMs, 10_000);
    assert.equal(byName(result, 'video').lastFinishMs, 100_000);
  });

  it('priority classes inside a queue: the urgent class keeps moving while the rest queues up', () => {
    const result = run({
      queues: [{
        name: 'uploads',
        initial: [{ count: 50, priority: 'low' }],
        arrivals: [{ perSecond: 1, forSeconds: 300, priority: 'high' }, { perSecond: 3, forSeconds: 300 }],
        service: 'fixed:1s',
      }],
      workers: [{ count: 2, concurrency: 1, queues: 'uploads' }],
      untilSeconds: 300,
    });
    const classes = byName(result, 'uploads').byPriority!;
    assert.deepEqual(classes.map((c) => c.priority), [250, 500, 750]);
    const [high, normal, low] = classes;
    assert.ok(high!.waitMs!.p99 < 5000, `high p99 ${high!.waitMs!.p99} ms`);
    assert.ok(normal!.waitMs!.p50 > 10 * high!.waitMs!.p99, 'normal waits far longer than high');
    // At 0 s the low jobs are all there is: each worker takes one; after that, with 4 jobs/s
    // arriving for 2 jobs/s of capacity, low never runs again.
    assert.equal(low!.completed, 2);
  });

  it('is deterministic for a seed, and the seed matters', () => {
    const spec: SimulationSpec = {
      queues: [{ name: 'q', arrivals: { perSecond: 50, forSeconds: 60 }, service: 'lognormal:50ms,0.8' }],
      workers: [{ count: 2, concurrency: 2, queues: 'q' }],
      seed: 42,
    };
    assert.deepEqual(run(spec), run(spec));
    assert.notDeepEqual(run(spec), run({ ...spec, seed: 43 }));
  });

  it('refuses bad specs with a ValidationError naming each part', () => {
    const bad = {
      queues: [{ name: 'a', service: 'sometimes' }, { name: 'a', initial: -1, service: 'fixed:1s' }],
      workers: [{ count: 0, queues: ['a', 'nope'] }, { queues: { weighted: { a: 0 } } }],
      extra: true,
    };
    assert.throws(() => checkSpec(bad), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      const paths = err.issues.map((i) => i.path);
      for (const p of ['queues[0].service', 'queues[1].name', 'queues[1].initial', 'workers[0].count', 'workers[0].queues', 'workers[1].queues.weighted.a', 'extra']) {
        assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
      }
      return true;
    });
    assert.equal(parseServiceTime('uniform:3s-1s'), null);
    assert.deepEqual(parseServiceTime('uniform:1s-3s'), { kind: 'uniform', minMs: 1000, maxMs: 3000 });
  });
});

describe('spindle simulate', () => {
  it('runs an example, a spec inline, prints JSON, and exits 2 on a bad spec', async () => {
    const example = await spindle(['simulate', '--example', 'uploads']);
    assert.equal(example.code, 0, example.stderr);
    assert.match(example.stdout, /drained after 20\.0 min/);
    const inline = await spindle(['simulate', '--json', '--spec', JSON.stringify({
      queues: [{ name: 'q', initial: 10, service: 'fixed:1s' }], workers: [{ count: 2, queues: 'q' }],
    })]);
    assert.equal(inline.code, 0, inline.stderr);
    assert.equal(JSON.parse(inline.stdout).endMs, 5000);
    const bad = await spindle(['simulate', '--spec', '{"queues": [], "workers": []}']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^spindle: queues: must be an array of 1 to 100 queues/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const unknown = await spindle(['simulate', '--example', 'nope']);
    assert.equal(unknown.code, 2);
  });
});
