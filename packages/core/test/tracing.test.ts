// OpenTelemetry spans (telemetry/tracing.ts) on a real client over SQLite, recorded by an
// in-memory exporter: `send {queue}` per add/addBulk call, `process {queue}` per attempt with its
// outcome, a handler's own spans nested in `process`, and nothing at all with `tracing: false`.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, silentLogger, snooze, ValidationError, type ClaimedJob, type ClientOptions, type JobState, type Logger } from '@spindle/core';
import { SqliteBackend } from '@spindle/sqlite';
import { MESSAGING_SYSTEM, Spans, TRACE_ATTRIBUTES as A, TRACER_NAME, tryImport, Tracing, type OtelApi } from '../src/telemetry/tracing.js';

// Compile-time check: the real API satisfies the structural subset Spindle types.
const realApi: OtelApi = otel;

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

before(() => {
  assert.ok(otel.context.setGlobalContextManager(contextManager.enable()));
  assert.ok(otel.trace.setGlobalTracerProvider(provider));
});

after(async () => {
  await provider.shutdown();
  otel.trace.disable();
  otel.context.disable();
});

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A started client on a fresh SQLite file, closed after the file's tests. */
async function openClient(options: Partial<ClientOptions> = {}): Promise<Client> {
  const dir = await mkdtemp(join(tmpdir(), 'spindle-tracing-'));
  const backend = new SqliteBackend({ path: join(dir, 'spindle.db') });
  const client = await Client.open({
    backend,
    logger: silentLogger,
    maintenance: { promoteIntervalMs: 20, rescueIntervalMs: 40, pruneIntervalMs: 1000, leaderTtlMs: 2000 },
    telemetry: false,
    ...options,
  });
  cleanups.push(async () => {
    await client.close({ graceMs: 200 });
    await rm(dir, { recursive: true, force: true });
  });
  return client;
}

