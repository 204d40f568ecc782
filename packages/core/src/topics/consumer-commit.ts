/**
 * A consumer's commits (docs/decisions/0017-topics.md, "Amendments: manual commits"): the one path
 * every commit of a consumer takes — its automatic commit after a handled run, a handler's
 * `message.commit()` / `batch.commit(offset?)`, and `consumer.commitOffsets(...)` — into the
 * backend's generation-fenced, monotonic `commitOffsets`.
 *
 * Invariants:
 * - A commit names a generation: a handler's commit the generation its message was delivered in,
 *   `commitOffsets` the member's current assignment. The backend accepts it only from a live
 *   member that owns the partition in the group's current generation, so a member that lost the
 *   partition (rebalance, seek, expiry) cannot move it.
 * - `backwards` is not an error here: commits are monotonic and a lower offset is already covered
 *   (a handler may commit its messages out of order). `stale_generation`, `not_assigned` and
 *   `beyond_high_water` reject with CommitRefusedError (a ConflictError, code `conflict`) naming
 *   each refused offset; the accepted offsets of the same call are stored. A refusal that says
 *   the partition moved also asks the consumer to heartbeat at once (`onMoved`).
 * - `known(p)` is the highest offset this member knows to be committed in partition p (set when a
 *   partition loop starts, raised by each accepted commit). It is never above the stored one.
 */
import type { CommitOutcome } from '../backend/topics.js';
import type { Client } from '../client.js';
import { ConflictError } from '../errors.js';
import { Issues } from '../validate.js';
import { checkCommitOffsets } from './input.js';

export interface RefusedCommit {
  partition: number;
  offset: number;
  outcome: Exclude<CommitOutcome, 'ok' | 'backwards'>;
}

/**
 * A commit the group refused: the partition moved to another generation or member
 * (`stale_generation`, `not_assigned` — its messages after the committed offset will be delivered
 * again to its owner), or the offset is beyond the partition's high water.
 */
export class CommitRefusedError extends ConflictError {
  constructor(
    readonly topic: string,
    readonly group: string,
    readonly generation: number,
    readonly refused: RefusedCommit[],
  ) {
    super(
      `commit to group ${group} of ${topic} (generation ${generation}) refused: ` +
        refused.map((r) => `partition ${r.partition} offset ${r.offset}: ${r.outcome}`).join('; ') +
        (refused.some((r) => r.outcome !== 'beyond_high_water') ? ' (the partition was reassigned: its owner reads again from the committed offset)' : ''),
    );
  }
}

export class Commits {
  private readonly committed = new Map<number, number>();

  constructor(
    private readonly client: Client,
    private readonly topic: string,
    private readonly group: string,
    private readonly memberId: string,
    private readonly onMoved: () => void,
  ) {}

  /** A partition loop starts from `committed` (read from the group). */
  started(partition: number, committed: number): void {
    this.committed.set(partition, committed);
  }

  known(partition: number): number | undefined {
    return this.committed.get(partition);
  }

  /** Commits and answers each offset's outcome; a refusal is an answer here, not an error. */
  async send(generation: number, offsets: Array<{ partition: number; offset: number }>): Promise<CommitOutcome[]> {
    const outcomes = await this.client.run((b) => b.commitOffsets({ topic: this.topic, group: this.group, memberId: this.memberId, generation, offsets }));
    offsets.forEach((o, i) => {
      if (outcomes[i] === 'ok' && (this.committed.get(o.partition) ?? -1) < o.offset) this.committed.set(o.partition, o.offset);
    });
    if (outcomes.some((x) => x === 'stale_generation' || x === 'not_assigned')) this.onMoved();
    return outcomes;
  }

  /** Commits; rejects with CommitRefusedError unless every offset was accepted (or already passed). */
  async commit(generation: number, offsets: Array<{ partition: number; offset: number }>): Promise<void> {
    const outcomes = await this.send(generation, offsets);
    const refused: RefusedCommit[] = [];
    offsets.forEach((o, i) => {
      const outcome = outcomes[i]!;
      if (outcome !== 'ok' && outcome !== 'backwards') refused.push({ ...o, outcome });
    });
    if (refused.length > 0) throw new CommitRefusedError(this.topic, this.group, generation, refused);
  }

  /** `consumer.commitOffsets(offsets)` in `generation` (null: the member has no assignment). */
  async commitOffsets(generation: number | null, offsets: unknown): Promise<void> {
    const checked = checkCommitOffsets(offsets);
    if (generation === null) {
      throw new CommitRefusedError(this.topic, this.group, 0, checked.map((o) => ({ ...o, outcome: 'not_assigned' as const })));
    }
    await this.commit(generation, checked);
  }

  /** `message.commit()`: the group's next offset in `partition` becomes `offset + 1`. */
  forMessage(generation: number, partition: number, offset: number): () => Promise<void> {
    return () => this.commit(generation, [{ partition, offset: offset + 1 }]);
  }

  /** `batch.commit(offset?)`: through the message at `offset` (default the last) of the batch. */
  forBatch(generation: number, partition: number, offsets: readonly number[]): (offset?: number) => Promise<void> {
    return async (offset?: number) => {
      const last = offsets[offsets.length - 1]!;
      if (offset !== undefined && !offsets.includes(offset)) {
        const issues = new Issues();
        issues.add('offset', `must be the offset of a message of this batch (${offsets[0]}..${last}; got ${String(offset)})`);
        issues.throwIfAny();
      }
      await this.commit(generation, [{ partition, offset: (offset ?? last) + 1 }]);
    };
  }
}
