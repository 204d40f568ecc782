/**
 * The HTTP chaos scenarios, quick tier (reliability.md §5.3): C9 (SIGKILL the API server while
 * clients enqueue, claim and ack over HTTP) and C13 (the proxy drops 5 % of enqueue and publish
 * responses after the commit; clients retry), each on a SQLite file and on a fresh PostgreSQL
 * schema (database `test` on 127.0.0.1:5432 unless SPINDLE_PG_URL says otherwise).
 *
 * Each run ends with a fault-free drain, the checker (I1–I13) and the scenario's pass rules; the
 * assertion is an empty violation list plus the counts that show the faults really happened.
 * Measured times are logged, never asserted. First, the HTTP recorder's classification of
 * answers is shown against a stub server (ok / refused / unknown).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/faults/nemesis.js';
import { HttpRecorder } from '../src/http/http-recorder.js';
import { describeHttpViolations, HTTP_REPORT_HEADER, renderHttpReportRow, runHttpScenario, type HttpScenarioReport } from '../src/http/index.js';
import { Recorder } from '../src/recorder.js';
import { BACKEND_KINDS, type BackendKind } from '../src/scenario/backends.js';

const ARTIFACTS = process.env.CHAOS_ARTIFACTS ?? join(tmpdir(), 'spindle-chaos-artifacts');
const verbose = process.env.CHAOS_VERBOSE === '1';

async function run(id: 'C9' | 'C13', backend: BackendKind): Promise<HttpScenarioReport> {
  const report = await runHttpScenario({
    id, backend, tier: 'quick', artifactsDir: ARTIFACTS,
    ...(verbose ? { log: (m: string) => void process.stderr.write(`${m}\n`) } : {}),
  });
  process.stderr.write(`${HTTP_REPORT_HEADER}\n${renderHttpReportRow(report)}\n  details: ${JSON.stringify(report.details).slice(0, 800)}\n`);
  assert.deepEqual(report.violations, [], `${id} on ${backend} (seed ${report.seed}):\n${describeHttpViolations(report)}\nartifacts: ${report.artifacts ?? '—'}`);
  assert.equal(report.lost, 0);
  assert.equal(report.staleAccepted, 0);
  assert.equal(report.duplicates, 0);
  assert.ok(report.duplicateExecutions <= report.bound, `duplicate executions ${report.duplicateExecutions} ≤ bound ${report.bound}`);
  return report;
}

describe('HTTP recorder: how answers become history outcomes', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url?.endsWith('/jobs/ok/complete')) send(200, { id: 'ok', status: 'completed' });
      else if (req.url?.endsWith('/jobs/stale/complete')) send(409, { code: 'lease_lost', detail: 'stale' });
      else if (req.url?.endsWith('/jobs/bad/complete')) send(400, { code: 'invalid_json', detail: 'bad' });
      else if (req.url?.endsWith('/jobs/boom/complete')) send(500, { code: 'internal_error', detail: 'boom' });
      else if (req.url?.endsWith('/jobs/nocode/complete')) send(404, { message: 'no code' });
      else req.socket.resetAndDestroy(); // /jobs/reset/…: the connection is reset mid-request
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('2xx is ok; a typed 4xx is refused (code mapped); 5xx, untyped 4xx, reset and refused connection are unknown', { timeout: 20_000 }, async () => {
    const recorder = new Recorder({ proc: 'stub' });
    const http = new HttpRecorder({ recorder, baseUrl: base, timeoutMs: 5000 });
    const lease = (jobId: string) => ({ jobId, queue: 'q', attempt: 1, round: 0, token: 't', maxRetries: 0, leaseExpiresAt: 0, leaseMs: 1000, runAt: 0, payload: null, maxAttempts: 1 });
    for (const id of ['ok', 'stale', 'bad', 'boom', 'nocode', 'reset']) await http.complete(lease(id), { r: id });
    const refused = new HttpRecorder({ recorder, baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 5000 });
    const gone = await refused.complete(lease('gone'), null);
    assert.equal(gone.kind === 'unknown' && gone.connectionRefused, true);
    const outcomes = recorder.ops().map((op) => [op.args.jobId, op.outcome.type, op.outcome.type === 'refused' ? op.outcome.code : null]);
    assert.deepEqual(outcomes, [
      ['ok', 'ok', null],
      ['stale', 'refused', 'lease_lost'],
      ['bad', 'refused', 'validation_failed'],
      ['boom', 'unknown', null],
      ['nocode', 'unknown', null],
      ['reset', 'unknown', null],
      ['gone', 'unknown', null],
    ]);
    assert.equal(recorder.ops()[0]!.args.result, JSON.stringify({ r: 'ok' }));
  });
});

for (const backend of BACKEND_KINDS) {
  describe(`HTTP chaos quick tier on ${backend}`, () => {
    it('C9: SIGKILL the API server 4 times over ~1,000 operations: every 2xx survives, I7, resets are unknown and I8 holds', { timeout: 120_000 }, async () => {
      const r = await run('C9', backend);
      assert.equal(r.faults, 4, 'four kills');
      assert.equal(r.restarts, 4, 'the server came back after each kill');
      assert.ok(r.operations >= 1000, `${r.operations} operations`);
      assert.ok(r.unknownOps > 0, 'the kills cut requests (recorded as unknown)');
      assert.ok(r.jobs > 0);
    });

    it('C13: 5 % of enqueue and publish responses dropped after the commit, clients retry: keyed jobs and messages stored once, same key + other body → 422', { timeout: 120_000 }, async () => {
      const r = await run('C13', backend);
      assert.ok(r.faults > 0, 'responses were dropped');
      assert.equal(r.jobs, 500);
      assert.equal(r.messages, 500);
      assert.equal(r.details.enqueueProbes422, r.details.enqueueProbes, 'every enqueue probe got 422');
      assert.ok((r.details.enqueueProbes as number) > 0);
      assert.equal(r.details.unanswered, 0);
    });
  });
}
