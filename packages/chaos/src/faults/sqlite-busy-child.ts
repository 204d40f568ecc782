/**
 * The child process of the SQLite busy fault (sqlite-busy.ts): opens one existing database file
 * and, on each `hold` command from stdin, takes SQLite's write lock with `BEGIN EXCLUSIVE`,
 * keeps it for the asked time and commits (nothing was written). One JSON object per line both
 * ways; commands run one after another.
 *
 * Invariants:
 * - The file must exist; no pragma is set, so its journal mode and settings are untouched.
 * - `locked` is printed only once the lock is held, `released` only once it is gone.
 * - When stdin closes (the parent exited or died) the lock is dropped and the child exits.
 */
import Database from 'better-sqlite3';
import { createInterface } from 'node:readline';

const file = process.argv[2];
const lockWaitMs = Number(process.argv[3] ?? 30_000);
if (!file) throw new Error('usage: sqlite-busy-child <file> [lockWaitMs]');

const db = new Database(file, { fileMustExist: true, timeout: lockWaitMs });
const say = (msg: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...msg, at: Date.now() })}\n`);
};

let chain: Promise<void> = Promise.resolve();
const exit = (): void => {
  if (db.inTransaction) db.exec('ROLLBACK');
  db.close();
  process.exit(0);
};

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const cmd = JSON.parse(line) as { cmd: 'hold' | 'stop'; id?: number; ms?: number };
    chain = chain.then(async () => {
      if (cmd.cmd === 'stop') return exit();
      try {
        db.exec('BEGIN EXCLUSIVE');
      } catch (err) {
        say({ ev: 'error', id: cmd.id, message: (err as Error).message });
        return;
      }
      say({ ev: 'locked', id: cmd.id });
      await new Promise((r) => setTimeout(r, cmd.ms ?? 0));
      db.exec('COMMIT');
      say({ ev: 'released', id: cmd.id });
    });
  })
  .on('close', exit);

say({ ev: 'ready', pid: process.pid });
