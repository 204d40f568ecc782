/**
 * The HTTP client recorder: a small client for Spindle's HTTP API (global `fetch`) that writes
 * every call into the chaos history (history.ts) through a Recorder, as the client saw it —
 * enqueue, HTTP-worker claim / heartbeat / complete / fail, topic publish.
 *
 * Owns: the request, and the classification of its answer into an op outcome.
 *
 * Invariants:
 * - The `invoke` line is written before the request leaves (Recorder.record), the completion
 *   line after the answer (or the transport error) is in.
 * - Outcome classification: a 2xx with a JSON body is `ok`; a 4xx whose problem body carries a
 *   `code` is `refused` (the API guarantees a typed 4xx changed nothing) with the code mapped to
 *   the history's RefusalCode (identical names pass through; input-rejection codes become
 *   `validation_failed`; others — `idempotency_key_reused`, `idempotency_pending`, … — are kept);
 *   everything else — a 5xx, a 4xx without a code, a reset, a timeout, a refused connection, a
 *   body that does not parse — is `unknown` (`info`): the request may have taken effect.
 * - One op per job (enqueue) or per message (publish); one per call for claim (the leases are
 *   only known from the answer), like the backend-seam recorder.
 * - Enqueue args: `jobId` is the id the body names, or null when the server picks it (the answer
 *   names it); an `Idempotency-Key` is kept as `idemKey` and, for I8, makes the value keyed
 *   (`uniqueKey: 'idem:<key>'` unless the job has its own unique key): retries with one key
 *   must store the value at most once.
 * - Claimed leases: the wire carries no `round` and no `runAt`. `round` is recorded as 0 (the
 *   HTTP scenarios never redrive) and `runAt` as the job's `createdAt`, a lower bound — I13's
 *   per-lease runAt check is vacuous for HTTP leases; its backoff check still applies.
 * - `fail` records the action the server will take (`dead` when permanent or on the last
 *   attempt, else `retry` with the requested `retryAfterMs`); an answer that disagrees is
 *   counted in `stats.failActionMismatches` (the scenario reports it as a violation).
 */
import { canonicalValue } from '../canonical.js';
import type { ClaimedLease, EnqueueValue, RefusalCode } from '../history.js';
import type { Recorder } from '../recorder.js';

export const API_PREFIX = '/api/v1';

/** Problem codes that mean "your input was rejected": recorded as `validation_failed`. */
const INPUT_CODES = new Set(['invalid_json', 'json_too_deep', 'json_duplicate_key', 'invalid_text', 'unsupported_media_type', 'payload_too_large', 'invalid_content_length', 'invalid_url', 'bad_request', 'invalid_request']);

export function refusalCodeOf(apiCode: string): RefusalCode {
  return INPUT_CODES.has(apiCode) ? 'validation_failed' : apiCode;
}

export type HttpOutcome<T> =
  | { kind: 'ok'; status: number; body: T; replayed: boolean }
  | { kind: 'refused'; status: number; code: string; message: string }
  | { kind: 'unknown'; status: number | null; error: string; connectionRefused: boolean };

type Completion = { type: 'ok'; value?: unknown } | { type: 'fail'; code: RefusalCode; message?: string } | { type: 'info'; error?: string };

export interface HttpStats {
  requests: number;
  ok: number;
  refused: number;
  unknown: number;
  /** Answers by HTTP status (transport errors under 0). */
  byStatus: Record<string, number>;
  /** Refusals by API code. */
  byCode: Record<string, number>;
  /** Transport errors by kind (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, timeout, …). */
  transport: Record<string, number>;
  failActionMismatches: number;
}

export const newHttpStats = (): HttpStats => ({ requests: 0, ok: 0, refused: 0, unknown: 0, byStatus: {}, byCode: {}, transport: {}, failActionMismatches: 0 });

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

/** What a transport error was: a short stable name, and whether the connection was refused. */
function transportError(err: unknown): { error: string; refused: boolean } {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return { error: 'timeout', refused: false };
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (err as { code?: unknown } | undefined)?.code;
  const name = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return { error: name, refused: name === 'ECONNREFUSED' };
}

export interface ClaimedJobView {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  attempt: number;
  maxAttempts: number;
  leaseToken: string;
  leaseExpiresAt: string;
  createdAt: string;
}

export interface HttpLease extends ClaimedLease {
  payload: unknown;
  maxAttempts: number;
}

