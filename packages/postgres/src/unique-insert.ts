/**
 * insertJobs and insertFlow's root on PostgreSQL for jobs with a unique mode (`uniqueMode`,
 * docs/decisions/0016-unique-jobs.md; the SQL is in unique-sql.ts). jobs-insert.ts hands over any
 * batch in which some job has one; jobs without a mode keep their own paths, untouched.
 *
 * Invariants:
 * - A batch is one transaction (ours, or the caller's `transaction`) of a few set-based statements
 *   per round, whatever its size. The jobs themselves go in through insertJobs' general path on
 *   that transaction (the INSERT every job takes). In a caller's transaction the events are a
 *   transaction's (NOTIFY origin `tx`, heard by every process, this one included, on commit); in
 *   our own they carry this process's origin and are delivered here after the commit, like any
 *   insert's (so local subscribers hear them even before, or without, LISTEN). No direct dispatch.
 * - A round: (1) a job whose id exists answers with that job, nothing else; (2) the other keyed
 *   jobs are grouped by key — `queued`/`active` keys and plain `uniqueKey`s share one namespace
 *   (jobs_unique_idx), period keys another (unique_keys) — the first of a group in input order is
 *   its candidate and the others behave as if added right after it; (3) each group's holder is
 *   read and locked (FOR UPDATE: claims skip it, other inserts wait for our commit); (4) a holder
 *   still `scheduled`/`queued` whose group has a `replace` takes the last such job's name,
 *   payload, priority and run time; any other holder is kept; (5) a free period key is taken;
 *   (6) the candidates go in, with the content of the last `replace` of their group; (7) their
 *   mode is recorded.
 * - Races, live keys: a holder committed by another transaction after our snapshot shows up as a
 *   conflict of the INSERT (ON CONFLICT DO NOTHING waits for that transaction); the group goes to
 *   the next round, whose fresh snapshot sees the holder. Period keys: every writer takes the
 *   key's advisory lock (transaction-level) before reading its holder, so takers of one key run
 *   one after the other and each reads what the previous committed (a check of "its job is
 *   gone" inside an ON CONFLICT clause would read a snapshot from before the wait). A period key
 *   taken for a job that did not go in (its id committed meanwhile) is given back. Rounds are
 *   bounded; a transaction of ours chosen as a deadlock victim is re-run whole.
 * - Jobs of one batch that meet the same job (a holder, or a job the batch added) all answer with
 *   its state after the batch; a `replace` of a job the batch added writes that job once, with
 *   the last `replace`'s content (no `updated` event: the job is new).
 */
import type pg from 'pg';
import { BackendError, type InsertOutcome, type JobInsert, type JobState, type SpindleEvent } from '@spindle/core';
import { dateArray, numberArray, textArray } from './array-literal.js';
import type { Ctx } from './context.js';
import { pgErrorCode, type Row } from './db.js';
import { eventsOf, TX_PREFIX } from './events.js';
import { existingIdsSql, indexHoldersSql, lockPeriodKeysSql, markSql, periodHoldersSql, releasePeriodSql, replaceSql, takePeriodSql } from './unique-sql.js';

const MAX_ROUNDS = 4;
const DEADLOCK_DETECTED = '40P01';
const DEADLOCK_RETRIES = 3;

/**
 * Inserts jobs without modes on `client` (insertJobs with `transaction`), answering in order.
 * `local`: the transaction is ours — its events carry this process's origin and are collected
 * there, to be delivered here after the commit (null: the caller's transaction, delivered from
 * its NOTIFY).
 */
export type PlainInsert = (jobs: JobInsert[], client: pg.ClientBase, local: SpindleEvent[] | null) => Promise<InsertOutcome[]>;

interface Holder {
  id: string;
  state: JobState;
}

/** Jobs of a batch with the same key in one namespace; `items`: their indexes, in input order. */
interface Group {
  period: boolean;
  queue: string;
  key: string;
  items: number[];
}

const groupId = (period: boolean, queue: string, key: string): string => `${period ? 'p' : 'i'}\u0000${queue}\u0000${key}`;
const isWaiting = (state: JobState): boolean => state === 'scheduled' || state === 'queued';

/** The job as insertJobs must see it: no mode (never handed back here), no index key for a period. */
function plainJob(job: JobInsert, period: boolean): JobInsert {
  const { uniqueMode: _mode, ...rest } = job;
  return period ? { ...rest, uniqueKey: null } : rest;
}

