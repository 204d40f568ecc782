/**
 * @spindle/core — the public surface: errors, job vocabulary, the Backend interface and the
 * helpers backends share. (Client, Queue and Worker are exported here as they land.)
 */
export * from './errors.js';
export * from './job/types.js';
export * from './backend/backend.js';
export * from './backend/helpers.js';
export * from './backend/migrations.js';
