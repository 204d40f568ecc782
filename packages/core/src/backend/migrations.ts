/**
 * Loads a backend's numbered SQL migrations (`NNNN_name.sql`) from a folder. Backends apply
 * them in order, under a lock, recording each in their migrations table.
 *
 * Invariant: versions are dense from 1 and unique; a gap or a duplicate is a packaging bug and
 * fails loudly rather than leaving a database half-migrated.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Migration {
  version: number;
  /** File name without extension, e.g. `0001_init`. */
  name: string;
  sql: string;
}

/** Reads every `NNNN_*.sql` file of `dir` (a path or a `file:` URL), sorted by version. */
export function loadMigrations(dir: string | URL): Migration[] {
  const path = dir instanceof URL ? fileURLToPath(dir) : dir;
  const migrations = readdirSync(path)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(`${path}/${file}`, 'utf8'),
    }));
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations in ${path} are not numbered 1..n (found ${m.name} at position ${i + 1})`);
  });
  return migrations;
}

/** The highest version in a loaded set (what the code needs the database to be at). */
export function latestVersion(migrations: Migration[]): number {
  return migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
}
