/**
 * @spindle/postgres — Spindle's backend on PostgreSQL (pg): SKIP LOCKED claims, LISTEN/NOTIFY
 * wake-ups, advisory-lock leader election and transactional enqueue with the caller's client.
 */
export { PostgresBackend } from './postgres-backend.js';
export { MAX_SCHEMA_CHARS, type PostgresBackendOptions } from './config.js';
