/**
 * Alert rules without a database: configuration validation (alerts/rules.ts: the built-in rule,
 * its replacement or removal, unknown keys and bad values refused with the field named, the
 * alerts file) and evaluation as a pure function (alerts/evaluate.ts: thresholds, `forMs`
 * hysteresis, resolution, failure-rate windows over per-minute counters, partial ticks).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ValidationError, type StatsRow } from '@spindle/core';
import { evaluateRules, failureRates, type AlertInputs, type RuleQueueState } from '../src/alerts/evaluate.js';
import { readAlertsFile, resolveAlerts, describeRule, type AlertRule } from '../src/alerts/rules.js';
import { resolveServerOptions } from '../src/options.js';

const T0 = Date.parse('2026-01-01T12:00:30Z');

function rule(r: Partial<AlertRule> & Pick<AlertRule, 'name' | 'kind' | 'threshold'>): AlertRule {
  return { queue: '*', forMs: 0, windowMs: r.kind === 'failure_rate' ? 300_000 : null, source: 'config', ...r };
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a ValidationError');
}

describe('alert rule configuration', () => {
  test('the built-in dlq-not-empty is on by default, replaced by a rule of its name, off with builtin: false', () => {
    assert.deepEqual(resolveAlerts(undefined), { intervalMs: 10_000, rules: [{ name: 'dlq-not-empty', kind: 'dlq_depth', queue: '*', threshold: 0, forMs: 0, windowMs: null, source: 'builtin' }] });
    const more = resolveAlerts({ intervalMs: 500, rules: [{ name: 'slow', kind: 'failure_rate', threshold: 0.2, queue: 'mail*' }] });
    assert.equal(more.intervalMs, 500);
    assert.deepEqual(more.rules.map((r) => [r.name, r.source, r.windowMs, r.queue]), [['dlq-not-empty', 'builtin', null, '*'], ['slow', 'config', 300_000, 'mail*']]);
    const redefined = resolveAlerts({ rules: [{ name: 'dlq-not-empty', kind: 'dlq_depth', threshold: 10, forMs: 60_000 }] });
    assert.deepEqual(redefined.rules.map((r) => [r.name, r.source, r.threshold]), [['dlq-not-empty', 'config', 10]]);
    assert.deepEqual(resolveAlerts({ builtin: false }).rules, []);
    assert.equal(describeRule(more.rules[1]!), 'failure rate > 20 % over 5 min');
    assert.equal(describeRule(rule({ name: 'x', kind: 'oldest_queued_age', threshold: 300_000, forMs: 60_000 })), 'oldest queued job waiting > 5 min, for 1 min');
  });

  test('bad rules are refused with the field named', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ rules: [{ name: 'a', kind: 'latency', threshold: 1 }] }, /^options\.alerts\.rules\[0\]\.kind: /],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: -1 }] }, /^options\.alerts\.rules\[0\]\.threshold: /],
      [{ rules: [{ name: 'a', kind: 'backlog' }] }, /^options\.alerts\.rules\[0\]\.threshold: /],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: 1, colour: 'red' }] }, /^options\.alerts\.rules\[0\]: .*colour/],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: 1, queue: 'bad queue' }] }, /^options\.alerts\.rules\[0\]\.queue: must be a queue name/],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: 1, windowMs: 60_000 }] }, /^options\.alerts\.rules\[0\]\.windowMs: only applies to failure_rate/],
      [{ rules: [{ name: 'a', kind: 'failure_rate', threshold: 1.5 }] }, /^options\.alerts\.rules\[0\]\.threshold: a failure rate threshold is a fraction/],
      [{ rules: [{ name: 'a', kind: 'failure_rate', threshold: 0.1, windowMs: 1000 }] }, /^options\.alerts\.rules\[0\]\.windowMs: /],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: 1, forMs: 1.5 }] }, /^options\.alerts\.rules\[0\]\.forMs: /],
      [{ rules: [{ name: 'a', kind: 'backlog', threshold: 1 }, { name: 'a', kind: 'dlq_depth', threshold: 0 }] }, /^options\.alerts\.rules\[1\]\.name: duplicate rule name "a"/],
      [{ rules: [{ name: 'a b', kind: 'backlog', threshold: 1 }] }, /^options\.alerts\.rules\[0\]\.name: /],
      [{ interval: 5 }, /^options\.alerts: .*interval/],
      [{ intervalMs: 0 }, /^options\.alerts\.intervalMs: /],
      [[], /^options\.alerts: /],
    ];
    for (const [value, expected] of cases) {
      const issues = issuesOf(() => resolveServerOptions({ alerts: value as never }));
      assert.ok(issues.some((i) => expected.test(i)), `${JSON.stringify(value)} → ${issues.join(' | ')}`);
    }
  });

  test('an alerts file: read and validated, errors name the field or the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-alerts-'));
    try {
      const good = join(dir, 'good.json');
      writeFileSync(good, JSON.stringify({ rules: [{ name: 'backlog-big', kind: 'backlog', threshold: 1000, forMs: 60_000 }] }));
      assert.deepEqual(resolveServerOptions({ alerts: readAlertsFile(good) }).alerts.rules.map((r) => r.name), ['dlq-not-empty', 'backlog-big']);
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ rules: [{ name: 'x', kind: 'backlog', threshold: 'many' }] }));
      assert.match(issuesOf(() => readAlertsFile(bad)).join(), new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.rules\\[0\\]\\.threshold: `));
      assert.match(issuesOf(() => readAlertsFile(bad, '')).join(), /^rules\[0\]\.threshold: /);
      const notJson = join(dir, 'not.json');
      writeFileSync(notJson, '{ rules: ');
      assert.match(issuesOf(() => readAlertsFile(notJson)).join(), /not valid JSON/);
      assert.match(issuesOf(() => readAlertsFile(join(dir, 'missing.json'))).join(), /cannot read the alerts file \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs ticks in order, returning each tick's transitions as `type rule queue value`. */
