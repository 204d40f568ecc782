/**
 * Test helper: records the SQL statements (with their arguments) a SqliteBackend call runs and
 * returns SQLite's query plan for each, read on a second connection to the same file.
 * It reaches into the backend's private connection on purpose: the point is to check the plans
 * of the statements the real code path prepares, not of copies of them.
 */
import Database from 'better-sqlite3';
import type { SqliteBackend } from '../src/index.js';
import type { Connection, Stmt } from '../src/connection.js';

export interface Planned {
  sql: string;
  /** EXPLAIN QUERY PLAN details, indented by depth. */
  plan: string[];
}

export async function plansOf(backend: SqliteBackend, path: string, action: () => Promise<unknown>): Promise<Planned[]> {
  const conn = (backend as unknown as { conn: Connection }).conn;
  const calls: Array<{ sql: string; args: unknown[] }> = [];
  const original = conn.stmt;
  conn.stmt = (sql: string): Stmt => {
    const statement = original.call(conn, sql);
    const proxy: Stmt = new Proxy(statement, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (typeof value !== 'function') return value;
        const method = value as (...a: unknown[]) => unknown;
        if (!['all', 'get', 'run', 'iterate'].includes(String(key))) {
          // Modes (raw, pluck, …) return the statement itself: keep handing out the proxy.
          return (...args: unknown[]) => {
            const result = method.apply(target, args);
            return result === target ? proxy : result;
          };
        }
        return (...args: unknown[]) => {
          calls.push({ sql, args });
          return method.apply(target, args);
        };
      },
    });
    return proxy;
  };
  try {
    await action();
  } finally {
    conn.stmt = original;
  }
  const raw = new Database(path, { readonly: true });
  try {
    return calls.map(({ sql, args }) => ({ sql, plan: explain(raw, sql, args) }));
  } finally {
    raw.close();
  }
}

export function explain(db: Database.Database, sql: string, args: unknown[] = []): string[] {
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(args as never[])) as Array<{ id: number; parent: number; detail: string }>;
  const depth = new Map<number, number>();
  return rows.map((row) => {
    const d = (depth.get(row.parent) ?? -1) + 1;
    depth.set(row.id, d);
    return `${'  '.repeat(d)}${row.detail}`;
  });
}

/** The plan lines that walk the jobs table, or one of its full indexes, from end to end. */
export function fullScans(planned: Planned[]): string[] {
  const aliases = new Set(['spindle_jobs']);
  for (const p of planned) for (const m of p.sql.matchAll(/spindle_jobs(?:\s+INDEXED BY \w+)?\s+AS\s+(\w+)/gi)) aliases.add(m[1]!);
  const partial = /USING (COVERING )?INDEX spindle_jobs_(claim|due|lease|waiting|completed|dead|cancelled)_idx\b/;
  return planned.flatMap((p) =>
    p.plan
      .filter((line) => {
        const m = /^\s*SCAN (\w+)/.exec(line);
        return m !== null && aliases.has(m[1]!) && !partial.test(line);
      })
      .map((line) => `${line.trim()}   <- ${p.sql.replace(/\s+/g, ' ').slice(0, 160)}`),
  );
}
