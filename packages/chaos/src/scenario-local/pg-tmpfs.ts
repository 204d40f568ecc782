/**
 * A real full disk for PostgreSQL (C8): a small tmpfs mounted as root, made a tablespace, the
 * run's schema's tables and indexes moved onto it; `fill()` writes a filler file until the
 * filesystem is full (ENOSPC), `heal()` deletes it. Needs root with CAP_SYS_ADMIN (`mount -t
 * tmpfs`) and a PostgreSQL server on this machine running as the OS user `postgres`.
 *
 * Owns the mount point, the tablespace and the filler. Invariants:
 * - `release()` moves every table and index of the schema back to pg_default, drops the
 *   tablespace, unmounts and removes the mount point — idempotent, and called on every path by
 *   its user — so the runner can drop the schema and the machine keeps no mount behind.
 * - The filler is the only thing written to the mount besides PostgreSQL's own files; `heal()`
 *   removes all of it.
 * - Only the run's schema lives there: other schemas of the database never see the full disk
 *   (PostgreSQL's WAL stays on the main disk, so commits of other tables go on).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgTmpfs {
  readonly mountPoint: string;
  readonly tablespace: string;
  /** Bytes free on the mount now. */
  free(): number;
  fill(): number;
  heal(): void;
  release(): Promise<void>;
}

/** Whether `mount -t tmpfs` works here (tries it on a scratch directory). */
export function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const q = (ident: string): string => `"${ident.replace(/"/g, '""')}"`;

export async function setupPgTmpfs(url: string, schema: string, sizeMiB = 64): Promise<PgTmpfs> {
  const mountPoint = mkdtempSync(join(tmpdir(), 'spindle-c8-tmpfs-'));
  const tablespace = `spindle_c8_${schema.replace(/[^a-z0-9_]/g, '').slice(-24)}`;
  const filler = join(mountPoint, 'filler');
  const client = new pg.Client({ connectionString: url });
  let mounted = false;
  let created = false;
  let released = false;
  const relations = async (): Promise<Array<{ kind: string; name: string }>> => {
    const r = await client.query<{ kind: string; name: string }>(
      `SELECT CASE c.relkind WHEN 'i' THEN 'INDEX' ELSE 'TABLE' END AS kind, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY c.relkind DESC`, [schema]);
    return r.rows;
  };
  const moveAll = async (to: string): Promise<void> => {
    for (const rel of await relations()) await client.query(`ALTER ${rel.kind} ${q(schema)}.${q(rel.name)} SET TABLESPACE ${q(to)}`);
  };
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    rmSync(filler, { force: true });
    try {
      if (created) {
        await moveAll('pg_default');
        await client.query(`DROP TABLESPACE IF EXISTS ${q(tablespace)}`);
      }
    } finally {
      await client.end().catch(() => {});
      if (mounted) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
      rmSync(mountPoint, { recursive: true, force: true });
    }
  };
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', mountPoint], { stdio: 'ignore' });
    mounted = true;
    execFileSync('chown', ['postgres:postgres', mountPoint], { stdio: 'ignore' });
    await client.connect();
    await client.query(`CREATE TABLESPACE ${q(tablespace)} LOCATION '${mountPoint.replace(/'/g, "''")}'`);
    created = true;
    await moveAll(tablespace);
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  const free = (): number => {
    const s = statfsSync(mountPoint);
    return s.bavail * s.bsize;
  };
  return {
    mountPoint,
    tablespace,
    free,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(1 << 20, 0x5a);
      let written = 0;
      try {
        for (;;) {
          const n = writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(4096, free())));
          written += n;
          if (n === 0) break;
        }
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      return written;
    },
    heal() {
      rmSync(filler, { force: true });
    },
    release,
  };
}
