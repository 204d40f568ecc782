/**
 * Schema migrations: the numbered SQL files of `../migrations/` (with `{{schema}}` replaced by
 * the quoted schema), applied in order and recorded in `<schema>.migrations`.
 *
 * Invariants:
 * - All pending migrations are applied in ONE transaction that first takes
 *   `pg_advisory_xact_lock(<key of the schema>)`: processes migrating at once queue up on the
 *   lock, and each sees what the previous one committed (READ COMMITTED: every statement after
 *   the lock reads a fresh snapshot). A failure rolls everything back.
 * - `CREATE SCHEMA IF NOT EXISTS` runs under that lock too (run concurrently it can fail).
 * - checkSchema only reads; it throws MigrationRequiredError when the schema is missing or
 *   behind the code.
 */
import { latestVersion, loadMigrations, MigrationRequiredError, type Migration, type MigrationResult } from '@spindle/core';
import type { Ctx } from './context.js';
import { pgErrorCode, toBackendError } from './db.js';

let loaded: Migration[] | undefined;

/** The migrations shipped with this package (read once). */
export function migrations(): Migration[] {
  loaded ??= loadMigrations(new URL('../migrations/', import.meta.url));
  return loaded;
}

export async function migrate(ctx: Ctx): Promise<MigrationResult> {
  const { q, migrations: table, migrateLockKey } = ctx.names;
  const all = migrations();
  return ctx.db.transaction('migrate', async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrateLockKey]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(`SELECT coalesce(max(version), 0)::int AS version FROM ${table}`);
    const current = rows[0]?.version ?? 0;
    const applied: string[] = [];
    for (const migration of all) {
      if (migration.version <= current) continue;
      await client.query(migration.sql.replaceAll('{{schema}}', q));
      await client.query(`INSERT INTO ${table} (version, name, applied_at) VALUES ($1, $2, now())`, [migration.version, migration.name]);
      applied.push(migration.name);
    }
    return { applied, version: Math.max(current, latestVersion(all)) };
  });
}

/** SQLSTATEs of a missing schema or table. */
const MISSING = new Set(['3F000', '42P01']);

export async function checkSchema(ctx: Ctx): Promise<void> {
  const needed = latestVersion(migrations());
  let current = 0;
  try {
    const rows = await ctx.db.query('checkSchema', {
      text: `SELECT coalesce(max(version), 0)::int AS version FROM ${ctx.names.migrations}`,
    });
    current = (rows[0]?.version as number) ?? 0;
  } catch (err) {
    if (!MISSING.has(pgErrorCode(err) ?? '')) throw toBackendError('checkSchema', err);
  }
  if (current < needed) {
    throw new MigrationRequiredError(
      `PostgreSQL schema "${ctx.names.schema}" is at version ${current}, this code needs ${needed}: run migrations (spindle migrate)`,
    );
  }
}