function run(rules: AlertRule[], ticks: AlertInputs[]): { log: string[][]; states: Map<string, RuleQueueState> } {
  let states = new Map<string, RuleQueueState>();
  const log: string[][] = [];
  for (const inputs of ticks) {
    const out = evaluateRules(rules, inputs, states);
    states = out.states;
    log.push(out.transitions.map((t) => `${t.type} ${t.rule} ${t.queue} ${t.value}`));
  }
  return { log, states };
}

const minute = (offset: number, queue: string, counts: Partial<StatsRow>): StatsRow => ({
  queue,
  minute: new Date(Math.floor(T0 / 60_000) * 60_000 + offset * 60_000),
  enqueued: 0,
  completed: 0,
  retried: 0,
  dead: 0,
  cancelled: 0,
  ...counts,
});

describe('alert rule evaluation', () => {
  test('fires above the threshold (not at it), once, and resolves once; scope by prefix', () => {
    const rules = [rule({ name: 'big', kind: 'backlog', threshold: 10, queue: 'mail*' })];
    const at = (i: number, backlog: Record<string, number>): AlertInputs => ({ atMs: T0 + i * 1000, backlog: new Map(Object.entries(backlog)) });
    const { log, states } = run(rules, [at(0, { mail: 10, other: 99 }), at(1, { mail: 11, 'mail-eu': 3 }), at(2, { mail: 50 }), at(3, { mail: 2 }), at(4, {})]);
    assert.deepEqual(log, [[], ['alert.firing big mail 11'], [], ['alert.resolved big mail 2'], []]);
    assert.deepEqual([...states.values()].map((s) => [s.queue, s.firing, s.value, s.since]), [
      ['mail', false, 0, new Date(T0 + 3000).toISOString()],
      ['mail-eu', false, 0, null],
    ]);
  });

  test('forMs: fires only after breaching for that long; a dip resets the wait; resolution is immediate', () => {
    const rules = [rule({ name: 'old', kind: 'oldest_queued_age', threshold: 60_000, forMs: 5000 })];
    const at = (s: number, age: number): AlertInputs => ({ atMs: T0 + s * 1000, oldestQueuedAgeMs: new Map([['q', age]]) });
    const { log, states } = run(rules, [at(0, 70_000), at(3, 80_000), at(4, 1000), at(5, 90_000), at(9, 90_000), at(10, 95_000), at(11, 99_000), at(12, 0)]);
    assert.deepEqual(log, [[], [], [], [], [], ['alert.firing old q 95000'], [], ['alert.resolved old q 0']]);
    const mid = run(rules, [at(0, 70_000), at(3, 80_000)]).states.get('old\nq')!;
    assert.equal(mid.firing, false);
    assert.equal(mid.pendingSince, new Date(T0).toISOString());
    assert.equal(states.get('old\nq')!.pendingSince, null);
  });

  test('failure rate: failed / finished attempts over the minutes overlapping the window', () => {
    const rows = [minute(-10, 'q', { retried: 100 }), minute(-2, 'q', { completed: 6, retried: 2, dead: 2 }), minute(0, 'q', { completed: 0, dead: 0 }), minute(0, 'idle', { enqueued: 5 })];
    const rates = failureRates(rows, T0, 300_000);
    assert.equal(rates.get('q'), 0.4);
    assert.equal(rates.get('idle'), 0, 'no finished attempt: 0');
    assert.equal(failureRates(rows, T0, 60_000).get('q'), 0, 'the minute two back is outside a one-minute window');
    assert.equal(failureRates(rows, T0, 900_000).get('q'), 104 / 110);

    const rules = [rule({ name: 'failing', kind: 'failure_rate', threshold: 0.3, windowMs: 300_000 })];
    const { log } = run(rules, [
      { atMs: T0, stats: rows },
      { atMs: T0 + 1000, stats: [...rows, minute(0, 'q', { completed: 10 })] },
      { atMs: T0 + 2000, dbNowMs: T0 + 15 * 60_000, stats: rows },
    ]);
    assert.deepEqual(log, [['alert.firing failing q 0.4'], ['alert.resolved failing q 0.2'], []]);
  });

  test('a partial tick evaluates only the rules whose input was read', () => {
    const rules = [rule({ name: 'dlq', kind: 'dlq_depth', threshold: 0 }), rule({ name: 'big', kind: 'backlog', threshold: 1 })];
    const first = evaluateRules(rules, { atMs: T0, dlqDepth: new Map([['a', 2]]), backlog: new Map([['a', 5]]) }, new Map());
    assert.deepEqual(first.transitions.map((t) => `${t.rule} ${t.type}`), ['dlq alert.firing', 'big alert.firing']);
    const partial = evaluateRules(rules, { atMs: T0 + 1, dlqDepth: new Map() }, first.states);
    assert.deepEqual(partial.transitions.map((t) => `${t.rule} ${t.type} ${t.value}`), ['dlq alert.resolved 0']);
    assert.equal(partial.states.get('big\na')!.firing, true, 'the backlog rule kept its state');
  });
});
