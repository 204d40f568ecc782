/**
 * @spindle/chaos — the reliability chaos suite's foundation (reliability.md §5): the history
 * model, the recorder that writes it, the final-state reader and the pure invariant checker.
 * Workspace-internal (private): nothing here ships to users.
 */
export * from './history.js';
export * from './canonical.js';
export * from './final-state.js';
export * from './recorder.js';
export * from './checker.js';
export { Model, type Lease, type TerminalTransition } from './model.js';
export * from './faults/index.js';
