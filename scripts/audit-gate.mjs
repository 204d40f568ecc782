#!/usr/bin/env node
// The dependency audit gate (reliability S16): fails when the packages Spindle ships with (the
// production dependency tree, `npm audit --omit=dev`) have a high or critical advisory, or when
// the lockfile is not committed. Usage: node scripts/audit-gate.mjs
//
// Exit codes: 0 pass; 1 high/critical advisories found; 2 the audit could not run (registry
// unreachable, npm failed, no lockfile). A gate that cannot look must not pass silently, so an
// unreachable registry fails by default; set SPINDLE_AUDIT_OFFLINE=warn to only warn instead
// (for machines without network; CI should not set it).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FAILING = ['high', 'critical'];
const offlineWarns = process.env.SPINDLE_AUDIT_OFFLINE === 'warn';

function cannotRun(message) {
  if (offlineWarns) {
    console.warn(`audit-gate: WARNING: ${message} (SPINDLE_AUDIT_OFFLINE=warn: not failing)`);
    process.exit(0);
  }
  console.error(`audit-gate: FAILED: ${message}`);
  console.error('audit-gate: the audit could not run, so nothing was checked. Set SPINDLE_AUDIT_OFFLINE=warn to only warn on machines without network.');
  process.exit(2);
}

// The lockfile must exist and, in a git checkout, be committed: the audit is of what it pins.
if (!existsSync(join(root, 'package-lock.json'))) cannotRun('package-lock.json is missing');
const git = spawnSync('git', ['ls-files', '--error-unmatch', 'package-lock.json'], { cwd: root, encoding: 'utf8' });
if (git.error === undefined && git.status !== 0 && existsSync(join(root, '.git'))) {
  console.error('audit-gate: FAILED: package-lock.json is not committed');
  process.exit(1);
}

// SPINDLE_AUDIT_REPORT=<file>: judge a saved `npm audit --json` report instead (the gate's tests).
const saved = process.env.SPINDLE_AUDIT_REPORT;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = saved
  ? { stdout: readFileSync(saved, 'utf8'), stderr: '', status: 0 }
  : spawnSync(npm, ['audit', '--omit=dev', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
if (run.error) cannotRun(`npm audit did not run: ${run.error.message}`);
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  cannotRun(`npm audit printed no JSON (exit ${run.status}): ${(run.stderr || run.stdout).trim().slice(0, 500)}`);
}
if (report.error) {
  // e.g. ENOTFOUND (no network), or a registry mirror without the advisory endpoint (405).
  const why = [report.error.code, report.statusCode && `HTTP ${report.statusCode}`, report.message, report.error.summary].filter(Boolean).join(' ');
  cannotRun(`npm audit could not reach the advisory database: ${why || 'unknown error'}`);
}
const counts = report.metadata?.vulnerabilities;
if (!counts) cannotRun('npm audit answered without vulnerability counts');

const findings = Object.entries(report.vulnerabilities ?? {})
  .filter(([, v]) => FAILING.includes(v.severity))
  .map(([name, v]) => {
    const advisories = (v.via ?? []).filter((x) => typeof x === 'object').map((x) => `${x.title ?? 'advisory'}${x.url ? ` (${x.url})` : ''}`);
    const via = (v.via ?? []).filter((x) => typeof x === 'string');
    return `  ${v.severity.padEnd(8)} ${name}${v.range ? ` ${v.range}` : ''}${advisories.length ? `: ${advisories.join('; ')}` : ''}${via.length ? ` (through ${via.join(', ')})` : ''}${v.fixAvailable ? ' [fix available]' : ''}`;
  });

const summary = ['critical', 'high', 'moderate', 'low', 'info'].map((s) => `${s} ${counts[s] ?? 0}`).join(', ');
console.log(`audit-gate: production dependencies (${report.metadata?.dependencies?.prod ?? '?'} packages): ${summary}`);
if (findings.length > 0) {
  console.error(`audit-gate: FAILED: ${findings.length} package(s) with a high or critical advisory:`);
  console.error(findings.join('\n'));
  console.error('audit-gate: update or override the package (package.json "overrides"), then run npm install to refresh the lockfile.');
  process.exit(1);
}
console.log('audit-gate: passed (no high or critical advisory)');
