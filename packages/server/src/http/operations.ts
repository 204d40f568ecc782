/**
 * Long-running operator actions (replay or purge by filter, bulk actions by filter) run in the
 * background and are polled at `GET /api/v1/operations/:id`.
 *
 * Invariants:
 * - An operation's work is already idempotent at the backend (compare-and-set batches), so a
 *   server restart mid-operation loses only the progress record, never correctness: running it
 *   again finishes the job. Operations are per server process (documented).
 * - Memory is bounded: at most `MAX_KEPT` records, finished ones dropped first (oldest first).
 * - A failure is recorded as a problem code and message, never a stack or SQL text.
 */
import { randomUUID } from 'node:crypto';
import { SpindleError } from '@spindle/core';

export type OperationStatus = 'running' | 'succeeded' | 'failed';

export interface Operation {
  id: string;
  kind: string;
  status: OperationStatus;
  /** Items processed so far (jobs replayed, purged, …). */
  processed: number;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  startedAt: string;
  finishedAt: string | null;
}

const MAX_KEPT = 1000;

export class Operations {
  private readonly ops = new Map<string, Operation>();
  private readonly running = new Set<Promise<void>>();

  /** Starts `work` in the background; `report(n)` adds to the processed count. */
  start(kind: string, work: (report: (n: number) => void) => Promise<Record<string, unknown>>): Operation {
    const op: Operation = { id: randomUUID(), kind, status: 'running', processed: 0, result: null, error: null, startedAt: new Date().toISOString(), finishedAt: null };
    this.evict();
    this.ops.set(op.id, op);
    const done = work((n) => {
      op.processed += n;
    }).then(
      (result) => {
        op.status = 'succeeded';
        op.result = result;
      },
      (err: unknown) => {
        op.status = 'failed';
        op.error = err instanceof SpindleError && err.code === 'validation_failed'
          ? { code: err.code, message: err.message }
          : { code: err instanceof SpindleError ? err.code : 'internal_error', message: 'The operation stopped on an error; run it again to finish (it is idempotent).' };
      },
    ).finally(() => {
      op.finishedAt = new Date().toISOString();
      this.running.delete(done);
    });
    this.running.add(done);
    return op;
  }

  get(id: string): Operation | undefined {
    return this.ops.get(id);
  }

  /** Waits for running operations (server shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private evict(): void {
    if (this.ops.size < MAX_KEPT) return;
    for (const [id, op] of this.ops) {
      if (op.status !== 'running') {
        this.ops.delete(id);
        if (this.ops.size < MAX_KEPT) return;
      }
    }
  }
}
