/**
 * Fault driver: a private PostgreSQL cluster owned by the chaos suite (reliability.md §5.1,
 * "Postgres restart" and "Connection kills"; scenarios C3 and C4). It owns one temp directory
 * holding the data directory, the server log and the unix socket, and the postmaster started
 * from it; it restarts that server (`pg_ctl stop -m immediate|fast`, then start) and terminates
 * client backends (`pg_terminate_backend`).
 *
 * Invariants:
 * - Never the machine's shared instance: a fresh `initdb` in a new temp dir, listening only on
 *   127.0.0.1 on a port the kernel reported free, its unix socket inside the temp dir, trust
 *   auth for local connections only. Nothing outside the temp dir is written.
 * - Run as root, initdb/pg_ctl/postgres run as the `postgres` OS user (`runuser`), since
 *   PostgreSQL refuses to run as root; the temp dir is handed to that user.
 * - `restart`, `stop`, `start` return only once pg_ctl reports the server down / accepting
 *   connections (`-w`). `restart` keeps the port, so clients reconnect to the same address.
 * - `terminateBackends` waits (bounded) until each signalled backend has exited, never
 *   signals its own admin connection, and counts only backends that really went.
 * - `destroy` stops the server (immediate), kills it if it lingers and removes the temp dir;
 *   a process exiting without `destroy` still takes its clusters down (exit hook, best effort:
 *   a SIGKILLed test process leaves its cluster running).
 * - Durability settings are PostgreSQL's defaults (fsync on): only initdb skips its own fsync.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type FaultRecorder, freePort, isAlive, recordFault, sleep } from './nemesis.js';

export type PgStopMode = 'smart' | 'fast' | 'immediate';

export interface PrivateClusterOptions {
  /** Directory of initdb/pg_ctl. Default: $SPINDLE_PG_BIN, else /usr/lib/postgresql/15/bin, else the newest installed. */
  binDir?: string;
  /** OS user the server runs as when this process is root. Default `postgres`. */
  osUser?: string;
  /** Extra postgresql.conf settings (values written as given, e.g. `{ max_connections: '200' }`). */
  settings?: Record<string, string | number>;
  /** Written as the `fault` records of restarts and backend kills. */
  recorder?: FaultRecorder;
}

export interface PrivateCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The temp dir (data dir is `<dir>/data`, log `<dir>/server.log`, socket in `<dir>`). */
  readonly dir: string;
  readonly logFile: string;
  /** `postgresql://postgres@127.0.0.1:<port>/<db>` (db defaults to `postgres`). */
  connectionString(db?: string): string;
  /** The postmaster's pid while it runs (from postmaster.pid), else null. */
  pid(): number | null;
  start(): Promise<void>;
  stop(mode?: PgStopMode): Promise<void>;
  /** Stops with `mode`, stays down `downMs`, starts again. Recorded as fault `pg_restart`. */
  restart(mode: 'immediate' | 'fast', downMs: number): Promise<void>;
  /** pg_terminate_backend on every client backend but the admin's own (filtered). Returns how many went. */
  terminateBackends(filter?: { applicationName?: string; database?: string }): Promise<number>;
  createDatabase(name: string): Promise<void>;
  destroy(): Promise<void>;
}

const SUPERUSER = 'postgres';
const ADMIN_APP = 'spindle-chaos-admin';

