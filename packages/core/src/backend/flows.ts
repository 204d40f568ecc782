/**
 * Flows (parent/child jobs) as the Backend offers them: the insert of a whole job tree in one
 * atomic call (`insertFlow`) and the read of a parent's children (`getChildren`). The client API
 * is `client.flow(spec)` (core flow.ts); the model is docs/decisions/0012-flows.md.
 *
 * Invariants every backend keeps (docs/design/backend-semantics.md, "Flows"):
 * - insertFlow is one transaction: every node or none. A node with children is stored `waiting`
 *   with `pending_children` = its number of children and its `on_child_failure` policy; a leaf
 *   is stored as insertJobs stores a job (`queued`, or `scheduled` when delayed). Each child
 *   carries `parent_id`. Dedup applies to the root only: when its id (or live unique key)
 *   exists, nothing is inserted and the answer names the existing job.
 * - Progression: in the same transaction as any change that moves a child with a parent from an
 *   unfinished state to a finished one (completed, dead, cancelled) — or deletes an unfinished
 *   child — the parent, if still `waiting`, counts one child less. A failed child (dead,
 *   cancelled, deleted) under `fail` ends the parent `dead` (and so on up the tree); when the
 *   count reaches 0 the parent becomes `queued` (`scheduled` if its own run time is still ahead),
 *   event `promoted`. A child moved back from a finished state (retry, DLQ replay) while its
 *   parent still waits is counted again. A parent that left `waiting` is never touched again by
 *   its children: one terminal transition per job.
 */
import type { JobInsert } from './backend.js';
import type { ChildFailurePolicy, JobState } from '../job/types.js';

/** One node of a flow, in pre-order: every node's parent comes before it. */
export interface FlowNodeInsert extends JobInsert {
  /** Index in `nodes` of this node's parent (an earlier node); null for the root (the first node). */
  parentIndex: number | null;
  /** Number of direct children; 0 for a leaf (then the node is inserted like any job). */
  childCount: number;
  /** Meaningful for nodes with children. */
  onChildFailure: ChildFailurePolicy;
}

export interface InsertFlowParams {
  /** 1..MAX_FLOW_NODES nodes, the root first; only the root may carry a caller id or a unique key. */
  nodes: FlowNodeInsert[];
  now?: Date;
}

/**
 * `inserted: false`: the root's id matched an existing job, or its unique key a live job of its
 * queue; nothing was inserted and `id`/`state` are the existing job's (`states` is empty).
 * `inserted: true`: every node was inserted; `states[k]` is node k's state.
 */
export interface InsertFlowResult {
  inserted: boolean;
  id: string;
  state: JobState;
  states: JobState[];
}

/** Limits of one flow, checked by the core before a backend is called. */
export const MAX_FLOW_NODES = 1000;
/** Levels of a flow tree, the root's included. */
export const MAX_FLOW_DEPTH = 10;

/** What a finished child did to its waiting parent, as the backends word it (failure reason). */
export function childFailureReason(queue: string, name: string, outcome: 'dead' | 'cancelled' | 'deleted'): string {
  return `child ${queue}/${name} ${outcome}`;
}
