/**
 * The history model of the chaos suite (reliability.md §5.1): what every client process saw, as
 * Jepsen records it. This module owns the types of a history, its JSON-lines form and the merge
 * of several processes' files into one history the checker reads.
 *
 * On disk each process appends JSONL *events*: an `invoke` line before it calls the system, then
 * one completion line — `ok` (it happened), `fail` (it was refused and changed nothing: a typed
 * error code) or `info` (unknown: a timeout, a reset, an untyped error). A process killed
 * mid-call leaves an `invoke` with no completion: the merge turns it into an `unknown` op.
 * In memory the checker reads *ops*: one per invoke, with its outcome and both times.
 *
 * Invariants:
 * - Per process, `index` strictly increases in the order the invokes were made, and an op's
 *   completion line (if any) carries the same (proc, index).
 * - Times are wall-clock epoch ms of the recording host (all processes on one machine, so one
 *   clock); `completeAt` is null only for an op that never completed (unknown).
 * - A `refused` op changed nothing; an `unknown` op may or may not have taken effect — the checker
 *   must accept both worlds. `ok` means it took effect exactly as its `value` says.
 * - Everything is plain JSON (Dates as epoch ms): a history written to a file re-checks offline.
 */

/** What the operation was. Job writes are split per item, one op per job. */
export type OpKind =
  | 'enqueue' // insertJobs, one op per job (dispatch-claimed jobs carry `claimed` in value)
  | 'claim' // claimJobs: one op per call, value lists the claimed leases
  | 'heartbeat' // extendLeases, one op per lease
  | 'progress' // updateProgress, one op per lease
  | 'complete' // finalize complete
  | 'fail' // finalize retry | dead (args.action)
  | 'snooze' // finalize snooze: the attempt is given back
  | 'release' // finalize release: the attempt is given back
  | 'cancel_ack' // finalize cancel: the handler stopped after a cancel request
  | 'cancel' // cancelJobs, one op per job
  | 'rescue' // rescueExpiredLeases, one op per call: value lists requeued / dead / cancelled ids
  | 'redrive' // dlqReplay / retryJobs, one op per call: value.jobIds started a new round
  | 'delete' // deleteJobs, one op per call: value.jobIds were removed
  | 'read' // getJob: the job's state as seen
  | 'publish' // topic publish, one op per message
  | 'fetch' // fetchMessages (a poll of one partition)
  | 'join' // joinGroup / heartbeatGroup: value is the assignment
  | 'leave' // leaveGroup
  | 'commit' // commitOffsets, one op per partition
  | 'seek' // seekGroup: an explicit reset of committed offsets
  | 'handler_start' // a handler began running (job, attempt, token)
  | 'handler_end' // a handler returned or threw
  | 'fault'; // the nemesis: a fault injected (invoke = start, complete = healed)

/** Typed refusal codes: per-item backend outcomes and SpindleError codes. */
export type RefusalCode =
  | 'lease_lost'
  | 'not_found'
  | 'wrong_state'
  | 'unique_conflict'
  | 'already_final'
  | 'stale_generation'
  | 'not_assigned'
  | 'backwards'
  | 'beyond_high_water'
  | 'validation_failed'
  | 'conflict'
  | 'closed'
  | 'offset_out_of_range'
  | (string & {});

export type Outcome =
  | { type: 'ok'; value?: unknown }
  | { type: 'refused'; code: RefusalCode; message?: string }
  | { type: 'unknown'; error?: string };

/** One operation as the checker reads it. `args` / `value` shapes per kind are in OpArgs / OpValues. */
export interface Op {
  proc: string;
  index: number;
  f: OpKind;
  args: Record<string, unknown>;
  invokeAt: number;
  completeAt: number | null;
  outcome: Outcome;
}

// --- Argument and value shapes the recorder writes (documentation for the checker) -----------

/** A lease reference as recorded. */
export interface LeaseArgs {
  jobId: string;
  attempt: number;
  token: string;
}

export interface EnqueueArgs {
  jobId: string;
  queue: string;
  /** The payload as JSON text: harness values are unique (`run-N-seq`). */
  payload: string;
  uniqueKey: string | null;
  group: string | null;
  maxRetries: number;
  runAt: number | null;
  delayMs: number | null;
  /** Injected database time, when the caller passed `now`. */
  now: number | null;
}
export interface EnqueueValue {
  jobId: string;
  inserted: boolean;
  state: string;
  claimed?: ClaimedLease;
}

/** One lease a claim returned (times in epoch ms, from the database clock). */
export interface ClaimedLease {
  jobId: string;
  queue: string;
  attempt: number;
  round: number;
  token: string;
  maxRetries: number;
  leaseExpiresAt: number;
  leaseMs: number;
  runAt: number;
}
export interface ClaimValue {
  leases: ClaimedLease[];
}

/** redrive / delete: the jobs the call moved. args.jobIds (when the call named them) bounds an unknown one. */
export interface JobIdsValue {
  jobIds: string[];
}

export interface RescueValue {
  requeued: string[];
  dead: string[];
  cancelled: string[];
}

export interface FetchValue {
  messages: Array<{ offset: number; key: string | null; value: string }>;
  startOffset: number;
  highWater: number;
}

