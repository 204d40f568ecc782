/**
 * The CLI scenario every connection kind runs: each command of `spindle` as a user runs it,
 * against (a) a SQLite file, (b) PostgreSQL, (c) a running server (`--url`), with the bad input
 * of each command (unknown queue/job, bad JSON, bad numbers) asserting the one-line message,
 * the exit code, and that nothing was written. A `spindle serve --workers` process runs the
 * fixture workers (test/fixtures/workers.mjs) on the same database in every case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect, lastLine, oneErrorLine, spindle, start, waitFor, type RunResult } from './helpers.js';

export interface ScenarioTarget {
  kind: 'sqlite' | 'postgres' | 'http';
  /** Connection flags of every command. */
  conn: string[];
  /** A folder for files the test writes (payloads, gates). */
  dir: string;
  cleanup(): Promise<void>;
}

const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

function fails(r: RunResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, wanted ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const line = oneErrorLine(r);
  assert.match(line, /^spindle: /);
  assert.match(line, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** Waits (with `jobs tail`) until the job ends dead again, as the fixture makes replayed jobs do. */
async function waitUntilDead(conn: string[], id: string): Promise<void> {
  const r = await spindle([...conn, 'jobs', 'tail', id]);
  assert.equal(r.code, 5, `job ${id} should end dead again: ${r.stdout}${r.stderr}`);
}

export function scenario(label: string, setup: () => Promise<ScenarioTarget>): void {
  describe(label, () => {
    let t: ScenarioTarget;
    const run = (...args: string[]) => spindle([...t.conn, ...args]);
    const count = async (queue: string) => ((JSON.parse((await run('--json', 'jobs', 'ls', '--queue', queue, '--limit', '1000')).stdout) as { jobs: unknown[] }).jobs.length);

    before(async () => {
      t = await setup();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('enqueue: prints the id; options and @file payloads; a duplicate id adds nothing', async () => {
      const first = await run('enqueue', 'emails', 'welcome', '{"to":"ada@example.com"}', '--priority', 'high', '--max-retries', '2', '--job-id', 'fixed-1');
      ok(first, 'enqueue');
      assert.equal(first.stdout, 'fixed-1\n');
      const again = await run('enqueue', 'emails', 'welcome', '{"to":"other"}', '--job-id', 'fixed-1');
      ok(again, 'duplicate enqueue');
      assert.equal(again.stdout, 'fixed-1\n');
      assert.match(again.stderr, /already existed/);
      writeFileSync(join(t.dir, 'payload.json'), '{"to":"later@example.com"}');
      const later = await run('--json', 'enqueue', 'emails', 'digest', '--data', `@${join(t.dir, 'payload.json')}`, '--delay', '600000');
      ok(later, 'enqueue --data @file');
      const body = JSON.parse(later.stdout) as { id: string; status: string; duplicate: boolean };
      assert.deepEqual([body.status, body.duplicate], ['scheduled', false]);
      const shown = JSON.parse((await run('--json', 'jobs', 'show', 'fixed-1')).stdout) as Record<string, unknown>;
      assert.deepEqual([shown.status, shown.priority, shown.maxAttempts, shown.payload], ['queued', 250, 3, { to: 'ada@example.com' }]);
    });

    it('enqueue: bad JSON exits 2 and writes nothing', async () => {
      writeFileSync(join(t.dir, 'broken.json'), '{"to": "x",}');
      const cases: Array<[string[], RegExp]> = [
        [['enqueue', 'emails', 'welcome', '{"to":'], /^spindle: payload is not valid JSON: /],
        [['enqueue', 'emails', 'welcome', '--data', `@${join(t.dir, 'broken.json')}`], /broken\.json is not valid JSON/],
        [['enqueue', 'emails', 'welcome', '--data', '@/nonexistent/p.json'], /cannot read \/nonexistent\/p\.json: no such file/],
      ];
      const results = await Promise.all(cases.map(([args]) => run(...args)));
      results.forEach((r, i) => fails(r, 2, cases[i]![1]));
      assert.equal(await count('emails'), 2, 'nothing was written');
    });

    it('jobs ls / show: filters, JSON, unknown queue and job', async () => {
      const [all, scheduled, unknownQueue, show, unknownJob, byName, firstPage] = await Promise.all([
        run('--json', 'jobs', 'ls'),
        run('jobs', 'ls', '--queue', 'emails', '--state', 'scheduled'),
        run('jobs', 'ls', '--queue', 'nope'),
        run('jobs', 'show', 'fixed-1'),
        run('jobs', 'show', 'no-such-job'),
        run('--json', 'jobs', 'ls', '--name', 'digest'),
        run('jobs', 'ls', '--queue', 'emails', '--limit', '1'),
      ]);
      assert.deepEqual((JSON.parse(byName.stdout) as { jobs: Array<{ name: string }> }).jobs.map((j) => j.name), ['digest']);
      const cursor = /next page: the same command with --cursor (\S+)/.exec(firstPage.stdout)?.[1];
      assert.ok(cursor, firstPage.stdout);
      assert.match(firstPage.stdout, /\sdigest\s/, 'newest first');
      const secondPage = await run('--json', 'jobs', 'ls', '--queue', 'emails', '--limit', '1', '--cursor', cursor);
      assert.deepEqual(JSON.parse(secondPage.stdout).jobs.map((j: { id: string }) => j.id), ['fixed-1']);
      ok(all, 'jobs ls --json');
      assert.ok((JSON.parse(all.stdout) as { jobs: Array<{ id: string }> }).jobs.some((j) => j.id === 'fixed-1'));
      ok(scheduled, 'jobs ls --state');
      assert.match(scheduled.stdout, /^ID\s+QUEUE\s+NAME\s+STATUS/);
      assert.match(scheduled.stdout, /digest\s+scheduled/);
      assert.doesNotMatch(scheduled.stdout, /welcome/);
      fails(unknownQueue, 3, /unknown queue "nope"/);
      ok(show, 'jobs show');
      assert.match(show.stdout, /job fixed-1\s+queued/);
      assert.match(show.stdout, /"to": "ada@example.com"/);
      fails(unknownJob, 3, /no job no-such-job/);
    });

    it('jobs tail: follows progress to completion (exit 0, final line)', async () => {
      const gate = join(t.dir, 'gate');
      const id = (await run('enqueue', 'work', 'transcode', JSON.stringify({ gate }))).stdout.trim();
      const tail = start([...t.conn, 'jobs', 'tail', id]);
      const done = collect(tail);
      let out = '';
      tail.stdout!.on('data', (d) => (out += d));
      await waitFor(() => out, /(queued|running)\s+attempt/, tail);
      writeFileSync(gate, '');
      const r = await done;
      ok(r, 'jobs tail');
      assert.match(r.stdout, /progress 50%/);
      assert.match(lastLine(r.stdout), new RegExp(`^job ${id} completed in \\S+ result \\{"ok":true`));
      const unknown = await run('jobs', 'tail', 'no-such-job');
      fails(unknown, 3, /no job no-such-job/);
    });

    it('jobs tail: a job that ends dead exits 5 with its reason', async () => {
      const id = (await run('enqueue', 'work', 'transcode', '{"fail":"codec exploded"}', '--max-retries', '0')).stdout.trim();
      const r = await run('jobs', 'tail', id);
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.match(lastLine(r.stdout), new RegExp(`^job ${id} dead after 1 attempt\\(s\\): Error: codec exploded`));
      assert.equal(r.stderr, '');
      const json = await run('--json', 'jobs', 'tail', id); // already dead: one update, then the end
      assert.equal(json.code, 5, json.stderr);
      const docs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; status: string; job: { failureReason: string } });
      assert.deepEqual(docs.map((d) => [d.type, d.status]), [['update', 'dead'], ['end', 'dead']]);
      assert.equal(docs[1]!.job.failureReason, 'Error: codec exploded');
    });

    it('dlq ls / show / groups, and their unknown queue and job', async () => {
      const dead = (JSON.parse((await run('--json', 'jobs', 'ls', '--queue', 'work', '--state', 'dead')).stdout) as { jobs: Array<{ id: string }> }).jobs[0]!.id;
      const [depth, list, show, notDead, groups, unknownQueue, unknownJob] = await Promise.all([
        run('--json', 'dlq', 'ls'),
        run('dlq', 'ls', 'work'),
        run('dlq', 'show', dead),
        run('dlq', 'show', 'fixed-1'),
        run('dlq', 'groups', 'work'),
        run('dlq', 'groups', 'nope'),
        run('dlq', 'show', 'no-such-job'),
      ]);
      ok(depth, 'dlq ls');
      assert.deepEqual(JSON.parse(depth.stdout), { queues: [{ queue: 'work', depth: 1 }] });
      ok(list, 'dlq ls work');
      assert.match(list.stdout, new RegExp(`${dead}\\s+transcode\\s+1/1`));
      ok(show, 'dlq show');
      assert.match(show.stdout, /reason\s+Error: codec exploded/);
      fails(notDead, 3, /job fixed-1 is not in the DLQ \(status queued\)/);
      ok(groups, 'dlq groups');
      assert.match(groups.stdout, /^COUNT\s+REASON/);
      assert.match(groups.stdout, /1\s+Error: codec exploded/);
      fails(unknownQueue, 3, /unknown queue "nope"/);
      fails(unknownJob, 3, /no job no-such-job/);
    });

    it('dlq resolve / replay / purge: by ids and --all; bad selections change nothing', async () => {
      const dead = (JSON.parse((await run('--json', 'dlq', 'ls', 'work')).stdout) as { jobs: Array<{ id: string }> }).jobs[0]!.id;
      const [unknownId, unknownQueue] = await Promise.all([run('dlq', 'replay', 'work', '--ids', `${dead},missing-1`), run('dlq', 'resolve', 'nope', '--all')]);
      fails(unknownId, 3, /no dead job missing-1 in queue work; nothing was changed/);
      fails(unknownQueue, 3, /unknown queue "nope"/);

      const resolved = await run('dlq', 'resolve', 'work', '--ids', dead, '--note', 'known codec bug');
      ok(resolved, 'dlq resolve');
      assert.equal(resolved.stdout, 'resolved 1 dead job of work\n');
      assert.deepEqual(JSON.parse((await run('--json', 'dlq', 'ls')).stdout), { queues: [] });

      const replayed = await run('--json', 'dlq', 'replay', 'work', '--all');
      ok(replayed, 'dlq replay --all');
      assert.deepEqual(JSON.parse(replayed.stdout), { queue: 'work', replayed: 1, skipped: 0 });
      await waitUntilDead(t.conn, dead); // the fixture fails it again

      const again = await run('dlq', 'replay', 'work', '--ids', dead);
      ok(again, 'dlq replay --ids');
      assert.equal(again.stdout, 'replayed 1 dead job of work\n');
      await waitUntilDead(t.conn, dead);

      const purged = await run('dlq', 'purge', 'work', '--all', '--yes');
      ok(purged, 'dlq purge --all --yes');
      assert.equal(purged.stdout, 'purged 1 dead job of work\n');
      fails(await run('jobs', 'show', dead), 3, new RegExp(`no job ${dead}`));
    });

    it('queues ls / pause / resume, unknown queue exit 3 unless --force', async () => {
      const [paused, unknown, forced] = await Promise.all([run('queues', 'pause', 'emails'), run('queues', 'pause', 'nope'), run('queues', 'pause', 'reports', '--force')]);
      ok(paused, 'queues pause');
      assert.equal(paused.stdout, 'paused queue emails\n');
      fails(unknown, 3, /unknown queue "nope"/);
      ok(forced, 'queues pause --force');
      const ls = await run('--json', 'queues', 'ls');
      ok(ls, 'queues ls --json');
      const queues = (JSON.parse(ls.stdout) as { queues: Array<{ name: string; paused: boolean; workers: number }> }).queues;
      assert.deepEqual(queues.map((q) => [q.name, q.paused]), [['emails', true], ['reports', true], ['work', false]]);
      assert.equal(queues.find((q) => q.name === 'work')!.workers, 1);
      ok(await run('queues', 'resume', 'emails'), 'queues resume');
      const table = await run('queues', 'ls');
      assert.match(table.stdout, /^QUEUE\s+STATE\s+QUEUED/);
      assert.match(table.stdout, /\nemails\s+active\s+1\s/);
      assert.match(table.stdout, /\nreports\s+paused\s+0\s/);
    });

    it('queues limit sets and clears limits across processes; bad values exit 2', async () => {
      const set = await run('queues', 'limit', 'capped', '--force', '--concurrency', '3', '--rate', '100/1m', '--group-concurrency', '2', '--group-rate', '10/s');
      ok(set, 'queues limit');
      assert.equal(set.stdout, 'queue capped: 3 running, 100/1m, 2 running per group, 10/1s per group\n');
      const ls = await run('--json', 'queues', 'ls');
      const capped = (JSON.parse(ls.stdout) as { queues: Array<{ name: string; limits: unknown; heldUntil: unknown }> }).queues.find((q) => q.name === 'capped');
      assert.deepEqual(capped?.limits, { concurrency: 3, rate: { max: 100, intervalMs: 60_000 }, groupConcurrency: 2, groupRate: { max: 10, intervalMs: 1000 }, fifo: false });
      assert.equal(capped?.heldUntil, null);
      assert.match((await run('queues', 'ls')).stdout, /\ncapped\s+active\s.*3 running, 100\/1m/);
      fails(await run('queues', 'limit', 'capped', '--fifo', '--group-concurrency', '3'), 2, /groupConcurrency/);
      fails(await run('queues', 'limit', 'capped', '--rate', 'fast'), 2, /--rate/);
      fails(await run('queues', 'limit', 'capped', '--concurrency', '0'), 2, /--concurrency/);
      fails(await run('queues', 'limit', 'nope', '--concurrency', '1'), 3, /unknown queue "nope"/);
      const cleared = await run('--json', 'queues', 'limit', 'capped');
      ok(cleared, 'queues limit (clear)');
      assert.deepEqual(JSON.parse(cleared.stdout), { name: 'capped', limits: { concurrency: null, rate: null, groupConcurrency: null, groupRate: null, fifo: false } });
    });

    it('stats and top (one snapshot when stdout is not a TTY)', async () => {
      const [stats, json, top, unknown] = await Promise.all([run('stats'), run('--json', 'stats', 'work'), run('top', '--interval', '1'), run('stats', 'nope')]);
      ok(stats, 'stats');
      assert.match(stats.stdout, /^QUEUE\s+STATE\s+QUEUED\s+RUNNING/);
      assert.match(stats.stdout, /\nwork\s+active/);
      ok(json, 'stats --json');
      const [work] = (JSON.parse(json.stdout) as { queues: Array<{ name: string; workers: number; latency: { sample: number; runP50Ms: number } }> }).queues;
      assert.equal(work!.name, 'work');
      assert.ok(work!.latency.sample >= 1 && work!.latency.runP50Ms > 0, 'latency from completed jobs');
      ok(top, 'top');
      assert.match(top.stdout, /^QUEUE\s+STATE/);
      assert.doesNotMatch(top.stdout, /\x1b\[/, 'no escape codes when not a TTY');
      fails(unknown, 3, /unknown queue "nope"/);
    });

    it('migrate (direct) or refuses a server URL', async () => {
      if (t.kind === 'http') {
        fails(await run('migrate'), 2, /needs a database/);
        return;
      }
      const [real, dry] = await Promise.all([run('migrate'), run('migrate', '--dry-run')]);
      ok(real, 'migrate');
      assert.match(real.stdout, /is up to date \(schema version \d+\)/);
      ok(dry, 'migrate --dry-run');
      assert.match(dry.stdout, /is up to date: nothing to migrate/);
    });

    it('enqueue --unique: keeps or replaces the holder; jobs show names the key and its hold; bad values exit 2', async () => {
      const first = await run('enqueue', 'debounce', 'index', '{"rev":1}', '--delay', '600000', '--unique', 'doc-1', '--unique-while', 'queued', '--on-conflict', 'replace');
      ok(first, 'enqueue --unique');
      const id = first.stdout.trim();
      const second = await run('--json', 'enqueue', 'debounce', 'index', '{"rev":2}', '--delay', '600000', '--unique', 'doc-1', '--on-conflict', 'replace');
      ok(second, 'enqueue --on-conflict replace');
      assert.deepEqual(JSON.parse(second.stdout), { id, status: 'scheduled', duplicate: true, replaced: true });
      const kept = await run('enqueue', 'debounce', 'index', '{"rev":3}', '--unique', 'doc-1');
      ok(kept, 'enqueue --unique (kept)');
      assert.equal(kept.stdout, `${id}\n`);
      assert.match(kept.stderr, /already existed/);
      const shown = await run('jobs', 'show', id);
      assert.match(shown.stdout, /unique key\s+doc-1\s+\(held until the job starts\)/);
      assert.match(shown.stdout, /"rev": 2/);
      fails(await run('enqueue', 'debounce', 'index', '--unique', 'k', '--unique-while', 'soon'), 2, /--unique-while/);
      fails(await run('enqueue', 'debounce', 'index', '--on-conflict', 'replace'), 2, /need --unique/);
      assert.equal(await count('debounce'), 1, 'nothing else was written');
    });
  });
}
