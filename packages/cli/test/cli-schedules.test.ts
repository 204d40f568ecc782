// `spindle schedules ls|show|set|pause|resume|run|rm` as a user runs them: against a SQLite file
// (`--db`), PostgreSQL (`--db postgres://… --schema`, never skipped) and a running server
// (`--url`), each time with a `spindle serve` process leading maintenance, which fires the
// schedules. Bad input exits 2 with one line and writes nothing; unknown schedules exit 3.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dropSchema, randomSchema } from '../../postgres/test/helpers.js';
import { oneErrorLine, PG_URL, serve, spindle, tempDir, type RunResult, type Served } from './helpers.js';

interface Target {
  conn: string[];
  cleanup(): Promise<void>;
}

const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

function fails(r: RunResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, wanted ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const line = oneErrorLine(r);
  assert.match(line, /^spindle: /);
  assert.match(line, message);
}

async function stopped(served: Served): Promise<void> {
  assert.equal(await served.stop(), 0, served.output());
}

function schedulesScenario(label: string, setup: () => Promise<Target>): void {
  describe(label, () => {
    let t: Target;
    const run = (...args: string[]) => spindle([...t.conn, ...args]);
    const names = async () => ((JSON.parse((await run('--json', 'schedules', 'ls')).stdout) as { schedules: Array<{ name: string }> }).schedules.map((s) => s.name));

    before(async () => {
      t = await setup();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('set: bad input exits 2 with one line and writes nothing', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['schedules', 'set', 'bad', '--queue', 'q', '--cron', 'every morning'], /invalid schedule: cron must be a cron expression/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--cron', '61 * * * *'], /invalid schedule: cron is not a valid cron expression/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--cron', '* * * * *', '--tz', 'Mars/Olympus'], /timezone must be an IANA time zone/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--cron', '* * * * *', '--every', '5m'], /exactly one of --cron/],
        [['schedules', 'set', 'bad', '--queue', 'q'], /exactly one of --cron/],
        [['schedules', 'set', 'bad', '--every', '5m'], /needs --queue/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--every', '500ms'], /--every must be an interval of at least 1s/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--every', '5m', '--backfill', '5000'], /--backfill/],
        [['schedules', 'set', 'bad', '--queue', 'q', '--every', '5m', '--data', '{"a":'], /payload is not valid JSON/],
        [['schedules', 'set', 'bad name', '--queue', 'q', '--every', '5m'], /invalid schedule name/],
      ];
      const results = await Promise.all(cases.map(([args]) => run(...args)));
      results.forEach((r, i) => fails(r, 2, cases[i]![1]));
      assert.deepEqual(await names(), [], 'nothing was written');
    });

    it('set, ls, show; the serving leader fires it; pause, run, resume, rm; unknown schedules exit 3', async () => {
      const created = await run('schedules', 'set', 'beat', '--queue', 'cli-ticks', '--every', '1s', '--data', '{"n":1}', '--priority', 'high', '--backfill', '3');
      ok(created, 'set');
      assert.match(created.stdout, /^created schedule beat → cli-ticks\/beat, every 1\.0s; next run \S+Z/);
      ok(await run('schedules', 'set', 'morning', '--queue', 'mail', '--cron', '0 9 * * 1-5', '--tz', 'Europe/Berlin', '--job-name', 'digest'), 'set cron');
      const again = await run('--json', 'schedules', 'set', 'morning', '--queue', 'mail', '--cron', '0 9 * * 1-5', '--tz', 'Europe/Berlin', '--job-name', 'digest');
      ok(again, 'set again');
      assert.deepEqual([JSON.parse(again.stdout).created, JSON.parse(again.stdout).version], [false, 1]);

      const ls = await run('schedules', 'ls');
      ok(ls, 'ls');
      assert.match(ls.stdout, /^NAME\s+QUEUE\s+JOB\s+WHEN\s+STATE\s+NEXT RUN\s+LAST RUN/);
      assert.match(ls.stdout, /morning\s+mail\s+digest\s+0 9 \* \* 1-5 \(Europe\/Berlin\)\s+active/);
      assert.deepEqual(await names(), ['beat', 'morning']);
      const show = JSON.parse((await run('--json', 'schedules', 'show', 'morning')).stdout) as { upcoming: string[]; timezone: string; jobName: string };
      assert.deepEqual([show.upcoming.length, show.timezone, show.jobName], [5, 'Europe/Berlin', 'digest']);
      ok(await run('schedules', 'show', 'beat'), 'show');

      // `spindle serve` leads maintenance: it fires the 1-second schedule.
      let ticks: Array<{ id: string; priority: number; payload: unknown }> = [];
      for (let i = 0; i < 40 && ticks.length === 0; i++) {
        ticks = (JSON.parse((await run('--json', 'jobs', 'ls', '--queue', 'cli-ticks')).stdout) as { jobs: typeof ticks }).jobs;
        if (ticks.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(ticks.length > 0, 'the server fired the schedule');
      assert.match(ticks[0]!.id, /^schedule:beat:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      assert.deepEqual([ticks[0]!.priority, ticks[0]!.payload], [250, { n: 1 }]);

      const paused = await run('schedules', 'pause', 'beat');
      ok(paused, 'pause');
      assert.equal(paused.stdout, 'paused schedule beat\n');
      const manual = await run('schedules', 'run', 'beat');
      ok(manual, 'run');
      assert.match(manual.stdout, /^[0-9a-f-]{36}\n$/);
      const stillPaused = JSON.parse((await run('--json', 'schedules', 'show', 'beat')).stdout) as { paused: boolean; nextRunAt: string | null };
      assert.deepEqual([stillPaused.paused, stillPaused.nextRunAt], [true, null]);
      const resumed = await run('schedules', 'resume', 'beat');
      ok(resumed, 'resume');
      assert.match(resumed.stdout, /^resumed schedule beat; next run \S+Z\n$/);
      const removed = await run('schedules', 'rm', 'beat');
      ok(removed, 'rm');
      assert.equal(removed.stdout, 'removed schedule beat\n');
      assert.deepEqual(await names(), ['morning']);

      const missing = await Promise.all([
        run('schedules', 'show', 'beat'),
        run('schedules', 'rm', 'beat'),
        run('schedules', 'pause', 'beat'),
        run('schedules', 'resume', 'beat'),
        run('schedules', 'run', 'beat'),
      ]);
      for (const r of missing) fails(r, 3, /no schedule beat/i);
    });
  });
}

schedulesScenario('spindle schedules --db <sqlite file>', async () => {
  const tmp = tempDir();
  const conn = ['--db', join(tmp.dir, 'spindle.db')];
  ok(await spindle([...conn, 'migrate']), 'migrate');
  const served = await serve(conn);
  return {
    conn,
    async cleanup() {
      await stopped(served);
      tmp.cleanup();
    },
  };
});

schedulesScenario('spindle schedules --url <server>', async () => {
  const tmp = tempDir();
  const served = await serve(['--db', join(tmp.dir, 'served.db')]);
  return {
    conn: ['--url', served.url],
    async cleanup() {
      await stopped(served);
      tmp.cleanup();
    },
  };
});

schedulesScenario('spindle schedules --db postgres://… --schema <s>', async () => {
  const schema = randomSchema();
  const conn = ['--db', PG_URL, '--schema', schema];
  ok(await spindle([...conn, 'migrate']), 'migrate');
  const served = await serve(conn);
  return {
    conn,
    async cleanup() {
      try {
        await stopped(served);
      } finally {
        await dropSchema(schema, PG_URL);
      }
    },
  };
});
