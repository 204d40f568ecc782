/**
 * @spindle/sqlite — Spindle's embedded backend: one SQLite file (WAL) shared by any number of
 * processes on one machine, through better-sqlite3.
 */
export { SqliteBackend } from './sqlite-backend.js';
export type { SqliteBackendOptions } from './options.js';
export type { ConnectionSettings } from './connection.js';
