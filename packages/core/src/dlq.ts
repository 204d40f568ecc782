/**
 * `client.dlq`: the dead-letter queue API (DESIGN §6) — list and inspect dead jobs, group them by
 * failure reason, watch depth, and replay, purge or resolve them by ids, by filter or all.
 *
 * Invariants: destructive calls need an explicit selection (`ids`, `filter` or `all: true`);
 * replays and purges are compare-and-set in the backend, so concurrent calls move or delete each
 * job once; selections by filter are processed in batches until none is left.
 */
import type { DlqDepth, DlqGroup, JobFilter, JobPage } from './backend/backend.js';
import type { JobRecord } from './job/types.js';
import { ValidationError } from './errors.js';
import type { Client } from './client.js';
import { checkIdentifier, checkJobId, checkKnownKeys, checkPlainObject, Issues, serializeJson } from './validate.js';
import { checkFilter, checkListParams, checkQueueParams, type ListParams } from './filters.js';

/** Dead-job filters: everything of JobFilter except `states` (always `dead`). */
export type DlqFilter = Omit<JobFilter, 'states'>;

/** Which dead jobs an operation applies to: exactly one of `ids`, `filter`, `all: true`. */
export interface DlqSelection {
  ids?: string[];
  filter?: DlqFilter;
  all?: true;
}

export interface DlqReplayOptions extends DlqSelection {
  /** Replay into another queue instead of the job's own. */
  toQueue?: string;
  /** Replace the payload (only with exactly one id). */
  payload?: unknown;
}

export interface DlqReplaySummary {
  replayed: number;
  /** Ids replayed (all of them; a huge replay returns a long array). */
  ids: string[];
  /** Jobs left dead because a live job already holds their unique key. */
  skipped: string[];
}

const BATCH = 500;

/** `onProgress` is absent or a function: checked before the first batch changes anything. */
function checkProgressCallback(issues: Issues, onProgress: unknown): void {
  if (onProgress !== undefined && typeof onProgress !== 'function') issues.add('onProgress', 'must be a function');
}
const MAX_IDS = 10_000;

export class Dlq {
  constructor(private readonly client: Client) {}

  /** Dead jobs, newest first, with cursor paging. */
  async list(params: ListParams<DlqFilter> = {}): Promise<JobPage> {
    const checked = checkListParams(params, 'dlq.list');
    return this.client.run((b) => b.listJobs({ ...checked, filter: { ...checked.filter, states: ['dead'] } }));
  }

  /** One dead job with its whole failure story, or null if it is not (or no longer) dead. */
  async get(id: string): Promise<JobRecord | null> {
    const job = await this.client.getJob(id);
    return job && job.state === 'dead' ? job : null;
  }

  /** Unresolved dead jobs per queue (queues with none are omitted). */
  async depth(params: { queue?: string } = {}): Promise<DlqDepth[]> {
    const queue = checkQueueParams(params, 'dlq.depth');
    return this.client.run((b) => b.dlqDepth(queue === undefined ? {} : { queue }));
  }