// --- JSON lines -------------------------------------------------------------------------------

/** One line of a process's history file. */
export type HistoryLine =
  | { type: 'invoke'; proc: string; index: number; f: OpKind; args: Record<string, unknown>; t: number }
  | { type: 'ok'; proc: string; index: number; t: number; value?: unknown }
  | { type: 'fail'; proc: string; index: number; t: number; code: RefusalCode; message?: string }
  | { type: 'info'; proc: string; index: number; t: number; error?: string };

export function encodeLine(line: HistoryLine): string {
  return `${JSON.stringify(line)}\n`;
}

/** Parses JSONL text; a torn last line (a process killed mid-write) is skipped, others throw. */
export function parseLines(text: string): HistoryLine[] {
  const rows = text.split('\n');
  const out: HistoryLine[] = [];
  rows.forEach((row, i) => {
    if (row.trim() === '') return;
    try {
      out.push(JSON.parse(row) as HistoryLine);
    } catch (err) {
      if (i < rows.length - 1 && rows.slice(i + 1).some((r) => r.trim() !== '')) throw err;
    }
  });
  return out;
}

/**
 * Pairs invoke lines with their completions into ops, across any number of processes' lines,
 * ordered by invoke time, then process, then index. An invoke without completion is `unknown`
 * with `completeAt: null`; a completion without an invoke is an error (a corrupt history).
 */
export function mergeLines(lines: Iterable<HistoryLine>): Op[] {
  const ops = new Map<string, Op>();
  const lastIndex = new Map<string, number>();
  for (const line of lines) {
    const key = `${line.proc}\u0000${line.index}`;
    if (line.type === 'invoke') {
      const prev = lastIndex.get(line.proc);
      if (prev !== undefined && line.index <= prev) throw new Error(`history: ${line.proc} index ${line.index} not increasing`);
      lastIndex.set(line.proc, line.index);
      ops.set(key, { proc: line.proc, index: line.index, f: line.f, args: line.args, invokeAt: line.t, completeAt: null, outcome: { type: 'unknown', error: 'no completion recorded' } });
      continue;
    }
    const op = ops.get(key);
    if (!op) throw new Error(`history: completion without invoke (${line.proc} #${line.index})`);
    if (op.completeAt !== null) throw new Error(`history: two completions for ${line.proc} #${line.index}`);
    op.completeAt = line.t;
    if (line.type === 'ok') op.outcome = line.value === undefined ? { type: 'ok' } : { type: 'ok', value: line.value };
    else if (line.type === 'fail') op.outcome = line.message === undefined ? { type: 'refused', code: line.code } : { type: 'refused', code: line.code, message: line.message };
    else op.outcome = line.error === undefined ? { type: 'unknown' } : { type: 'unknown', error: line.error };
  }
  return sortOps([...ops.values()]);
}

export function sortOps(ops: Op[]): Op[] {
  return ops.sort((a, b) => a.invokeAt - b.invokeAt || (a.proc < b.proc ? -1 : a.proc > b.proc ? 1 : 0) || a.index - b.index);
}

/** Ops back to lines (for writing a merged or hand-made history to a file). */
export function opsToLines(ops: readonly Op[]): HistoryLine[] {
  const lines: HistoryLine[] = [];
  for (const op of ops) {
    lines.push({ type: 'invoke', proc: op.proc, index: op.index, f: op.f, args: op.args, t: op.invokeAt });
    if (op.completeAt === null) continue;
    const base = { proc: op.proc, index: op.index, t: op.completeAt };
    const o = op.outcome;
    if (o.type === 'ok') lines.push(o.value === undefined ? { type: 'ok', ...base } : { type: 'ok', ...base, value: o.value });
    else if (o.type === 'refused') lines.push({ type: 'fail', ...base, code: o.code, ...(o.message === undefined ? {} : { message: o.message }) });
    else lines.push({ type: 'info', ...base, ...(o.error === undefined ? {} : { error: o.error }) });
  }
  return lines;
}

// --- Small accessors the checker shares -------------------------------------------------------

export const isOk = (op: Op): boolean => op.outcome.type === 'ok';
export const isUnknown = (op: Op): boolean => op.outcome.type === 'unknown';
/** ok or unknown: it may have taken effect. */
export const mayHaveHappened = (op: Op): boolean => op.outcome.type !== 'refused';
export function okValue<T>(op: Op): T | undefined {
  return op.outcome.type === 'ok' ? (op.outcome.value as T) : undefined;
}
/** Completion time, or +∞ for an op that never completed (it may take effect at any later time). */
export const endOf = (op: Op): number => op.completeAt ?? Number.POSITIVE_INFINITY;
/** a finished before b began: a real-time precedence every process can rely on. */
export const precedes = (a: Op, b: Op): boolean => endOf(a) < b.invokeAt;
export function describeOp(op: Op): string {
  const id = (op.args.jobId as string | undefined) ?? '';
  return `${op.proc}#${op.index} ${op.f}${id ? ` ${id}` : ''}${op.args.attempt !== undefined ? ` a${String(op.args.attempt)}` : ''} → ${op.outcome.type}${op.outcome.type === 'refused' ? `(${op.outcome.code})` : ''}`;
}