/** `job` with what a `replace` takes from `from`: name, payload, priority and run time. */
function withContent(job: JobInsert, from: JobInsert): JobInsert {
  return { ...job, name: from.name, payload: from.payload, priority: from.priority, delayMs: from.delayMs, runAt: from.runAt };
}

/** insertJobs for a batch in which some job has a unique mode (see the invariants). */
export async function insertWithUniqueModes(
  ctx: Ctx,
  jobs: JobInsert[],
  now: Date | undefined,
  client: pg.ClientBase | undefined,
  insert: PlainInsert,
): Promise<InsertOutcome[]> {
  if (client) return new UniqueBatch(ctx, client, jobs, now, insert, null).settle();
  for (let attempt = 1; ; attempt++) {
    try {
      // Our own transaction: its events are delivered here after the commit (as every insert's
      // are), whether or not this process listens; other processes hear its NOTIFY.
      const local: SpindleEvent[] = [];
      const outcomes = await ctx.db.transaction('insertJobs', (own) => new UniqueBatch(ctx, own, jobs, now, insert, local).settle());
      if (local.length > 0) ctx.events.publishLocal(local);
      return outcomes;
    } catch (err) {
      if (attempt >= DEADLOCK_RETRIES || pgErrorCode(err) !== DEADLOCK_DETECTED) throw err;
    }
  }
}

class UniqueBatch {
  private readonly outcomes: Array<InsertOutcome | undefined>;
  /** Holders a `replace` of this batch changed, with their state after it. */
  private readonly replaced = new Map<string, JobState>();

  constructor(
    private readonly ctx: Ctx,
    private readonly client: pg.ClientBase,
    private readonly jobs: JobInsert[],
    private readonly now: Date | undefined,
    private readonly insert: PlainInsert,
    /** Events of our own transaction, delivered after its commit; null in a caller's transaction. */
    private readonly local: SpindleEvent[] | null,
  ) {
    this.outcomes = new Array(jobs.length);
  }

  private query(text: string, values: unknown[]): Promise<Row[]> {
    return this.ctx.db.query('insertJobs', { text, values }, { client: this.client });
  }

