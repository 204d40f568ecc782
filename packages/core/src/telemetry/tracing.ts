/**
 * OpenTelemetry spans after the messaging semantic conventions (docs/decisions/0009-tracing.md):
 * `send {queue}` (PRODUCER) around the write of each add/addBulk call, and `process {queue}`
 * (CONSUMER) around each handler run, ended with the attempt's outcome. The handler runs with
 * its `process` span active, so the spans it starts are children of it.
 *
 * `@opentelemetry/api` is an optional peer dependency: it is imported once per process, when
 * the first client starts (`Tracing.load`), and only the structural subset below is typed, so
 * Spindle compiles, and its declarations resolve, without it. Without an SDK registered the API
 * is itself a no-op.
 *
 * Invariants:
 * - With tracing off (`tracing: false`, or the API not installed) `Tracing.spans` is null, and
 *   the hot paths read that and do nothing else: no closure, no try/catch, no object per job.
 * - With the API but no SDK, spans that neither record nor carry a valid context are dropped at
 *   once (a sampled-out span is kept: the handler's spans must inherit that decision).
 * - A span observes; it never decides. The outcome is decided before `ProcessSpan.end`, and
 *   ending a span cannot throw into the worker (a failing SDK loses the span, not the job).
 * - `process` spans are roots: no producer context is stored with a job (the known gap of 0009).
 */
import type { ClaimedJob, FinalizeAction, InsertOutcome } from '../backend/backend.js';
import { ClosedError, LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Attribute names: the messaging conventions', plus Spindle's own under `messaging.spindle.`. */
export const TRACE_ATTRIBUTES = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  clientId: 'messaging.client.id',
  errorType: 'error.type',
  /** 1-based attempt number within the job's current round. */
  attempt: 'messaging.spindle.attempt',
  /** The job's name (within its queue). */
  jobName: 'messaging.spindle.job.name',
  /** What the attempt became: complete, retry, dead, snooze, cancel, release or lease_lost. */
  outcome: 'messaging.spindle.outcome',
} as const;

/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = 'spindle';
/** The instrumentation scope name. */
export const TRACER_NAME = '@spindle/core';
/** A variable, not a literal: the compiler and bundlers must not require the optional peer. */
const OTEL_API = '@opentelemetry/api';

// --- The subset of @opentelemetry/api used here (the test checks the real API against it). ---

/** Opaque: Spindle only passes contexts back to the API. */
export interface OtelContext {
  getValue(key: symbol): unknown;
}

export interface OtelSpan {
  spanContext(): { traceId: string; spanId: string; traceFlags: number };
  isRecording(): boolean;
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: { name: string; message: string; stack?: string }): void;
  end(): void;
}

export interface OtelTracer {
  startSpan(name: string, options: { kind: number; attributes: Record<string, string | number | boolean> }, context?: OtelContext): OtelSpan;
}

export interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
  };
  context: {
    with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: OtelContext, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F>;
  };
  ROOT_CONTEXT: OtelContext;
  SpanKind: { PRODUCER: number; CONSUMER: number };
  SpanStatusCode: { ERROR: number };
  isSpanContextValid(spanContext: { traceId: string; spanId: string; traceFlags: number }): boolean;
}

// --- Loading -----------------------------------------------------------------------------------

let imported: Promise<OtelApi | null> | null = null;

/** `@opentelemetry/api`, imported once per process; null when it is not installed. */
export function importOtelApi(logger: Logger): Promise<OtelApi | null> {
  imported ??= tryImport(OTEL_API, logger);
  return imported;
}

/**
 * The module `specifier` if it looks like the OpenTelemetry API, else null. A missing module is
 * the normal case (tracing off, silently); any other failure is logged once. @internal
 */
export async function tryImport(specifier: string, logger: Logger): Promise<OtelApi | null> {
  let mod: Partial<OtelApi> & { default?: Partial<OtelApi> };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') logger.warn({ err }, `spindle: cannot load ${specifier}; tracing is off`);
    return null;
  }
  const api = typeof mod.trace?.getTracer === 'function' ? mod : mod.default;
  if (typeof api?.trace?.getTracer !== 'function' || typeof api.context?.with !== 'function' || typeof api.isSpanContextValid !== 'function' || !api.SpanKind || !api.SpanStatusCode || !api.ROOT_CONTEXT) {
    logger.warn({}, `spindle: ${specifier} does not look like the OpenTelemetry API; tracing is off`);
    return null;
  }
  return api as OtelApi;
}

/** A client's tracing switch: `spans` once loaded, null for good when off or unavailable. */
export class Tracing {
  /** Null until `load()`, and for good with tracing off or without the API. */
  spans: Spans | null = null;
  /** `spans` is final: `load()` has run, or there is nothing to load. */
  ready: boolean;

