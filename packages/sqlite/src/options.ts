/**
 * Options of the SQLite backend and their defaults, resolved once at construction.
 *
 * Invariants: every resolved field is set (no undefined past this point); durations are
 * positive integers of milliseconds. Bad options throw ValidationError before anything opens.
 */
import { ValidationError } from '@spindle/core';

export interface SqliteBackendOptions {
  /** Database file. `':memory:'` works but is private to one connection (single process). */
  path: string;
  /**
   * `FULL` (default): a resolved write survives power loss. `NORMAL`: faster commits in WAL
   * mode; the database stays consistent, but the last transactions acknowledged before a power
   * loss (not a process crash) may be rolled back. Choose it only if that trade is acceptable.
   * With FULL, claims, heartbeats and progress still commit at NORMAL (their loss only makes a
   * job run again, or a progress value older): enqueues and outcomes are what FULL protects.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a write waits for another connection's lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * How often commits of other processes are checked (`PRAGMA data_version`), while someone is
   * subscribed. Default 50: their events arrive 25 ms late on average. 50 is the smallest
   * interval found to keep an idle process under 0.5 % of a core: measured on a 2-vCPU VM over
   * 10 s, 0.4 % at 50 ms, 0.6 % at 40, 1.4 % at 10, 1.9 % at 5 (0.03 % not polling). The cost is
   * the timer waking the process (~100 µs each there), not the check itself (~2 µs).
   */
  eventPollMs?: number;
  /** Apply pending migrations when the backend is constructed. Default false (core calls migrate()). */
  autoMigrate?: boolean;
}

export interface ResolvedOptions {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  eventPollMs: number;
  autoMigrate: boolean;
  /** `:memory:` (or an empty path, SQLite's private temporary database): one connection only. */
  inMemory: boolean;
}

export function resolveOptions(options: SqliteBackendOptions): ResolvedOptions {
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < 1) throw new ValidationError([{ path: name, message: 'must be a positive integer' }]);
    return value;
  };
  if (typeof options?.path !== 'string') throw new ValidationError([{ path: 'path', message: 'is required (a file path or :memory:)' }]);
  const synchronous = options.synchronous ?? 'FULL';
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
    throw new ValidationError([{ path: 'synchronous', message: "must be 'FULL' or 'NORMAL'" }]);
  }
  return {
    path: options.path,
    synchronous,
    busyTimeoutMs: positive(options.busyTimeoutMs, 5000, 'busyTimeoutMs'),
    eventPollMs: positive(options.eventPollMs, 50, 'eventPollMs'),
    autoMigrate: options.autoMigrate ?? false,
    inMemory: options.path === ':memory:' || options.path === '',
  };
}
