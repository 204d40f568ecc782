/**
 * `spindle dlq replay|purge|resolve <queue> (--ids a,b | --all)`: the DLQ actions. A selection
 * by ids is checked first (every id must be a dead job of that queue, else exit 3 and nothing
 * changes); `--all` shows a progress bar on a TTY; `purge --all` asks for confirmation on a
 * terminal and needs `--yes` elsewhere.
 */
import { createInterface } from 'node:readline/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { DlqAction, DlqSelection, SpindleApi } from '../api/types.js';
import { Context, requireQueue } from '../context.js';
import { CliError, EXIT, notFound, usageError } from '../errors.js';
import { checkName, parseIds } from '../parse.js';

interface ActionOptions {
  ids?: string[];
  all?: boolean;
  note?: string;
  yes?: boolean;
}

const PAST: Record<DlqAction['kind'], string> = { replay: 'replayed', purge: 'purged', resolve: 'resolved' };
const DEFAULT_NOTE = 'resolved with the spindle CLI';

function selectionOf(options: ActionOptions): DlqSelection {
  if (options.ids && options.all) throw usageError('give either --ids or --all, not both');
  if (options.ids) return { ids: options.ids };
  if (options.all) return { all: true };
  throw usageError('choose the dead jobs: --ids a,b or --all');
}

/** Ids per lookup: a query string of 200 UUIDs stays well under the server's 16 KiB headers. */
const CHECK_CHUNK = 200;

/** Exit 3 (nothing changed) unless every id is a dead job of `queue`. */
async function checkIds(api: SpindleApi, queue: string, ids: string[]): Promise<void> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += CHECK_CHUNK) {
    const page = await api.dlqJobs(queue, { ids: ids.slice(i, i + CHECK_CHUNK), limit: CHECK_CHUNK });
    for (const job of page.jobs) found.add(job.id);
  }
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length === 0) return;
  const named = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
  throw notFound(`no dead job ${named} in queue ${queue}; nothing was changed`);
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function run(ctx: Context, kind: DlqAction['kind'], queue: string, options: ActionOptions): Promise<void> {
  checkName('queue name', queue);
  const selection = selectionOf(options);
  const note = options.note ?? DEFAULT_NOTE;
  if (kind === 'resolve' && (note.trim() === '' || note.length > 2000)) throw usageError('--note must be 1 to 2000 characters');
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  if (kind === 'purge' && 'all' in selection && !options.yes && !interactive) {
    throw usageError(`refusing to purge every dead job of ${queue} without --yes`);
  }
  const action: DlqAction = kind === 'resolve' ? { kind, note } : { kind };
  const result = await ctx.withApi(async (api) => {
    const info = await requireQueue(api, queue);
    if ('ids' in selection) await checkIds(api, queue, selection.ids);
    const total = kind === 'resolve' ? info.dlqDepth : info.counts.dead;
    if (kind === 'purge' && 'all' in selection && !options.yes && !(await confirm(`Purge all ${total} dead jobs of ${queue} for good?`))) {
      throw new CliError('nothing was purged', EXIT.failure);
    }
    const bar = 'all' in selection && process.stderr.isTTY && total > 0 && !ctx.out.json ? new cliProgress.SingleBar({ stream: process.stderr, format: `${kind} {bar} {value}/{total}`, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
    bar?.start(total, 0);
    try {
      return await api.dlqAction(queue, selection, action, (done) => bar?.update(Math.min(done, total)));
    } finally {
      bar?.stop();
    }
  });
  if (ctx.out.json) return ctx.out.printJson({ queue, [PAST[kind]]: result.affected, ...(kind === 'replay' ? { skipped: result.skipped } : {}) });
  const skipped = result.skipped > 0 ? `; ${result.skipped} left dead because a live job holds their unique key` : '';
  ctx.out.line(`${PAST[kind]} ${result.affected} dead job${result.affected === 1 ? '' : 's'} of ${queue}${skipped}`);
}

export function registerDlqActions(dlq: Command): void {
  const ids = ['--ids <ids>', 'comma-separated job ids (dead jobs of that queue)', parseIds] as const;
  dlq
    .command('replay')
    .description('put dead jobs back in their queue: attempts reset, error history kept')
    .argument('<queue>', 'queue name')
    .option(...ids)
    .option('--all', 'every dead job of the queue')
    .action((queue: string, options: ActionOptions, command: Command) => run(Context.from(command), 'replay', queue, options));

  dlq
    .command('purge')
    .description('delete dead jobs for good')
    .argument('<queue>', 'queue name')
    .option(...ids)
    .option('--all', 'every dead job of the queue (asks first; --yes to skip)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action((queue: string, options: ActionOptions, command: Command) => run(Context.from(command), 'purge', queue, options));

  dlq
    .command('resolve')
    .description('mark dead jobs as handled: kept, but out of the DLQ depth and alerts')
    .argument('<queue>', 'queue name')
    .option(...ids)
    .option('--all', 'every unresolved dead job of the queue')
    .option('--note <text>', `operator note (default "${DEFAULT_NOTE}")`)
    .action((queue: string, options: ActionOptions, command: Command) => run(Context.from(command), 'resolve', queue, options));
}
