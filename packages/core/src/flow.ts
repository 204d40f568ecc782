/**
 * Flows on the client: `client.flow(spec)` validates a whole job tree and inserts it with ONE
 * backend call (`insertFlow`); `client.getChildren(id)` and the handler's `job.children()` read
 * what the children became. The model and its decisions: docs/decisions/0012-flows.md.
 *
 * Invariants:
 * - Nothing is written unless the whole tree is valid: every node's name, payload (and the
 *   queue's schema when this client registered one), options, policy and children are checked
 *   first, and all issues are thrown together as one ValidationError whose paths name the node
 *   (`children[2].payload`, `children[0].children[1].opts.delay`).
 * - Limits: at most MAX_FLOW_NODES nodes and MAX_FLOW_DEPTH levels (the root is level 1).
 * - Only the root may carry `opts.id` / `opts.uniqueKey` / `opts.unique` (an idempotent flow): a
 *   child that deduplicated against some other job would leave its parent waiting for a job that
 *   is not its child. The root's `unique` may not `replace` (the new children would be dropped).
 *   No node takes `opts.transaction` (a flow is its own transaction).
 * - Nodes are sent in pre-order (a parent before its children), children in spec order; the
 *   answer is the same tree with each node's id and state.
 * - A node with children gets the client's dead retention written into its own rule when it has
 *   none: a parent failed by a child is ended inside the database, where the client's defaults
 *   are not known.
 */
import type { Client } from './client.js';
import type { InsertOutcome, JobInsert } from './backend/backend.js';
import { MAX_FLOW_DEPTH, MAX_FLOW_NODES, type FlowNodeInsert } from './backend/flows.js';
import type { ChildFailurePolicy, JobRecord, JobState } from './job/types.js';
import { buildJobInsert, mergeOptions, type JobOptions } from './job/options.js';
import { checkIdentifier, checkJobId, checkKnownKeys, checkPlainObject, describe, isPlainObject, Issues } from './validate.js';

/** One node of a flow: a job, and the jobs that must finish before it runs. */
export interface FlowSpec {
  queue: string;
  name: string;
  payload: unknown;
  /** Job options (`delay`, `priority`, `maxRetries`, …); `id` / `uniqueKey` / `unique` on the root only. */
  opts?: JobOptions;
  /** Jobs (of any queue, with children of their own) this one waits for. */
  children?: FlowSpec[];
  /** What a dead or cancelled child does to this job: `fail` (default) or `continue`. */
  onChildFailure?: ChildFailurePolicy;
}

/** A node of an inserted flow. */
export interface FlowNode {
  id: string;
  queue: string;
  name: string;
  /** `waiting` for a node with children, else `queued` or `scheduled`. */
  state: JobState;
  children: FlowNode[];
}

/**
 * The inserted tree. `inserted: false`: the root's id (or unique key) matched an existing job;
 * nothing was written, `id`/`state` are the existing job's and `children` is empty (read them
 * with `client.getChildren(id)`).
 */
export interface FlowResult extends FlowNode {
  inserted: boolean;
}

/** What a parent's handler learns about a child (`job.children()`). */
export interface FlowChild {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  /** The child's result when it completed (null otherwise). */
  result: unknown;
  /** Why it died, when it did. */
  failureReason: string | null;
}

const SPEC_KEYS = ['queue', 'name', 'payload', 'opts', 'children', 'onChildFailure'];

/** A validated node before insertion, with the indexes of its children in the node list. */
interface Draft {
  insert: FlowNodeInsert;
  children: number[];
}

/** The nodes validated so far (pre-order), and whether the node limit was passed (reported once). */
interface Walk {
  drafts: Draft[];
  overflow: boolean;
}

