/**
 * Schema migrations: the numbered SQL files of `packages/sqlite/migrations`, applied in order
 * and recorded in `spindle_migrations(version, name, applied_at)`.
 *
 * Invariants:
 * - Each pending migration is applied inside its own BEGIN IMMEDIATE transaction, which holds
 *   the database's single write lock: that is the cross-process migration lock. Inside it the
 *   version is checked again, so when several processes migrate at once each migration runs
 *   exactly once and the others see it applied and skip it.
 * - A migration's DDL and its bookkeeping row commit together or not at all.
 */
import { latestVersion, loadMigrations, MigrationRequiredError, type Migration, type MigrationResult } from '@spindle/core';
import type { Connection } from './connection.js';

let cached: Migration[] | undefined;

/** The migrations shipped with this package (read from disk once per process). */
export function sqliteMigrations(): Migration[] {
  cached ??= loadMigrations(new URL('../migrations/', import.meta.url));
  return cached;
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS spindle_migrations (
  version     INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL,
  applied_at  INTEGER NOT NULL
)`;

export function migrate(conn: Connection): MigrationResult {
  const db = conn.db;
  db.transaction(() => db.exec(CREATE_TABLE)).immediate();
  const applied: string[] = [];
  for (const migration of sqliteMigrations()) {
    const didApply = db
      .transaction(() => {
        if (conn.stmt('SELECT 1 FROM spindle_migrations WHERE version = ?').get(migration.version)) return false;
        db.exec(migration.sql);
        conn.stmt('INSERT INTO spindle_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
        return true;
      })
      .immediate();
    if (didApply) applied.push(migration.name);
  }
  return { applied, version: schemaVersion(conn) };
}

/** The highest applied migration (0 on a fresh database). */
export function schemaVersion(conn: Connection): number {
  const table = conn.stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spindle_migrations'").get();
  if (!table) return 0;
  const row = conn.stmt('SELECT max(version) AS version FROM spindle_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

export function checkSchema(conn: Connection): void {
  const current = schemaVersion(conn);
  const needed = latestVersion(sqliteMigrations());
  if (current < needed) {
    throw new MigrationRequiredError(
      `SQLite database ${conn.options.path} is at schema version ${current}; this Spindle needs ${needed}: run migrations (\`spindle migrate\` or backend.migrate())`,
    );
  }
}
