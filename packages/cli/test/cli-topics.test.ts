// `spindle topics create|ls|publish|tail|lag|seek` as a user runs them: against a SQLite file
// (`--db`), PostgreSQL (`--db postgres://… --schema`) and a running server (`--url`). Bad input
// exits 2 with one line and writes nothing; unknown topics and groups exit 3.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, silentLogger } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SqliteBackend } from '@spindle/sqlite';
import { dropSchema, randomSchema } from '../../postgres/test/helpers.js';
import { collect, oneErrorLine, PG_URL, serve, spindle, start, tempDir, waitFor, type RunResult } from './helpers.js';

interface Target {
  conn: string[];
  /** A library client on the same database (to make a consumer group), or null over HTTP. */
  client(): Promise<Client>;
  cleanup(): Promise<void>;
}

const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

function fails(r: RunResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, wanted ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const line = oneErrorLine(r);
  assert.match(line, /^spindle: /);
  assert.match(line, message);
}

function topicsScenario(label: string, setup: () => Promise<Target>): void {
  describe(label, () => {
    let t: Target;
    const run = (...args: string[]) => spindle([...t.conn, ...args]);
    const runWith = (input: string, ...args: string[]) => spindle([...t.conn, ...args], { input });
    const json = async (...args: string[]) => {
      const r = await run('--json', ...args);
      ok(r, args.join(' '));
      return JSON.parse(r.stdout);
    };

    before(async () => {
      t = await setup();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('bad input exits 2 with one line and writes nothing', async () => {
      ok(await run('topics', 'create', 'base'), 'create');
      const cases: Array<[string[], RegExp]> = [
        [['topics', 'create', 'bad name'], /invalid topic name/],
        [['topics', 'create', 'x', '--partitions', '0'], /--partitions must be an integer from 1 to 1024/],
        [['topics', 'create', 'x', '--max-age', 'forever'], /--max-age must be a duration/],
        [['topics', 'publish', 'base', '{"a":'], /payload is not valid JSON/],
        [['topics', 'publish', 'base'], /give the message value/],
        [['topics', 'publish', 'base', '1', '--header', 'novalue'], /--header must be name=value/],
        [['topics', 'publish', 'base', '1', '--data', '2'], /either as an argument or with --data/],
        [['topics', 'tail', 'base', '--from', 'soon'], /--from must be earliest, latest or an offset/],
        [['topics', 'tail', 'base', '--partition', '5'], /--partition: base has partitions 0..0/],
        [['topics', 'seek', 'base', 'g', '--to', 'yesterday'], /--to must be earliest, latest/],
        [['topics', 'seek', 'base', 'g'], /required option '--to/],
        [['topics', 'lag', 'base', 'bad group!'], /invalid group name/],
      ];
      const results = await Promise.all(cases.map(([args]) => run(...args)));
      results.forEach((r, i) => fails(r, 2, cases[i]![1]));
      fails(await runWith('1\n{"broken":\n', 'topics', 'publish', 'base', '--ndjson'), 2, /stdin line 2 is not valid JSON/);
      const topics = (await json('topics', 'ls')).topics as Array<{ name: string; offsets: Array<{ highWater: number }> }>;
      assert.deepEqual(topics.map((x) => [x.name, x.offsets[0]!.highWater]), [['base', 0]], 'nothing was written');
    });

    it('create, ls, publish (value, --data, --ndjson, keys, headers, idempotency), tail; out of range → 2; unknown → 3', async () => {
      const created = await run('topics', 'create', 'orders', '--partitions', '2', '--max-age', '7d');
      ok(created, 'create');
      assert.match(created.stdout, /^created topic orders with 2 partition\(s\), retention age 7d/);
      const again = await json('topics', 'create', 'orders', '--partitions', '3');
      assert.deepEqual([again.created, again.partitions, again.retention], [false, 2, { maxAgeMs: 7 * 86_400_000, maxBytes: null }]);

      const one = await run('topics', 'publish', 'orders', '{"n":1}', '--key', 'k1', '--header', 'source=cli', '--header', 'v=2');
      ok(one, 'publish');
      const [p1] = /^[01]/.exec(one.stdout)!;
      assert.equal(one.stdout, `${p1}:0\n`);
      const dup = await json('topics', 'publish', 'orders', '{"n":2}', '--key', 'k1', '--idempotency-key', 'once');
      const dup2 = await json('topics', 'publish', 'orders', '{"n":2}', '--key', 'k1', '--idempotency-key', 'once');
      assert.deepEqual(dup2.messages, [{ ...dup.messages[0], duplicate: true }]);
      ok(await runWith('"from stdin"', 'topics', 'publish', 'orders', '--data', '@-', '--key', 'k1'), 'publish --data @-');
      const nd = await runWith('{"line":1}\n\n{"line":2}\n3\n', '--json', 'topics', 'publish', 'orders', '--ndjson', '--key', 'k1');
      ok(nd, 'publish --ndjson');
      assert.deepEqual(JSON.parse(nd.stdout).messages.map((m: { offset: number; partition: number }) => `${m.partition}:${m.offset}`), [`${p1}:3`, `${p1}:4`, `${p1}:5`]);

      const ls = await run('topics', 'ls');
      ok(ls, 'ls');
      assert.match(ls.stdout, /^NAME\s+PARTITIONS\s+MESSAGES\s+HIGH WATER\s+RETENTION\s+CREATED/);
      assert.match(ls.stdout, /orders\s+2\s+6\s+6\s+age 7d/);

      const tail = await run('--json', 'topics', 'tail', 'orders', '--partition', p1!);
      ok(tail, 'tail');
      const lines = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; value: unknown; key: string; headers: unknown });
      assert.deepEqual(lines.map((m) => m.value), [{ n: 1 }, { n: 2 }, 'from stdin', { line: 1 }, { line: 2 }, 3]);
      assert.deepEqual([lines[0]!.key, lines[0]!.headers], ['k1', { source: 'cli', v: '2' }]);
      fails(await run('topics', 'tail', 'orders', '--from', '4'), 2, /--from <offset> needs --partition/);
      const human = await run('topics', 'tail', 'orders', '--partition', p1!, '--from', '4');
      ok(human, 'tail --from 4');
      assert.equal(human.stdout, `${p1}:4 k1 {"line":2}\n${p1}:5 k1 3\n`);
      const latest = await run('topics', 'tail', 'orders', '--from', 'latest');
      assert.deepEqual([latest.code, latest.stdout], [0, '']);

      fails(await run('topics', 'tail', 'orders', '--partition', p1!, '--from', '99'), 2, /out of range/);
      for (const args of [
        ['topics', 'publish', 'nope', '1'],
        ['topics', 'tail', 'nope'],
        ['topics', 'lag', 'nope'],
        ['topics', 'lag', 'orders', 'nogroup'],
        ['topics', 'seek', 'nope', 'g', '--to', 'earliest'],
        ['topics', 'seek', 'orders', 'nogroup', '--to', 'earliest'],
      ]) fails(await run(...args), 3, /no (topic|group)/i);
    });

    it('tail --follow prints new messages; lag and seek of a consumer group', async () => {
      ok(await run('topics', 'create', 'live'), 'create');
      const child = start([...t.conn, 'topics', 'tail', 'live', '--follow']);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const done = collect(child);
      await new Promise((r) => setTimeout(r, 1500));
      ok(await run('topics', 'publish', 'live', '{"hello":"world"}'), 'publish');
      await waitFor(() => out, /0:0 - \{"hello":"world"\}/, child, 15_000);
      // The follow is now inside a long-poll (5 s over HTTP): Ctrl-C must not wait for it.
      await new Promise((r) => setTimeout(r, 500));
      const interruptedAt = Date.now();
      child.kill('SIGINT');
      assert.equal((await done).code, 0, 'Ctrl-C ends a follow');
      const exitMs = Date.now() - interruptedAt;
      assert.ok(exitMs < 2000, `the follow exits promptly after Ctrl-C (took ${exitMs} ms)`);

      ok(await run('topics', 'publish', 'live', '2'), 'publish');
      ok(await run('topics', 'publish', 'live', '3'), 'publish');
      const client = await t.client();
      try {
        await client.run((b) => b.joinGroup({ topic: 'live', group: 'billing', memberId: 'm1', sessionMs: 60_000, start: 'earliest' }));
      } finally {
        await client.close();
      }
      const lag = await run('topics', 'lag', 'live');
      ok(lag, 'lag');
      assert.match(lag.stdout, /^GROUP\s+PARTITION\s+COMMITTED\s+HIGH WATER\s+LAG\s+MEMBER/);
      assert.match(lag.stdout, /billing\s+0\s+0\s+3\s+3\s+m1/);
      const latest = await run('topics', 'seek', 'live', 'billing', '--to', 'latest');
      ok(latest, 'seek latest');
      assert.match(latest.stdout, /^moved group billing of live \(generation \d+\): 0:3; lag 0/);
      const moved = await json('topics', 'seek', 'live', 'billing', '--to', '0:1');
      assert.deepEqual([moved.offsets[0].committed, moved.lag], [1, 2]);
      const byTime = await json('topics', 'seek', 'live', 'billing', '--to', '2000-01-01T00:00:00Z');
      assert.equal(byTime.offsets[0].committed, 0);
      const one = await json('topics', 'lag', 'live', 'billing');
      assert.deepEqual(one.groups.map((g: { group: string; lag: number }) => [g.group, g.lag]), [['billing', 3]]);
    });
  });
}

topicsScenario('spindle topics --db <sqlite file>', async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'spindle.db');
  ok(await spindle(['--db', path, 'migrate']), 'migrate');
  return {
    conn: ['--db', path],
    client: () => Client.open({ backend: new SqliteBackend({ path }), logger: silentLogger, maintenance: false }),
    async cleanup() {
      tmp.cleanup();
    },
  };
});

topicsScenario('spindle topics --url <server>', async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'served.db');
  const served = await serve(['--db', path]);
  return {
    conn: ['--url', served.url],
    client: () => Client.open({ backend: new SqliteBackend({ path }), logger: silentLogger, maintenance: false }),
    async cleanup() {
      assert.equal(await served.stop(), 0, served.output());
      tmp.cleanup();
    },
  };
});

topicsScenario('spindle topics --db postgres://… --schema <s>', async () => {
  const schema = randomSchema();
  ok(await spindle(['--db', PG_URL, '--schema', schema, 'migrate']), 'migrate');
  return {
    conn: ['--db', PG_URL, '--schema', schema],
    client: () => Client.open({ backend: new PostgresBackend({ connectionString: PG_URL, schema, poolMax: 2 }), logger: silentLogger, maintenance: false }),
    async cleanup() {
      await dropSchema(schema, PG_URL);
    },
  };
});