  /** Dead jobs grouped by failure reason, biggest group first. */
  async groups(params: { filter?: DlqFilter; limit?: number } = {}): Promise<DlqGroup[]> {
    const issues = new Issues();
    if (!checkPlainObject(issues, 'dlq.groups', params)) issues.throwIfAny();
    checkKnownKeys(issues, 'dlq.groups', params as Record<string, unknown>, ['filter', 'limit']);
    const filter = params.filter === undefined ? undefined : checkFilter(issues, 'filter', params.filter, false);
    const limit = params.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) issues.add('limit', 'must be an integer from 1 to 1000');
    issues.throwIfAny();
    return this.client.run((b) => b.dlqGroups({ ...(filter ? { filter } : {}), limit }));
  }

  /**
   * Puts dead jobs back in their queue (or `toQueue`): attempts reset, history kept.
   * `onProgress(n)` is called after each batch with the jobs it replayed (for operations that
   * report progress: HTTP `GET /operations/:id`).
   */
  async replay(options: DlqReplayOptions, onProgress?: (n: number) => void): Promise<DlqReplaySummary> {
    const issues = new Issues();
    const selection = this.checkSelection(issues, options, ['toQueue', 'payload']);
    checkProgressCallback(issues, onProgress);
    if (options.toQueue !== undefined) checkIdentifier(issues, 'toQueue', options.toQueue);
    let payload: string | undefined;
    if (options.payload !== undefined) {
      if (!selection.ids || selection.ids.length !== 1) issues.add('payload', 'can only be replaced when replaying exactly one job (ids: [id])');
      else payload = serializeJson(issues, 'payload', options.payload, this.client.maxPayloadBytes) ?? undefined;
    }
    issues.throwIfAny();
    const summary: DlqReplaySummary = { replayed: 0, ids: [], skipped: [] };
    const skipped = new Set<string>();
    await this.inBatches(selection, async (sel) => {
      const result = await this.client.run((b) =>
        b.dlqReplay({ ...sel, limit: BATCH, ...(options.toQueue ? { toQueue: options.toQueue } : {}), ...(payload ? { payload } : {}) }),
      );
      summary.replayed += result.replayed.length;
      summary.ids.push(...result.replayed);
      onProgress?.(result.replayed.length);
      // Skipped jobs stay dead and match the filter again in the next batch: list each once.
      for (const { id } of result.skipped) {
        if (skipped.has(id)) continue;
        skipped.add(id);
        summary.skipped.push(id);
      }
      return result.replayed.length;
    });
    return summary;
  }

  /** Deletes dead jobs for good. Returns how many. `onProgress(n)`: after each batch (see replay). */
  async purge(selection: DlqSelection, onProgress?: (n: number) => void): Promise<number> {
    const issues = new Issues();
    const sel = this.checkSelection(issues, selection, []);
    checkProgressCallback(issues, onProgress);
    issues.throwIfAny();
    let purged = 0;
    await this.inBatches(sel, async (s) => {
      const n = await this.client.run((b) => b.dlqPurge({ ...s, limit: BATCH }));
      purged += n;
      onProgress?.(n);
      return n;
    });
    return purged;
  }

  /** Marks dead jobs as handled with an operator note; they leave the DLQ depth but are kept. `onProgress(n)`: after each batch (see replay). */
  async resolve(options: DlqSelection & { note: string }, onProgress?: (n: number) => void): Promise<number> {
    const issues = new Issues();
    const sel = this.checkSelection(issues, options, ['note']);
    checkProgressCallback(issues, onProgress);
    if (typeof options.note !== 'string' || options.note.trim().length === 0 || options.note.length > 2000) {
      issues.add('note', 'must be a non-empty string of at most 2000 characters');
    }
    issues.throwIfAny();
    let resolved = 0;
    // Resolved jobs still match a filter without `resolved: false`, so restrict batches to unresolved ones.
    const batchSel = sel.filter ? { filter: { ...sel.filter, resolved: false } } : sel;
    await this.inBatches(batchSel, async (s) => {
      const n = await this.client.run((b) => b.dlqResolve({ ...s, limit: BATCH, note: options.note }));
      resolved += n;
      onProgress?.(n);
      return n;
    });
    return resolved;
  }

  private checkSelection(issues: Issues, options: unknown, extraKeys: string[]): { ids?: string[]; filter?: JobFilter } {
    if (!checkPlainObject(issues, 'selection', options)) return {};
    checkKnownKeys(issues, 'selection', options, ['ids', 'filter', 'all', ...extraKeys]);
    const given = ['ids', 'filter', 'all'].filter((k) => options[k] !== undefined);
    if (given.length !== 1) {
      issues.add('selection', 'give exactly one of ids, filter or all: true');
      return {};
    }
    if (options.all !== undefined) {
      if (options.all !== true) issues.add('all', 'must be true');
      return { filter: {} };
    }
    if (options.filter !== undefined) {
      const filter = checkFilter(issues, 'filter', options.filter, false);
      return filter ? { filter } : {};
    }
    const ids = options.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS) {
      issues.add('ids', `must be an array of 1..${MAX_IDS} job ids`);
      return {};
    }
    for (let i = 0; i < ids.length; i++) checkJobId(issues, `ids[${i}]`, ids[i]); // holes of sparse arrays too
    return { ids: ids as string[] };
  }

  /** Runs `step` over id chunks, or repeatedly over a filter until a batch does nothing. */
  private async inBatches(sel: { ids?: string[]; filter?: JobFilter }, step: (s: { ids?: string[]; filter?: JobFilter }) => Promise<number>): Promise<void> {
    if (sel.ids) {
      for (let i = 0; i < sel.ids.length; i += BATCH) await step({ ids: sel.ids.slice(i, i + BATCH) });
      return;
    }
    if (!sel.filter) throw new ValidationError([{ path: 'selection', message: 'missing' }]);
    // Only jobs already dead when the operation began: a replayed job that fails again and is
    // dead before the next pass (a fast worker in this process can do that in milliseconds) must
    // not be replayed a second time — with a handler that always fails, that looped for ever.
    const began = await this.client.now();
    const failedBefore = sel.filter.failedBefore && sel.filter.failedBefore < began ? sel.filter.failedBefore : began;
    const filter: JobFilter = { ...sel.filter, failedBefore };
    // Each pass moves (or resolves) what it selected, so the filter matches fewer jobs each time;
    // stop at the first pass that changes nothing. (Replay-skipped jobs stay dead: if a whole
    // batch is skipped the loop stops — see docs/decisions/0006-dead-letter-queue.md.)
    for (;;) {
      const n = await step({ filter });
      if (n === 0) break;
    }
  }
}