export interface EnqueueJob {
  /** Caller-chosen id (retries with it cannot make a second job). */
  id?: string;
  name: string;
  payload: unknown;
  opts?: { maxRetries?: number; uniqueKey?: string; delay?: number };
  idempotencyKey?: string;
}

export interface PublishMessage {
  key?: string;
  value: unknown;
  idempotencyKey?: string;
}

export interface HttpRecorderOptions {
  /** The history this client writes (its `proc` names the client). */
  recorder: Recorder;
  /** e.g. http://127.0.0.1:7700 (the API prefix is added here). */
  baseUrl: string;
  /** Per-request timeout; default 15 s (then `unknown`). */
  timeoutMs?: number;
  /** Shared counters (several clients may add to one). */
  stats?: HttpStats;
}

export class HttpRecorder {
  readonly stats: HttpStats;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpRecorderOptions) {
    this.stats = options.stats ?? newHttpStats();
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  get proc(): string {
    return this.options.recorder.proc;
  }

  /** One request, classified. Never throws. */
  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpOutcome<T>> {
    const s = this.stats;
    s.requests++;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.options.baseUrl}${API_PREFIX}${path}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const t = transportError(err);
      s.unknown++;
      bump(s.byStatus, '0');
      bump(s.transport, t.error);
      return { kind: 'unknown', status: null, error: t.error, connectionRefused: t.refused };
    }
    bump(s.byStatus, String(res.status));
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      s.unknown++;
      return { kind: 'unknown', status: res.status, error: `HTTP ${res.status}: body is not JSON`, connectionRefused: false };
    }
    if (res.status >= 200 && res.status < 300) {
      s.ok++;
      return { kind: 'ok', status: res.status, body: json as T, replayed: res.headers.get('idempotent-replayed') === 'true' };
    }
    const code = (json as { code?: unknown } | null)?.code;
    if (res.status >= 400 && res.status < 500 && typeof code === 'string') {
      s.refused++;
      bump(s.byCode, code);
      return { kind: 'refused', status: res.status, code, message: String((json as { detail?: unknown }).detail ?? '') };
    }
    s.unknown++;
    return { kind: 'unknown', status: res.status, error: `HTTP ${res.status}${typeof code === 'string' ? ` ${code}` : ''}`, connectionRefused: false };
  }

  /** Records `items` around one request; `ok` maps the answer to one completion per item. */
  private async recorded<T>(items: Array<{ f: 'enqueue' | 'claim' | 'heartbeat' | 'complete' | 'fail' | 'publish'; args: Record<string, unknown> }>, send: () => Promise<HttpOutcome<T>>, ok: (body: T, o: Extract<HttpOutcome<T>, { kind: 'ok' }>) => Completion[]): Promise<HttpOutcome<T>> {
    return this.options.recorder.record(items, send, (o): Completion[] => {
      if (o.kind === 'ok') return ok(o.body, o);
      const c: Completion = o.kind === 'refused' ? { type: 'fail', code: refusalCodeOf(o.code), message: `${o.status} ${o.code}` } : { type: 'info', error: o.error };
      return items.map(() => c);
    });
  }

  /** POST /queues/:queue/jobs (one job), optionally with an Idempotency-Key. */
  enqueue(queue: string, job: EnqueueJob): Promise<HttpOutcome<{ id: string; status: string; duplicate: boolean }>> {
    const opts = { ...job.opts, ...(job.id === undefined ? {} : { id: job.id }) };
    const body = { name: job.name, payload: job.payload, ...(Object.keys(opts).length ? { opts } : {}) };
    const key = job.idempotencyKey;
    const args = {
      jobId: job.id ?? null, queue, payload: canonicalValue(job.payload),
      uniqueKey: job.opts?.uniqueKey ?? (key === undefined ? null : `idem:${key}`), idemKey: key ?? null,
      group: null, maxRetries: job.opts?.maxRetries ?? 3, runAt: null, delayMs: job.opts?.delay ?? null, now: null,
    };
    return this.recorded([{ f: 'enqueue', args }], () => this.request('POST', `/queues/${encodeURIComponent(queue)}/jobs`, body, key === undefined ? {} : { 'idempotency-key': key }), (b, o) => {
      const value: EnqueueValue & { replayed: boolean } = { jobId: b.id, inserted: !b.duplicate, state: b.status, replayed: o.replayed };
      return [{ type: 'ok', value }];
    });
  }

  /** POST /queues/:queue/claim (no long-poll unless waitMs). Leases carry the payloads. */
  async claim(queue: string, p: { workerId: string; batch: number; leaseMs: number; waitMs?: number }): Promise<HttpOutcome<{ jobs: ClaimedJobView[] }> & { leases: HttpLease[] }> {
    const leasesOf = (jobs: ClaimedJobView[]): HttpLease[] => jobs.map((j) => ({
      jobId: j.id, queue: j.queue, attempt: j.attempt, round: 0, token: j.leaseToken, maxRetries: j.maxAttempts - 1,
      leaseExpiresAt: Date.parse(j.leaseExpiresAt), leaseMs: p.leaseMs, runAt: Date.parse(j.createdAt), payload: j.payload, maxAttempts: j.maxAttempts,
    }));
    const out = await this.recorded(
      [{ f: 'claim', args: { queue, workerId: p.workerId, limit: p.batch, leaseMs: p.leaseMs, now: null } }],
      () => this.request<{ jobs: ClaimedJobView[] }>('POST', `/queues/${encodeURIComponent(queue)}/claim`, { workerId: p.workerId, batch: p.batch, leaseMs: p.leaseMs, waitMs: p.waitMs ?? 0 }),
      (b) => [{ type: 'ok', value: { leases: leasesOf(b.jobs).map(({ payload: _p, maxAttempts: _m, ...l }) => l) } }],
    );
    return { ...out, leases: out.kind === 'ok' ? leasesOf(out.body.jobs) : [] };
  }

  heartbeat(lease: HttpLease, leaseMs: number): Promise<HttpOutcome<{ cancelRequested: boolean }>> {
    return this.recorded(
      [{ f: 'heartbeat', args: { jobId: lease.jobId, attempt: lease.attempt, token: lease.token, leaseMs, now: null } }],
      () => this.request('POST', `/jobs/${encodeURIComponent(lease.jobId)}/heartbeat`, { attempt: lease.attempt, leaseToken: lease.token, leaseMs }),
      (b) => [{ type: 'ok', value: { cancelRequested: b.cancelRequested } }],
    );
  }

  complete(lease: HttpLease, result: unknown): Promise<HttpOutcome<{ status: string }>> {
    return this.recorded(
      [{ f: 'complete', args: { jobId: lease.jobId, attempt: lease.attempt, token: lease.token, now: null, result: result === undefined ? null : JSON.stringify(result) } }],
      () => this.request('POST', `/jobs/${encodeURIComponent(lease.jobId)}/complete`, { attempt: lease.attempt, leaseToken: lease.token, ...(result === undefined ? {} : { result }) }),
      () => [{ type: 'ok' }],
    );
  }

  /** POST /jobs/:id/fail with an explicit retry delay (or permanent). */
  fail(lease: HttpLease, p: { message: string; retryAfterMs: number; permanent?: boolean }): Promise<HttpOutcome<{ status: string; retryInMs?: number }>> {
    const dead = p.permanent === true || lease.attempt >= lease.maxAttempts;
    const args = { jobId: lease.jobId, attempt: lease.attempt, token: lease.token, now: null, action: dead ? 'dead' : 'retry', ...(dead ? {} : { delayMs: p.retryAfterMs }), errorKind: p.permanent ? 'permanent' : 'retry_after' };
    return this.recorded(
      [{ f: 'fail', args }],
      () => this.request('POST', `/jobs/${encodeURIComponent(lease.jobId)}/fail`, { attempt: lease.attempt, leaseToken: lease.token, error: { message: p.message }, ...(p.permanent ? { permanent: true } : { retryAfterMs: p.retryAfterMs }) }),
      (b) => {
        if ((b.status === 'dead') !== dead) this.stats.failActionMismatches++;
        return [{ type: 'ok', value: { status: b.status, ...(b.retryInMs === undefined ? {} : { retryInMs: b.retryInMs }) } }];
      },
    );
  }

  /** POST /topics/:topic/messages: one op per message. */
  publish(topic: string, messages: PublishMessage[]): Promise<HttpOutcome<{ messages: Array<{ partition: number; offset: number; duplicate: boolean }> }>> {
    return this.recorded(
      messages.map((m) => ({ f: 'publish' as const, args: { topic, partition: null, key: m.key ?? null, value: canonicalValue(m.value), idemKey: m.idempotencyKey ?? null } })),
      () => this.request('POST', `/topics/${encodeURIComponent(topic)}/messages`, { messages }),
      (b) => messages.map((_, i) => {
        const r = b.messages[i];
        return r ? { type: 'ok', value: { partition: r.partition, offset: r.offset, duplicate: r.duplicate } } : { type: 'info', error: 'no per-message answer' };
      }),
    );
  }
}
