#!/usr/bin/env node
// Runs every test file of the workspace with node:test through tsx, against the TypeScript
// sources (the `source` export condition). Usage:
//   node scripts/run-tests.mjs [--extended] [path-substring...]
// Node 20's runner does not expand globs, so the files are found here and passed explicitly.
// `*.extended.test.ts` files (the chaos suite's longer quick tiers: PostgreSQL faults, topic
// crashes, HTTP faults, clock/disk/rolling restarts) run only with --extended (`npm run
// test:extended`): CI runs the per-PR tier of reliability.md §5.7, they stay one command away.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['packages', 'examples', 'bench'];
const files = [];
function walk(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) walk(full);
    else if (entry.endsWith('.test.ts')) files.push(full);
  }
}
for (const root of roots) {
  try { walk(root); } catch { /* root may not exist */ }
}
const args = process.argv.slice(2);
const extended = args.includes('--extended');
const filters = args.filter((a) => a !== '--extended');
const selected = files
  .sort()
  .filter((f) => extended || !f.endsWith('.extended.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.SPINDLE_TEST_CONCURRENCY ?? '2';
// A hung test file fails after this long (node:test has no default timeout: a hang would hold CI
// to its own limit and hide which test hung). The limit applies to each file as a whole too.
const timeoutMs = process.env.SPINDLE_TEST_TIMEOUT_MS ?? '600000';
const result = spawnSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...selected],
  { stdio: 'inherit', env: process.env },
);
process.exit(result.status ?? 1);