/** Finds the PostgreSQL binaries (see PrivateClusterOptions.binDir). */
export function findPgBinDir(): string {
  const candidates = [process.env.SPINDLE_PG_BIN, '/usr/lib/postgresql/15/bin'];
  try {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // no Debian layout
  }
  const found = candidates.find((d) => d && existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
  if (!found) throw new Error('PostgreSQL binaries not found (install Debian postgresql, or set SPINDLE_PG_BIN)');
  return found;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${[cmd, ...args].join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}


/** initdb into a new temp dir and start the server; resolves once it accepts connections. */
export async function startPrivateCluster(options: PrivateClusterOptions = {}): Promise<PrivateCluster> {
  const bin = options.binDir ?? findPgBinDir();
  const osUser = options.osUser ?? 'postgres';
  const asRoot = process.getuid?.() === 0;
  const pgCmd = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', osUser, '--', join(bin, tool), ...args]] : [join(bin, tool), args];

  const dir = mkdtempSync(join(tmpdir(), 'spindle-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const confFile = join(dataDir, 'spindle-chaos.conf');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', osUser], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', osUser], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  let port = 0;
  let destroyed = false;

  const pid = (): number | null => {
    try {
      const n = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(n) && n > 0 && isAlive(n) ? n : null;
    } catch {
      return null;
    }
  };
  const logTail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  };
  const writeConf = (): void => {
    const settings: Record<string, string | number> = {
      listen_addresses: `'127.0.0.1'`,
      port,
      unix_socket_directories: `'${dir}'`,
      shared_buffers: `'16MB'`,
      max_connections: 100,
      ...options.settings,
    };
    writeFileSync(confFile, Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  };
  // Exit hook: take the server down if the process ends without destroy() (SIGQUIT = immediate shutdown).
  const onExit = (): void => {
    const p = pid();
    if (p !== null) process.kill(p, 'SIGQUIT');
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // the server may still be writing; nothing more can be done while exiting
    }
  };
  process.on('exit', onExit);

  const start = async (): Promise<void> => {
    if (destroyed) throw new Error('cluster destroyed');
    if (pid() !== null) return;
    const [cmd, args] = pgCmd('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', 'start']);
    try {
      await run(cmd, args, 90_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nserver log:\n${logTail()}`);
    }
  };
  const stop = async (mode: PgStopMode = 'fast'): Promise<void> => {
    if (pid() === null) return;
    const [cmd, args] = pgCmd('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', '-s', 'stop']);
    await run(cmd, args, 90_000);
  };
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: connectionString('postgres'), application_name: ADMIN_APP });
    client.on('error', () => {}); // a restart during the call surfaces as the query's rejection
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  };
  const connectionString = (db = 'postgres'): string => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

  try {
    const [initCmd, initArgs] = pgCmd('initdb', ['-D', dataDir, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    await run(initCmd, initArgs, 120_000);
    appendFileSync(join(dataDir, 'postgresql.conf'), `\ninclude 'spindle-chaos.conf'\n`);
    // The port was free when the kernel gave it out; if someone took it since, try another.
    for (let tries = 1; ; tries++) {
      port = await freePort();
      writeConf();
      try {
        await start();
        break;
      } catch (err) {
        if (tries >= 3 || !/could not (bind|create listen)/i.test(logTail())) throw err;
      }
    }
  } catch (err) {
    process.off('exit', onExit);
    onExit();
    throw err;
  }

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    dir,
    logFile,
    connectionString,
    pid,
    start,
    stop,
    async restart(mode, downMs) {
      const healed = recordFault(options.recorder, { fault: 'pg_restart', target: `127.0.0.1:${port}`, mode, downMs });
      await stop(mode);
      await sleep(downMs);
      await start();
      healed();
    },
    async terminateBackends(filter = {}) {
      const healed = recordFault(options.recorder, { fault: 'pg_terminate_backends', target: `127.0.0.1:${port}`, ...filter });
      try {
        // pg_terminate_backend(pid, timeout) waits until the backend has exited (true) or the timeout passed.
        const res = await admin((c) => c.query<{ n: string }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) AS n
             FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
              AND ($1::text IS NULL OR application_name = $1) AND ($2::text IS NULL OR datname = $2)`,
          [filter.applicationName ?? null, filter.database ?? null],
        ));
        return Number(res.rows[0]?.n ?? 0);
      } finally {
        healed();
      }
    },
    async createDatabase(name) {
      await admin((c) => c.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`));
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.off('exit', onExit);
      // The postmaster removes its pid file a moment before it exits: wait for the process itself.
      const p = pid();
      await stop('immediate').catch(() => {});
      for (let i = 0; p !== null && i < 250 && isAlive(p); i++) {
        if (i === 100) process.kill(p, 'SIGKILL');
        await sleep(20);
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
