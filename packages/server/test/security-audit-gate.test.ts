/**
 * The dependency audit gate, scripts/audit-gate.mjs (reliability S16), judged on saved
 * `npm audit --json` reports (SPINDLE_AUDIT_REPORT), so the test needs no network: a clean or
 * moderate-only report passes, a high or critical advisory fails (exit 1) and is named, an audit
 * that could not reach the advisory database fails (exit 2) unless SPINDLE_AUDIT_OFFLINE=warn.
 * The live audit itself is the CI step `node scripts/audit-gate.mjs`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const SCRIPT = join(import.meta.dirname, '..', '..', '..', 'scripts', 'audit-gate.mjs');
const dir = mkdtempSync(join(tmpdir(), 'spindle-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function gate(report: unknown, env: Record<string, string> = {}) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(report));
  const run = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env: { ...process.env, SPINDLE_AUDIT_OFFLINE: '', ...env, SPINDLE_AUDIT_REPORT: file } });
  return { status: run.status, out: run.stdout + run.stderr };
}

const counts = (c: Record<string, number>) => ({ metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...c }, dependencies: { prod: 40 } } });

describe('audit gate (S16)', () => {
  test('passes with no advisory, or with moderate and low ones only', () => {
    assert.equal(gate({ ...counts({}), vulnerabilities: {} }).status, 0);
    const moderate = gate({ ...counts({ moderate: 1 }), vulnerabilities: { x: { severity: 'moderate', via: [{ title: 'meh' }] } } });
    assert.equal(moderate.status, 0, moderate.out);
    assert.match(moderate.out, /moderate 1/);
  });

  test('fails on a high or critical advisory and names the package', () => {
    const report = {
      ...counts({ high: 1, critical: 1 }),
      vulnerabilities: {
        'bad-lib': { severity: 'critical', range: '<2.0.0', via: [{ title: 'Prototype pollution', url: 'https://example.invalid/a' }], fixAvailable: true },
        wrapper: { severity: 'high', via: ['bad-lib'] },
      },
    };
    const run = gate(report);
    assert.equal(run.status, 1, run.out);
    assert.match(run.out, /critical\s+bad-lib <2\.0\.0: Prototype pollution/);
    assert.match(run.out, /high\s+wrapper \(through bad-lib\)/);
  });

  test('an audit that could not run fails, or only warns when told so', () => {
    const offline = { error: { code: 'ENOTFOUND', summary: 'no network' } };
    const failed = gate(offline);
    assert.equal(failed.status, 2, failed.out);
    assert.match(failed.out, /could not reach the advisory database: ENOTFOUND/);
    const warned = gate(offline, { SPINDLE_AUDIT_OFFLINE: 'warn' });
    assert.equal(warned.status, 0, warned.out);
    assert.match(warned.out, /WARNING/);
    assert.equal(gate('not a report').status, 2);
  });
});