async function waitForState(client: Client, id: string, state: JobState): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const job = await client.getJob(id);
    if (job?.state === state) return;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job?.state}, not ${state}`);
    await sleep(10);
  }
}

const named = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
const spanId = (s: ReadableSpan | undefined): string | undefined => s?.spanContext().spanId;

beforeEach(() => exporter.reset());

describe('tracing: send spans', () => {
  it('one PRODUCER span per add, with the message id, nested in the caller span', async () => {
    const client = await openClient();
    const q = client.queue('mail');
    const app = otel.trace.getTracer('app');
    const added = await app.startActiveSpan('request', async (parent) => {
      try {
        return await q.add('welcome', { to: 'ada' });
      } finally {
        parent.end();
      }
    });
    const [send, ...more] = named('send mail');
    assert.ok(send, 'a send span');
    assert.equal(more.length, 0);
    assert.equal(send.kind, otel.SpanKind.PRODUCER);
    assert.equal(send.instrumentationScope.name, TRACER_NAME);
    assert.deepEqual(send.attributes, {
      [A.system]: MESSAGING_SYSTEM,
      [A.operationName]: 'send',
      [A.operationType]: 'send',
      [A.destination]: 'mail',
      [A.messageId]: added.id,
    });
    assert.equal(send.status.code, otel.SpanStatusCode.UNSET);
    assert.equal(send.parentSpanContext?.spanId, spanId(named('request')[0]));
  });

  it('one span per addBulk call with the batch count and no message id', async () => {
    const client = await openClient();
    const q = client.queue('bulk');
    await q.addBulk([1, 2, 3].map((n) => ({ name: 'n', payload: { n } })));
    const spans = named('send bulk');
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.attributes[A.batchCount], 3);
    assert.equal(spans[0]!.attributes[A.messageId], undefined);
    assert.equal(spans[0]!.attributes[A.operationType], 'send');
  });

  it('a refused write ends the send span with an error', async () => {
    const client = await openClient();
    const q = client.queue('refused');
    // SQLite has no transactional enqueue: the insert is refused after validation.
    await assert.rejects(q.add('n', {}, { transaction: {} }), ValidationError);
    const [send] = named('send refused');
    assert.equal(send?.status.code, otel.SpanStatusCode.ERROR);
    assert.equal(send?.attributes[A.errorType], 'ValidationError');
  });
});

describe('tracing: process spans', () => {
  it('a CONSUMER root span per attempt; the handler’s own spans nest in it', async () => {
    const client = await openClient();
    const q = client.queue('work');
    const app = otel.trace.getTracer('app');
    q.process(async () => {
      await sleep(1); // the context must survive an await
      app.startActiveSpan('user work', (span) => span.end());
      return 'ok';
    });
    const { id } = await q.add('resize', { w: 10 });
    await waitForState(client, id, 'completed');
    const [proc, ...more] = named('process work');
    assert.ok(proc, 'a process span');
    assert.equal(more.length, 0);
    assert.equal(proc.kind, otel.SpanKind.CONSUMER);
    assert.equal(proc.parentSpanContext, undefined, 'a root span (no stored producer context)');
    const { [A.clientId]: workerId, ...attributes } = proc.attributes;
    assert.equal(typeof workerId, 'string');
    assert.deepEqual(attributes, {
      [A.system]: MESSAGING_SYSTEM,
      [A.operationName]: 'process',
      [A.operationType]: 'process',
      [A.destination]: 'work',
      [A.messageId]: id,
      [A.attempt]: 1,
      [A.jobName]: 'resize',
      [A.outcome]: 'complete',
    });
    assert.equal(proc.status.code, otel.SpanStatusCode.UNSET);
    const [user] = named('user work');
    assert.ok(user, 'the handler span was recorded');
    assert.equal(user.parentSpanContext?.spanId, spanId(proc), 'the handler span is a child of process');
    assert.equal(user.spanContext().traceId, proc.spanContext().traceId);
  });

  it('a failing attempt is an ERROR with error.type, per attempt until dead', async () => {
    const client = await openClient();
    const q = client.queue('flaky');
    q.process(() => {
      throw new TypeError('boom');
    });
    const { id } = await q.add('n', {}, { maxRetries: 1, backoff: { type: 'fixed', delayMs: 0 } });
    await waitForState(client, id, 'dead');
    const spans = named('process flaky').sort((a, b) => Number(a.attributes[A.attempt]) - Number(b.attributes[A.attempt]));
    assert.deepEqual(spans.map((s) => [s.attributes[A.attempt], s.attributes[A.outcome]]), [[1, 'retry'], [2, 'dead']]);
    for (const span of spans) {
      assert.equal(span.status.code, otel.SpanStatusCode.ERROR);
      assert.equal(span.status.message, 'boom');
      assert.equal(span.attributes[A.errorType], 'TypeError');
      assert.equal(span.events.filter((e) => e.name === 'exception').length, 1);
    }
  });

  it('a snoozed attempt leaves the status unset', async () => {
    const client = await openClient();
    const q = client.queue('later');
    let runs = 0;
    q.process(() => {
      runs += 1;
      return runs === 1 ? snooze(0) : null;
    });
    const { id } = await q.add('n', {});
    await waitForState(client, id, 'completed');
    const outcomes = named('process later').map((s) => [s.attributes[A.outcome], s.status.code]);
    assert.deepEqual(outcomes.sort(), [['complete', otel.SpanStatusCode.UNSET], ['snooze', otel.SpanStatusCode.UNSET]]);
  });
});

describe('tracing: off', () => {
  it('tracing: false records no span at all', async () => {
    const client = await openClient({ tracing: false });
    const q = client.queue('quiet');
    q.process(() => otel.trace.getTracer('app').startActiveSpan('user work', (s) => s.end()));
    const one = await q.add('n', {});
    const bulk = await q.addBulk([{ name: 'n', payload: {} }, { name: 'n', payload: {} }]);
    for (const { id } of [one, ...bulk]) await waitForState(client, id, 'completed');
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((s) => s.name), ['user work', 'user work', 'user work'], 'only the handlers’ spans');
    assert.ok(spans.every((s) => s.parentSpanContext === undefined), 'as roots');
  });

  it('the option is validated like the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spindle-tracing-'));
    const backend = new SqliteBackend({ path: join(dir, 'spindle.db') });
    try {
      assert.throws(() => new Client({ backend, tracing: 'yes' as unknown as boolean }), (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === 'tracing'));
    } finally {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing API is silent; something else under the name is refused with a warning', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_obj, msg) => warnings.push(msg ?? '') };
    assert.equal(await tryImport('@spindle/no-such-otel-api', logger), null);
    assert.deepEqual(warnings, []);
    assert.equal(await tryImport('node:os', logger), null);
    assert.equal(warnings.length, 1);
    assert.ok(await tryImport('@opentelemetry/api', logger));
  });

  it('a disabled Tracing is ready at once and never loads', async () => {
    const off = new Tracing(false, silentLogger);
    assert.equal(off.ready, true);
    await off.load();
    assert.equal(off.spans, null);
    const on = new Tracing(true, silentLogger);
    assert.equal(on.ready, false);
    await on.load();
    assert.equal(on.ready, true);
    assert.ok(on.spans);
    assert.ok(realApi);
  });
});

describe('tracing: without an SDK, and sampled out', () => {
  /** The real API, but its tracers come from `provider` instead of the global one. */
  const apiWith = (provider: { getTracer(name: string): otel.Tracer }): OtelApi => ({
    trace: { getTracer: (name) => provider.getTracer(name), setSpan: otel.trace.setSpan },
    context: otel.context,
    ROOT_CONTEXT: otel.ROOT_CONTEXT,
    SpanKind: otel.SpanKind,
    SpanStatusCode: otel.SpanStatusCode,
    isSpanContextValid: otel.isSpanContextValid,
  });
  const job = { id: 'j1', queue: 'q', name: 'n', attempt: 1 } as ClaimedJob;

  it('no SDK: no process span object, and send only runs the insert', async () => {
    const spans = new Spans(apiWith(new otel.ProxyTracerProvider())); // no delegate: the no-op tracer
    assert.equal(spans.startProcess(job, 'w'), null);
    const outcome = { id: 'j1', inserted: true, state: 'queued' as const };
    assert.deepEqual(await spans.send('q', 1, async () => [outcome]), [outcome]);
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('sampled out: the span is kept in the context so the handler’s spans are sampled out too', async () => {
    const off = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const proc = new Spans(apiWith(off)).startProcess(job, 'w');
    assert.ok(proc, 'a non-recording span with a valid context is kept');
    proc.run(() => otel.trace.getTracer('app').startActiveSpan('user work', (s) => s.end()), null);
    proc.end({ kind: 'complete', result: null });
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name), [], 'the child followed its parent’s sampling decision');
    await off.shutdown();
  });
});