/** Walks the spec in pre-order, validating each node; drafts are pushed in that order. */
async function collect(client: Client, issues: Issues, spec: unknown, path: string, depth: number, parentIndex: number | null, walk: Walk): Promise<number | null> {
  const { drafts } = walk;
  if (walk.overflow) return null;
  const at = (field: string) => (path === '' ? field : `${path}.${field}`);
  const where = path === '' ? 'spec' : path;
  if (!checkPlainObject(issues, where, spec)) return null;
  if (path !== '') checkKnownKeys(issues, path, spec, SPEC_KEYS);
  else {
    for (const key of Object.keys(spec)) {
      if (!SPEC_KEYS.includes(key) && spec[key] !== undefined) issues.add(key, `is not a known field (known: ${SPEC_KEYS.join(', ')})`);
    }
  }
  if (drafts.length >= MAX_FLOW_NODES) {
    walk.overflow = true;
    issues.add(where, `a flow has at most ${MAX_FLOW_NODES} jobs`);
    return null;
  }
  if (depth > MAX_FLOW_DEPTH) {
    issues.add(where, `a flow is at most ${MAX_FLOW_DEPTH} levels deep`);
    return null;
  }
  const queueOk = checkIdentifier(issues, at('queue'), spec.queue);
  const queue = queueOk ? (spec.queue as string) : 'invalid';
  const registered = queueOk ? client.registeredQueue(queue) : undefined;
  const rawOpts = spec.opts as JobOptions | undefined;
  if (rawOpts !== undefined && isPlainObject(rawOpts)) {
    if (parentIndex !== null && rawOpts.id !== undefined) issues.add(at('opts.id'), 'only the root of a flow may have a caller-chosen id');
    if (parentIndex !== null && rawOpts.uniqueKey !== undefined) issues.add(at('opts.uniqueKey'), 'only the root of a flow may have a unique key');
    if (parentIndex !== null && rawOpts.unique !== undefined) issues.add(at('opts.unique'), 'only the root of a flow may have a unique key');
    // A replaced root would keep its own children and drop the new ones: a flow root only keeps.
    if (isPlainObject(rawOpts.unique) && rawOpts.unique.onConflict === 'replace') {
      issues.add(at('opts.unique.onConflict'), "a flow's root cannot replace its key's holder (the new flow's children would be dropped): use 'keep'");
    }
    if (rawOpts.transaction !== undefined) issues.add(at('opts.transaction'), 'a flow is inserted in its own transaction');
  }
  // A transaction option is refused above; the rest is validated as `queue.add` validates it.
  const merged: unknown = mergeOptions(registered?.definition.defaultJobOptions, rawOpts);
  let opts: unknown = merged;
  if (isPlainObject(merged)) {
    const { transaction: _tx, ...rest } = merged;
    opts = rest;
  }
  const before = issues.list.length;
  const checked = registered ? await registered.validatePayload(issues, at('payload'), spec.payload) : spec.payload;
  // A payload the schema refused is reported once (not again as "undefined is not JSON").
  const payload = issues.list.length > before ? null : checked;
  const prefix = path === '' ? '' : `${path}.`;
  const ctx = { queue, maxPayloadBytes: client.maxPayloadBytes, customBackoff: typeof registered?.definition.backoff === 'function' };
  const job: JobInsert | null = buildJobInsert(issues, prefix, ctx, spec.name, payload, opts);
  const policy = spec.onChildFailure ?? 'fail';
  if (policy !== 'fail' && policy !== 'continue') issues.add(at('onChildFailure'), `must be 'fail' or 'continue' (got ${describe(policy)})`);
  const children = spec.children ?? [];
  if (!Array.isArray(children)) {
    issues.add(at('children'), `must be an array of flow specs (got ${describe(children)})`);
    return null;
  }
  const index = drafts.length;
  const draft: Draft = {
    insert: { ...(job ?? placeholder(queue)), parentIndex, childCount: children.length, onChildFailure: policy as ChildFailurePolicy },
    children: [],
  };
  drafts.push(draft);
  for (let i = 0; i < children.length && !walk.overflow; i++) {
    const child = await collect(client, issues, children[i], at(`children[${i}]`), depth + 1, index, walk);
    if (child !== null) draft.children.push(child);
  }
  return index;
}

/** Stands in for a node whose job did not validate (its issues are recorded; nothing is inserted). */
function placeholder(queue: string): JobInsert {
  return {
    id: 'invalid',
    queue,
    name: 'invalid',
    payload: 'null',
    priority: 0,
    maxRetries: 0,
    delayMs: null,
    runAt: null,
    uniqueKey: null,
    group: null,
    timeoutMs: null,
    backoff: null,
    retention: { completedKeepMs: null, completedKeepCount: null, deadKeepMs: null, deadKeepCount: null },
  };
}

/** Validates a flow spec into pre-ordered nodes (throws ValidationError with every issue). */
export async function buildFlow(client: Client, spec: unknown): Promise<{ nodes: FlowNodeInsert[]; children: number[][] }> {
  const issues = new Issues();
  const walk: Walk = { drafts: [], overflow: false };
  await collect(client, issues, spec, '', 1, null, walk);
  const { drafts } = walk;
  issues.throwIfAny();
  const deadMs = client.retention.deadMs;
  const nodes = drafts.map(({ insert }) =>
    insert.childCount > 0 && insert.retention.deadKeepMs === null && deadMs !== null
      ? { ...insert, retention: { ...insert.retention, deadKeepMs: deadMs } }
      : insert,
  );
  return { nodes, children: drafts.map((d) => d.children) };
}

/** `client.flow(spec)`: validate, insert in one backend call, answer the tree of ids. */
export async function insertFlow(client: Client, spec: FlowSpec, count?: (jobs: JobInsert[], outcomes: InsertOutcome[]) => void): Promise<FlowResult> {
  const { nodes, children } = await buildFlow(client, spec);
  const result = await client.run((b) => b.insertFlow({ nodes }));
  const root = nodes[0]!;
  if (!result.inserted) return { id: result.id, queue: root.queue, name: root.name, state: result.state, children: [], inserted: false };
  count?.(nodes, nodes.map((n, k) => ({ id: n.id, inserted: true, state: result.states[k]! })));
  const build = (k: number): FlowNode => {
    const node = nodes[k]!;
    return { id: node.id, queue: node.queue, name: node.name, state: result.states[k]!, children: children[k]!.map(build) };
  };
  return { ...build(0), inserted: true };
}

/** `client.getChildren(id)`: the job's children, in the order the flow listed them. */
export async function getChildren(client: Client, parentId: string): Promise<JobRecord[]> {
  const issues = new Issues();
  checkJobId(issues, 'parentId', parentId);
  issues.throwIfAny();
  return client.run((b) => b.getChildren(parentId));
}

/** The handler's view of a child. */
export function toFlowChild(job: JobRecord): FlowChild {
  return { id: job.id, queue: job.queue, name: job.name, state: job.state, result: job.result, failureReason: job.failureReason };
}