  async settle(): Promise<InsertOutcome[]> {
    // A repeated id answers as its first occurrence's job (not inserted again), as insertJobs does.
    const first = new Map<string, number>();
    const repeats: Array<[number, number]> = [];
    let pending: number[] = [];
    this.jobs.forEach((job, i) => {
      const seen = first.get(job.id);
      if (seen === undefined) {
        first.set(job.id, i);
        pending.push(i);
      } else repeats.push([i, seen]);
    });
    for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) pending = await this.round(pending);
    if (pending.length > 0) throw new BackendError(`postgres: insertJobs could not settle ${pending.length} unique job(s) against concurrent inserts; retry the call`);
    for (const [i, seen] of repeats) {
      const { id, state } = this.outcomes[seen]!;
      this.outcomes[i] = { id, inserted: false, state };
    }
    // Every answer naming a job that the batch replaced gives its state after the batch.
    for (const outcome of this.outcomes) {
      const state = this.replaced.get(outcome!.id);
      if (state !== undefined) outcome!.state = state;
    }
    return this.outcomes as InsertOutcome[];
  }

  /** One round over `pending` (indexes); returns the indexes to take again in a fresh snapshot. */
  private async round(pending: number[]): Promise<number[]> {
    const { jobs, ctx } = this;
    const existing = await this.query(existingIdsSql(ctx.names), [textArray(pending.map((i) => jobs[i]!.id))]);
    const stateOf = new Map(existing.map((r) => [r.id as string, r.state as JobState]));
    const groups = new Map<string, Group>();
    const free: number[] = [];
    for (const i of pending) {
      const job = jobs[i]!;
      const state = stateOf.get(job.id);
      if (state !== undefined) this.outcomes[i] = { id: job.id, inserted: false, state };
      else if (job.uniqueKey === null) free.push(i);
      else {
        const period = job.uniqueMode?.scope === 'period';
        const id = groupId(period, job.queue, job.uniqueKey);
        let group = groups.get(id);
        if (group === undefined) groups.set(id, (group = { period, queue: job.queue, key: job.uniqueKey, items: [] }));
        group.items.push(i);
      }
    }
    const retry: number[] = [];
    const holders = await this.holders([...groups.values()]);
    const candidates: Group[] = [];
    const replacing: Array<{ group: Group; holder: Holder; by: number }> = [];
    for (const [id, group] of groups) {
      const holder = holders.get(id);
      if (holder === undefined) candidates.push(group);
      else {
        const by = group.items.findLast((i) => jobs[i]!.uniqueMode?.replace === true);
        if (by !== undefined && isWaiting(holder.state)) replacing.push({ group, holder, by });
        else this.answer(group, holder.id, holder.state, false);
      }
    }
    await this.replace(replacing, retry);
    const taken = await this.takePeriodKeys(candidates.filter((g) => g.period), retry);
    const going = candidates.filter((g) => !g.period || taken.has(groupId(true, g.queue, g.key)));
    await this.insertCandidates(going, free, retry);
    return retry.sort((a, b) => a - b);
  }

  /** Every job of `group` answers with job `id` (`replaced` for its `replace` jobs when it was). */
  private answer(group: Group, id: string, state: JobState, replaced: boolean, except?: number): void {
    for (const i of group.items) {
      if (i === except) continue;
      const outcome: InsertOutcome = { id, inserted: false, state };
      if (replaced && this.jobs[i]!.uniqueMode?.replace === true) outcome.replaced = true;
      this.outcomes[i] = outcome;
    }
  }

  /** The locked holder of each group's key, by group id. */
  private async holders(groups: Group[]): Promise<Map<string, Holder>> {
    const found = new Map<string, Holder>();
    for (const period of [false, true]) {
      const of = groups.filter((g) => g.period === period);
      if (of.length === 0) continue;
      const values: unknown[] = [textArray(of.map((g) => g.queue)), textArray(of.map((g) => g.key))];
      // Period keys: their locks first; the holders' read after them sees every earlier taker.
      if (period) await this.query(lockPeriodKeysSql, [this.ctx.names.schema, ...values]);
      const rows = await this.query((period ? periodHoldersSql : indexHoldersSql)(this.ctx.names), period ? [...values, this.now ?? null] : values);
      for (const r of rows) found.set(groupId(period, r.queue as string, r.key as string), { id: r.id as string, state: r.state as JobState });
    }
    return found;
  }

  /** Waiting holders take their group's last `replace`; one that moved meanwhile is looked at again. */
  private async replace(replacing: Array<{ group: Group; holder: Holder; by: number }>, retry: number[]): Promise<void> {
    if (replacing.length === 0) return;
    const from = replacing.map((r) => this.jobs[r.by]!);
    const rows = await this.query(replaceSql(this.ctx.names), [
      this.now ?? null,
      textArray(replacing.map((r) => r.holder.id)),
      textArray(from.map((j) => j.id)),
      textArray(from.map((j) => j.name)),
      textArray(from.map((j) => j.payload)),
      numberArray(from.map((j) => j.priority)),
      numberArray(from.map((j) => j.delayMs)),
      dateArray(from.map((j) => j.runAt)),
      this.ctx.names.channel,
      this.local ? this.ctx.events.prefix : TX_PREFIX,
    ]);
    this.local?.push(...eventsOf(rows));
    const stateOf = new Map(rows.map((r) => [r.id as string, r.state as JobState]));
    for (const { group, holder } of replacing) {
      const state = stateOf.get(holder.id);
      if (state === undefined) retry.push(...group.items);
      else {
        this.replaced.set(holder.id, state);
        this.answer(group, holder.id, state, true);
      }
    }
  }

  /** Takes the period keys of `groups` for their candidates; the ids of the groups that got theirs. */
  private async takePeriodKeys(groups: Group[], retry: number[]): Promise<Set<string>> {
    const taken = new Set<string>();
    if (groups.length === 0) return taken;
    const leads = groups.map((g) => this.jobs[g.items[0]!]!);
    const rows = await this.query(takePeriodSql(this.ctx.names), [
      this.now ?? null,
      textArray(groups.map((g) => g.queue)),
      textArray(groups.map((g) => g.key)),
      textArray(leads.map((j) => j.id)),
      numberArray(leads.map((j) => j.uniqueMode!.forMs)),
    ]);
    for (const r of rows) taken.add(groupId(true, r.queue as string, r.key as string));
    for (const g of groups) if (!taken.has(groupId(true, g.queue, g.key))) retry.push(...g.items);
    return taken;
  }

  /** Inserts the candidates (and the jobs without a key), records their modes, settles their groups. */
  private async insertCandidates(groups: Group[], free: number[], retry: number[]): Promise<void> {
    const { jobs } = this;
    const rows = [...free.map((i) => ({ i, group: null as Group | null })), ...groups.map((g) => ({ i: g.items[0]!, group: g }))];
    if (rows.length === 0) return;
    rows.sort((a, b) => a.i - b.i); // input order: the jobs' seq follows it
    const plain = rows.map(({ i, group }) => {
      const job = jobs[i]!;
      const by = group?.items.findLast((k) => k !== i && jobs[k]!.uniqueMode?.replace === true);
      return plainJob(by === undefined ? job : withContent(job, jobs[by]!), group?.period === true);
    });
    const answers = await this.insert(plain, this.client, this.local);
    const marks: JobInsert[] = [];
    const giveBack: Group[] = [];
    rows.forEach(({ i, group }, k) => {
      const answer = answers[k]!;
      if (group === null) this.outcomes[i] = answer;
      else if (!answer.inserted) {
        // A conflict our snapshot could not see (an id or key committed meanwhile): look again.
        retry.push(...group.items);
        if (group.period) giveBack.push(group);
      } else {
        this.outcomes[i] = answer;
        this.answer(group, answer.id, answer.state, true, i);
        if (jobs[i]!.uniqueMode) marks.push(jobs[i]!);
      }
    });
    if (marks.length > 0) {
      await this.query(markSql(this.ctx.names), [
        textArray(marks.map((j) => j.id)),
        textArray(marks.map((j) => j.uniqueMode!.scope)),
        textArray(marks.map((j) => j.uniqueKey)),
        numberArray(marks.map((j) => j.uniqueMode!.forMs)),
      ]);
    }
    if (giveBack.length > 0) {
      await this.query(releasePeriodSql(this.ctx.names), [
        textArray(giveBack.map((g) => g.queue)),
        textArray(giveBack.map((g) => g.key)),
        textArray(giveBack.map((g) => jobs[g.items[0]!]!.id)),
      ]);
    }
  }
}