  constructor(
    enabled: boolean,
    private readonly logger: Logger,
  ) {
    this.ready = !enabled;
  }

  /** Imports the API (once per process). Never rejects. */
  async load(): Promise<void> {
    if (this.ready) return;
    const api = await importOtelApi(this.logger);
    if (api) this.spans = new Spans(api);
    this.ready = true;
  }
}

// --- Spans -------------------------------------------------------------------------------------

/** The `error.type` of a thrown value: its class name, or `_OTHER` (the conventions' fallback). */
function errorType(err: unknown): string {
  return err instanceof Error && typeof err.name === 'string' && err.name !== '' ? err.name : '_OTHER';
}

export class Spans {
  private readonly tracer: OtelTracer;

  constructor(private readonly api: OtelApi) {
    this.tracer = api.trace.getTracer(TRACER_NAME);
  }

  /**
   * `send {queue}` around one add/addBulk write, a child of the caller's active span. One job:
   * `messaging.message.id` (of the job inserted or, for a duplicate, of the existing one); more:
   * `messaging.batch.message_count`.
   */
  async send(queue: string, count: number, insert: () => Promise<InsertOutcome[]>): Promise<InsertOutcome[]> {
    const A = TRACE_ATTRIBUTES;
    const attributes: Record<string, string | number> = {
      [A.system]: MESSAGING_SYSTEM,
      [A.operationName]: 'send',
      [A.operationType]: 'send',
      [A.destination]: queue,
    };
    if (count !== 1) attributes[A.batchCount] = count;
    const span = this.tracer.startSpan(`send ${queue}`, { kind: this.api.SpanKind.PRODUCER, attributes });
    if (this.isNoop(span)) return insert();
    try {
      const outcomes = await insert();
      if (count === 1 && outcomes[0]) span.setAttribute(A.messageId, outcomes[0].id);
      return outcomes;
    } catch (err) {
      span.setAttribute(A.errorType, errorType(err));
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Starts `process {queue}` for one attempt: a root span (no producer context is stored).
   * Null when there is nothing to record or propagate (no SDK registered).
   */
  startProcess(job: ClaimedJob, workerId: string): ProcessSpan | null {
    const A = TRACE_ATTRIBUTES;
    const span = this.tracer.startSpan(
      `process ${job.queue}`,
      {
        kind: this.api.SpanKind.CONSUMER,
        attributes: {
          [A.system]: MESSAGING_SYSTEM,
          [A.operationName]: 'process',
          [A.operationType]: 'process',
          [A.destination]: job.queue,
          [A.messageId]: job.id,
          [A.clientId]: workerId,
          [A.attempt]: job.attempt,
          [A.jobName]: job.name,
        },
      },
      this.api.ROOT_CONTEXT,
    );
    return this.isNoop(span) ? null : new ProcessSpan(this.api, span);
  }

  /**
   * The API without an SDK: a span that neither records nor carries a valid context. Dropping it
   * changes nothing (a sampled-out span of a real SDK has a valid context and is kept, so that
   * the handler's spans inherit the sampling decision).
   */
  private isNoop(span: OtelSpan): boolean {
    return !span.isRecording() && !this.api.isSpanContextValid(span.spanContext());
  }
}

/** The `process` span of one attempt (held by its Execution). */
export class ProcessSpan {
  private ended = false;

  constructor(
    private readonly api: OtelApi,
    readonly span: OtelSpan,
  ) {}

  /** `handler(job)` with this span active (and nothing else from the worker's context). */
  run<J, R>(handler: (job: J) => R, job: J): R {
    return this.api.context.with(this.api.trace.setSpan(this.api.ROOT_CONTEXT, this.span), handler, undefined, job);
  }

  /**
   * Ends the span with the attempt's outcome (`null`: the lease was lost, nothing is written).
   * `complete` and `snooze` leave the status unset; every other outcome is an ERROR with
   * `error.type`, and a retry or a death also records the exception.
   */
  end(action: FinalizeAction | null): void {
    if (this.ended) return;
    this.ended = true;
    try {
      const span = this.span;
      span.setAttribute(TRACE_ATTRIBUTES.outcome, action === null ? 'lease_lost' : action.kind);
      let type: string | null = null;
      let message = '';
      if (action === null) type = LeaseLostError.name;
      else if (action.kind === 'release') type = ClosedError.name;
      else if (action.kind === 'retry' || action.kind === 'dead' || action.kind === 'cancel') {
        const error = action.error;
        type = error?.name || (action.kind === 'cancel' ? 'CancelledError' : '_OTHER');
        message = error?.message ?? '';
        if (error && action.kind !== 'cancel') span.recordException({ name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) });
      }
      if (type !== null) {
        span.setAttribute(TRACE_ATTRIBUTES.errorType, type);
        span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
      }
      span.end();
    } catch {
      // A failing SDK must not keep the attempt from being finished.
    }
  }
}
