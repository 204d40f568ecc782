/**
 * The commander program: global options (connection and `--json`), help text with the
 * environment variables and exit codes, and the registration of every command module.
 *
 * Invariants:
 * - commander never exits the process or prints errors itself (`exitOverride`, silent
 *   `outputError`): main.ts owns the one-line message and the exit code.
 * - Settings are applied before commands are added, so every subcommand inherits them.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerDemo } from './commands/demo.js';
import { registerDlq } from './commands/dlq.js';
import { registerEnqueue } from './commands/enqueue.js';
import { registerJobs } from './commands/jobs.js';
import { registerKeys } from './commands/keys.js';
import { registerMigrate } from './commands/migrate.js';
import { registerQueues } from './commands/queues.js';
import { registerSchedules } from './commands/schedules.js';
import { registerServe } from './commands/serve.js';
import { registerSimulate } from './commands/simulate.js';
import { registerStats } from './commands/stats.js';
import { registerTopics } from './commands/topics.js';
import { DEFAULT_DB } from './connection.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const HELP_AFTER = `
Connection (flags > environment > defaults):
  --url / SPINDLE_URL          talk to a running server over HTTP (with --api-key / SPINDLE_API_KEY)
  --db / SPINDLE_DB            or open a database directly: a file path (SQLite) or postgres://…
  --schema / SPINDLE_SCHEMA    PostgreSQL schema (default spindle)
  default                      ${DEFAULT_DB}

Exit codes:
  0 ok   1 failure   2 bad usage or input   3 not found (job, queue, dead job, schedule, topic, group)
  4 cannot connect (server or database)   5 job ended dead or cancelled (jobs tail)
  6 API key refused (401/403)   130 interrupted

Set NO_COLOR to disable colour, SPINDLE_DEBUG=1 to print stack traces.`;

export function buildProgram(): Command {
  const program = new Command('spindle');
  program
    .description('Spindle job queue: serve the API, enqueue jobs, inspect jobs and the dead-letter queue, publish to and read topics')
    .version(version(), '-V, --version')
    .addOption(new Option('--url <url>', 'server to talk to, e.g. http://127.0.0.1:7700 (env SPINDLE_URL)'))
    .addOption(new Option('--api-key <key>', 'API key for --url (env SPINDLE_API_KEY)'))
    .addOption(new Option('--db <target>', `database: SQLite file or postgres:// URL (env SPINDLE_DB, default ${DEFAULT_DB})`))
    .addOption(new Option('--schema <name>', 'PostgreSQL schema (env SPINDLE_SCHEMA, default spindle)'))
    .option('--json', 'print machine-readable JSON')
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .showSuggestionAfterError(true)
    .addHelpText('after', HELP_AFTER);

  registerServe(program);
  registerMigrate(program);
  registerEnqueue(program);
  registerJobs(program);
  registerDlq(program);
  registerQueues(program);
  registerSchedules(program);
  registerTopics(program);
  registerStats(program);
  registerKeys(program);
  registerDemo(program);
  registerBench(program);
  registerSimulate(program);
  return program;
}
