// The CLI's usage layer, whatever it connects to: help and version, bad usage and bad values
// (exit 2, nothing created), unreachable servers and databases (exit 4), the precedence of
// flags over environment over defaults, `bench` (dry run only: benchmarks never run in tests)
// and `demo`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { oneErrorLine, PG_URL, ROOT, spindle, tempDir, WORKERS, type RunResult } from './helpers.js';

function fails(r: RunResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, wanted ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const line = oneErrorLine(r);
  assert.match(line, /^spindle: /);
  assert.match(line, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('spindle usage', () => {
  it('--help and --version exit 0; no command or a bare group is a usage error', async () => {
    const [help, version, none, group] = await Promise.all([spindle(['--help']), spindle(['--version']), spindle([]), spindle(['dlq'])]);
    assert.equal(help.code, 0);
    for (const command of ['serve', 'migrate', 'enqueue', 'jobs', 'dlq', 'queues', 'schedules', 'topics', 'stats', 'top', 'demo', 'bench']) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));
    assert.match(help.stdout, /Exit codes:/);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.equal(none.code, 2);
    assert.equal(group.code, 2);
    assert.match(group.stderr, /Usage: spindle dlq/);
  });

  it('bad usage and bad values exit 2 with one line, before anything is opened or created', async () => {
    const tmp = tempDir();
    try {
      const db = ['--db', join(tmp.dir, 'never.db')];
      const cases: Array<[string[], RegExp]> = [
        [['nope'], /unknown command 'nope'/],
        [['jobs', 'ls', '--bogus'], /unknown option '--bogus'/],
        [['enqueue', 'emails'], /missing required argument 'name'/],
        [[...db, 'enqueue', 'emails', 'welcome', '--delay', 'soon'], /^spindle: --delay must be a number of milliseconds from 0 to \d+ \(got "soon"\)$/],
        [[...db, 'enqueue', 'emails', 'welcome', '--priority', '5000'], /--priority must be critical, high, normal, low or an integer from 0 to 1000/],
        [[...db, 'enqueue', 'emails', 'welcome', '--max-retries', '-1'], /--max-retries must be an integer from 0 to 1000 \(got "-1"\)/],
        [[...db, 'enqueue', 'emails', 'welcome', '--job-id', 'has space'], /--job-id must be 1-255 characters/],
        [[...db, 'enqueue', 'bad queue!', 'welcome'], /invalid queue name "bad queue!"/],
        [[...db, 'enqueue', 'emails', 'bad name!'], /invalid job name "bad name!"/],
        [[...db, 'enqueue', 'emails', 'welcome', '{"a":1}', '--data', '{}'], /either as an argument or with --data, not both/],
        [[...db, 'enqueue', 'emails', 'welcome', 'not json'], /payload is not valid JSON/],
        [[...db, 'jobs', 'ls', '--state', 'done'], /--state "done" is not a state/],
        [[...db, 'jobs', 'ls', '--limit', '0'], /--limit must be an integer from 1 to 1000 \(got "0"\)/],
        [[...db, 'jobs', 'show', 'bad id'], /invalid job id "bad id"/],
        [[...db, 'dlq', 'replay', 'work'], /choose the dead jobs: --ids a,b or --all/],
        [[...db, 'dlq', 'purge', 'work', '--ids', 'a', '--all'], /either --ids or --all, not both/],
        [[...db, 'dlq', 'purge', 'work', '--ids', 'a b'], /--ids "a b" is not a valid job id/],
        [[...db, 'dlq', 'purge', 'work', '--all'], /refusing to purge every dead job of work without --yes/],
        [[...db, 'dlq', 'resolve', 'work', '--all', '--note', ' '], /--note must be 1 to 2000 characters/],
        [[...db, 'top', '--interval', '0'], /--interval must be a number of seconds from 0.5 to 3600/],
        [[...db, 'serve', '--log-level', 'loud'], /--log-level must be one of/],
        [[...db, 'serve', '--port', '70000'], /--port must be a port from 0 to 65535/],
        [[...db, 'serve', '--workers', 'nowhere.mjs'], /--workers nowhere\.mjs: no such file/],
        [[...db, 'serve', '--workers', 'packages/cli/test/fixtures/not-a-function.mjs'], /must export a default function/],
        [[...db, 'serve', '--alerts-file', 'packages/cli/test/fixtures/bad-alerts.json'], /--alerts-file packages\/cli\/test\/fixtures\/bad-alerts\.json: rules\[1\]\.threshold: /],
        [[...db, 'serve', '--alerts-file', 'nowhere.json'], /--alerts-file nowhere\.json: cannot read the alerts file \(ENOENT\)/],
        [['--url', 'http://x', ...db, 'jobs', 'ls'], /either --url .* or --db .*, not both/],
        [['--url', 'ftp://x', 'jobs', 'ls'], /--url must be an http:\/\/ or https:\/\/ URL/],
        [['--url', 'http://127.0.0.1:7700', 'migrate'], /needs a database/],
        [[...db, '--schema', 'x', 'jobs', 'ls'], /--schema only applies to PostgreSQL/],
        [[...db, '--api-key', 'k', 'jobs', 'ls'], /--api-key only applies with --url/],
        [['--db', PG_URL, '--schema', 'bad schema', 'jobs', 'ls'], /invalid --schema "bad schema"/],
      ];
      const results: RunResult[] = [];
      for (let i = 0; i < cases.length; i += 6) results.push(...(await Promise.all(cases.slice(i, i + 6).map(([args]) => spindle(args)))));
      results.forEach((r, i) => fails(r, 2, cases[i]![1]));
      assert.deepEqual(readdirSync(tmp.dir), [], 'no database was created');
    } finally {
      tmp.cleanup();
    }
  });

  it('an unreachable server or database exits 4 with one line', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const tmp = tempDir();
    try {
      const missing = join(tmp.dir, 'missing.db');
      const [ls, enqueue, tail, pause, stats, noFile, pgDown, pgNoDb, pgMigrate] = await Promise.all([
        spindle(['--url', url, 'jobs', 'ls']),
        spindle(['--url', url, 'enqueue', 'emails', 'welcome', '{}']),
        spindle(['--url', url, 'jobs', 'tail', 'some-id']),
        spindle(['--url', url, 'queues', 'pause', 'emails']),
        spindle(['--url', url, 'stats']),
        spindle(['--db', missing, 'dlq', 'ls']),
        spindle(['--db', `postgres://postgres@127.0.0.1:${port}/test`, 'jobs', 'ls']),
        spindle(['--db', 'postgres://postgres@127.0.0.1:5432/spindle_no_such_db', 'jobs', 'ls']),
        spindle(['--db', `postgres://postgres@127.0.0.1:${port}/test`, 'migrate']),
      ]);
      for (const r of [ls, enqueue, tail, pause, stats]) fails(r, 4, new RegExp(`^spindle: cannot connect to ${url}: connection refused$`));
      fails(noFile, 4, /no Spindle database at .*missing\.db \(create one with `spindle migrate/);
      assert.ok(!existsSync(missing), 'a read does not create the file');
      fails(pgDown, 4, new RegExp(`cannot use the database postgres://postgres@127\\.0\\.0\\.1:${port}/test \\(schema spindle\\): connection refused`));
      fails(pgNoDb, 4, /cannot use the database .*spindle_no_such_db.*database "spindle_no_such_db" does not exist/);
      fails(pgMigrate, 4, /connection refused/);
    } finally {
      tmp.cleanup();
    }
  });

  it('flags beat environment variables, which beat the default', async () => {
    const tmp = tempDir();
    const port = await closedPort();
    try {
      const envDb = join(tmp.dir, 'env.db');
      const flagDb = join(tmp.dir, 'flag.db');
      const env = { SPINDLE_DB: envDb };
      const viaEnv = await spindle(['enqueue', 'emails', 'welcome', '--data', '@-'], { env, input: '{"from":"stdin"}' });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.ok(existsSync(envDb), 'SPINDLE_DB names the database');
      const viaFlag = await spindle(['--db', flagDb, 'enqueue', 'emails', 'welcome'], { env });
      assert.equal(viaFlag.code, 0, viaFlag.stderr);
      assert.ok(existsSync(flagDb), '--db wins over SPINDLE_DB');
      const urlEnv = { SPINDLE_URL: `http://127.0.0.1:${port}`, SPINDLE_DB: envDb };
      const [viaUrl, dbFlagOverUrl] = await Promise.all([spindle(['jobs', 'ls'], { env: urlEnv }), spindle(['--db', flagDb, '--json', 'jobs', 'ls'], { env: urlEnv })]);
      fails(viaUrl, 4, new RegExp(`cannot connect to http://127\\.0\\.0\\.1:${port}`));
      assert.equal(dbFlagOverUrl.code, 0, dbFlagOverUrl.stderr);
      assert.equal((JSON.parse(dbFlagOverUrl.stdout) as { jobs: unknown[] }).jobs.length, 1);
      const fromStdin = await spindle(['--json', 'jobs', 'ls'], { env });
      assert.deepEqual((JSON.parse(fromStdin.stdout) as { jobs: Array<{ payload: unknown }> }).jobs.map((j) => j.payload), [{ from: 'stdin' }], '--data @- reads stdin');
    } finally {
      tmp.cleanup();
    }
  });

  it('DATABASE_URL names a PostgreSQL database when SPINDLE_DB does not; other schemes are ignored', async () => {
    const tmp = tempDir();
    const port = await closedPort();
    try {
      const pgDown = `postgres://postgres@127.0.0.1:${port}/test`;
      fails(await spindle(['jobs', 'ls'], { env: { DATABASE_URL: pgDown } }), 4, new RegExp(`127\\.0\\.0\\.1:${port}`));
      const envDb = join(tmp.dir, 'env.db');
      const both = await spindle(['enqueue', 'emails', 'welcome'], { env: { DATABASE_URL: pgDown, SPINDLE_DB: envDb } });
      assert.equal(both.code, 0, both.stderr);
      assert.ok(existsSync(envDb), 'SPINDLE_DB wins over DATABASE_URL');
      // Not PostgreSQL: not ours, so the default SQLite file is used (here: missing, exit 4).
      const mysql = await spindle(['--json', 'jobs', 'ls'], { env: { DATABASE_URL: 'mysql://root@127.0.0.1/app' } });
      assert.doesNotMatch(mysql.stderr, /mysql/);
      if (mysql.code !== 0) fails(mysql, 4, /\.spindle\/spindle\.db/);
    } finally {
      tmp.cleanup();
    }
  });

  it('keys: bad input exits 2 and writes nothing; an unknown id exits 3; ls never shows hashes', async () => {
    const tmp = tempDir();
    try {
      const keysFile = join(tmp.dir, 'keys.json');
      fails(await spindle(['keys', 'create', 'ops', '--keys-file', keysFile]), 2, /--role or --actions/);
      fails(await spindle(['keys', 'create', 'ops', '--keys-file', keysFile, '--role', 'root']), 2, /--role must be one of/);
      fails(await spindle(['keys', 'create', 'ops', '--keys-file', keysFile, '--actions', 'read,fly']), 2, /--actions must list/);
      fails(await spindle(['keys', 'create', 'ops', '--keys-file', keysFile, '--role', 'admin', '--queues', 'a b']), 2, /queue/);
      assert.ok(!existsSync(keysFile), 'nothing written');
      const made = await spindle(['keys', 'create', 'ops', '--keys-file', keysFile, '--role', 'read-only', '--queues', 'reports.*']);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout.trim(), /^spk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      const listed = await spindle(['--json', 'keys', 'ls', '--keys-file', keysFile]);
      assert.equal(listed.code, 0, listed.stderr);
      const keys = (JSON.parse(listed.stdout) as { keys: Array<Record<string, unknown>> }).keys;
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.hash, undefined);
      assert.deepEqual(keys[0]!.scopes, [{ queues: ['reports.*'], actions: ['read', 'read-payload'] }]);
      fails(await spindle(['keys', 'revoke', '0123456789ab', '--keys-file', keysFile]), 3, /no key 0123456789ab/);
      fails(await spindle(['keys', 'ls', '--keys-file', join(tmp.dir, 'missing.json')]), 3, /no keys file/);
      writeFileSync(join(tmp.dir, 'bad.json'), '{"keys":[{"id":"x"}]}');
      fails(await spindle(['keys', 'create', 'ops', '--keys-file', join(tmp.dir, 'bad.json'), '--role', 'admin']), 2, /not a valid keys file/);
      assert.equal(readFileSync(join(tmp.dir, 'bad.json'), 'utf8'), '{"keys":[{"id":"x"}]}', 'a malformed file is not rewritten');
    } finally {
      tmp.cleanup();
    }
  });

  it('bench runs `npm run bench -- …` in the repository root (dry run)', async () => {
    const [quick, extra, json] = await Promise.all([
      spindle(['bench', '--dry-run', '--quick']),
      spindle(['bench', '--dry-run', '--', '--systems', 'spindle-sqlite']),
      spindle(['--json', 'bench', '--dry-run', '--quick']),
    ]);
    assert.equal(quick.code, 0, quick.stderr);
    assert.equal(quick.stdout, `would run in ${ROOT}: npm run bench -- --quick\n`);
    assert.equal(extra.stdout, `would run in ${ROOT}: npm run bench -- --systems spindle-sqlite\n`);
    assert.deepEqual(JSON.parse(json.stdout), { cwd: ROOT, command: ['npm', 'run', 'bench', '--', '--quick'] });
  });

  it('serve stops cleanly on SIGINT with its workers module loaded', async () => {
    const tmp = tempDir();
    try {
      const { serve } = await import('./helpers.js');
      const served = await serve(['--db', join(tmp.dir, 's.db')], ['--workers', WORKERS]);
      // The URL lines follow the first one; under load they may arrive in a later chunk.
      for (let i = 0; i < 100 && !/docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/.test(served.output()); i++) await new Promise((r) => setTimeout(r, 50));
      if (!/docs\s+http/.test(served.output())) served.child.kill('SIGKILL');
      assert.match(served.output(), /docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
      assert.match(served.output(), /dashboard\s+http:\/\/127\.0\.0\.1:\d+\//);
      const health = await fetch(`${served.url}/readyz`);
      assert.equal(health.status, 200);
      served.child.kill('SIGINT');
      const code = await new Promise((r) => served.child.once('exit', r));
      assert.equal(code, 0, served.output());
      assert.match(served.output(), /spindle: stopped/);
    } finally {
      tmp.cleanup();
    }
  });

  it('demo runs for --duration, stops with no job left running, and a restart resumes', async () => {
    const tmp = tempDir();
    try {
      const db = join(tmp.dir, 'demo.db');
      const first = await spindle(['--db', db, 'demo', '--port', '0', '--duration', '2', '--seed', '7', '--speed', '10']);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.match(first.stdout, /API\s+http:\/\/127\.0\.0\.1:\d+\/api\/v1\n/);
      assert.match(first.stdout, /docs\s+http:\/\/127\.0\.0\.1:\d+\/docs\n/);
      assert.match(first.stdout, /events\s+http:\/\/127\.0\.0\.1:\d+\/api\/v1\/events\n/);
      assert.match(first.stdout, /demo stopped; `spindle demo --db .*demo\.db` resumes it\n$/);
      const running = await spindle(['--db', db, '--json', 'jobs', 'ls', '--state', 'running']);
      assert.deepEqual(JSON.parse(running.stdout), { jobs: [], nextCursor: null }, 'no job left running');
      const again = await spindle(['--db', db, 'demo', '--port', '0', '--duration', '1', '--seed', '7', '--speed', '10']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      const from = /\(from #(\d+)\)/.exec(again.stdout);
      assert.ok(from && Number(from[1]) > 1, `the second run continues the first one's uploads:\n${again.stdout}`);
    } finally {
      tmp.cleanup();
    }
  });
});