/**
 * insertFlow's root with a unique mode, before its INSERT, on the flow's transaction: the job that
 * answers for it (its id taken, or its period key held), or the root to insert (a period key
 * taken for it, `unique_key` NULL). A `queued`/`active` key is settled by the INSERT itself, as
 * `uniqueKey` is. The core refuses `replace` on a flow root.
 */
export async function flowRootUnique<J extends JobInsert>(
  ctx: Ctx,
  client: pg.ClientBase,
  root: J,
  now: Date | undefined,
): Promise<{ holder: Holder } | { root: J }> {
  if (root.uniqueMode?.scope !== 'period') return { root };
  const query = (text: string, values: unknown[]) => ctx.db.query('insertFlow', { text, values }, { client });
  const key = [textArray([root.queue]), textArray([root.uniqueKey])];
  await query(lockPeriodKeysSql, [ctx.names.schema, ...key]);
  const [byId] = await query(existingIdsSql(ctx.names), [textArray([root.id])]);
  if (byId) return { holder: { id: byId.id as string, state: byId.state as JobState } };
  const [holder] = await query(periodHoldersSql(ctx.names), [...key, now ?? null]);
  if (holder) return { holder: { id: holder.id as string, state: holder.state as JobState } };
  await query(takePeriodSql(ctx.names), [now ?? null, ...key, textArray([root.id]), numberArray([root.uniqueMode.forMs])]);
  return { root: { ...root, uniqueKey: null } };
}

/** When insertFlow's root did not go in after all (an id committed meanwhile): gives back its period key. */
export async function releaseFlowRootKey(ctx: Ctx, client: pg.ClientBase, root: JobInsert): Promise<void> {
  if (root.uniqueMode?.scope !== 'period') return;
  await ctx.db.query('insertFlow', { text: releasePeriodSql(ctx.names), values: [textArray([root.queue]), textArray([root.uniqueKey]), textArray([root.id])] }, { client });
}

/** After insertFlow's root went in: records its mode (`root` as given, with its key). */
export async function markFlowRoot(ctx: Ctx, client: pg.ClientBase, root: JobInsert): Promise<void> {
  const mode = root.uniqueMode!;
  await ctx.db.query('insertFlow', {
    text: markSql(ctx.names),
    values: [textArray([root.id]), textArray([mode.scope]), textArray([root.uniqueKey]), numberArray([mode.forMs])],
  }, { client });
}
