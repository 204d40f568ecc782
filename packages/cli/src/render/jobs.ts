/**
 * Human renderings of jobs: the `jobs ls` / `dlq ls` tables and the `jobs show` / `dlq show`
 * detail (fields, payload, result, attempt errors, DLQ record; a flow job's parent and children).
 */
import type { JobPageView, JobView, UniqueWhileView } from '../api/types.js';
import { colorStatus, formatAge, formatDuration, formatProgress, truncate, type Output } from '../output.js';

export function renderJobTable(out: Output, page: JobPageView): void {
  if (page.jobs.length === 0) {
    out.line('no jobs');
    return;
  }
  out.table(
    ['ID', 'QUEUE', 'NAME', 'STATUS', 'ATTEMPT', 'PROGRESS', 'CREATED'],
    page.jobs.map((j) => [j.id, j.queue, j.name, colorStatus(out.color, j.status), `${j.attempt}/${j.maxAttempts}`, formatProgress(j.progress), formatAge(j.createdAt)]),
  );
  if (page.nextCursor) out.line(out.color.dim(`next page: the same command with --cursor ${page.nextCursor}`));
}

export function renderDeadTable(out: Output, page: JobPageView): void {
  if (page.jobs.length === 0) {
    out.line('no dead jobs');
    return;
  }
  out.table(
    ['ID', 'NAME', 'ATTEMPTS', 'FAILED', 'RESOLVED', 'REASON'],
    page.jobs.map((j) => [j.id, j.name, `${j.attempt}/${j.maxAttempts}`, formatAge(j.lastFailedAt), j.resolution ? 'yes' : '-', truncate(j.failureReason ?? '-', 60)]),
  );
  if (page.nextCursor) out.line(out.color.dim(`next page: the same command with --cursor ${page.nextCursor}`));
}

/** How long a unique key is held, in words (`jobs show`). */
function uniqueHold(hold: UniqueWhileView): string {
  if (hold === 'queued') return 'until the job starts';
  if (hold === 'active') return 'until the job finishes';
  return `for ${formatDuration(hold.forMs)} from the add`;
}

function indentJson(value: unknown): string {
  return JSON.stringify(value, null, 2).split('\n').join('\n    ');
}

/** Field list of one job; `withStacks` adds each attempt error's stack (DLQ view). */
export function renderJobDetail(out: Output, job: JobView, withStacks = false): void {
  const c = out.color;
  const field = (label: string, value: string) => out.line(`  ${c.dim(label.padEnd(12))}${value}`);
  const when = (iso: string | null) => (iso ? `${iso}  (${formatAge(iso)})` : '-');
  out.line(`${c.bold(`job ${job.id}`)}  ${colorStatus(c, job.status)}`);
  field('queue', job.queue);
  field('name', job.name);
  field('attempt', `${job.attempt} of ${job.maxAttempts}${job.round > 0 ? ` (round ${job.round + 1}, replayed)` : ''}`);
  field('priority', String(job.priority));
  field('progress', formatProgress(job.progress));
  field('created', when(job.createdAt));
  field('run at', when(job.runAt));
  field('started', when(job.startedAt));
  field('finished', when(job.finishedAt));
  if (job.startedAt && job.finishedAt) field('ran for', formatDuration(Date.parse(job.finishedAt) - Date.parse(job.startedAt)));
  if (job.workerId) field('worker', job.workerId);
  if (job.uniqueKey) field('unique key', job.unique ? `${job.uniqueKey}  ${c.dim(`(held ${uniqueHold(job.unique.while)})`)}` : job.uniqueKey);
  if (job.group) field('group', job.group);
  if (job.timeoutMs !== null) field('timeout', formatDuration(job.timeoutMs));
  if (job.cancelRequested) field('cancel', 'requested');
  if (job.parentId) field('parent', job.parentId);
  if (job.pendingChildren !== null && job.pendingChildren !== undefined) {
    const policy = job.onChildFailure === 'continue' ? 'runs even if a child fails' : 'fails if a child fails';
    field('children', `${job.pendingChildren} of ${job.children?.length ?? '?'} unfinished (${policy})`);
    for (const child of job.children ?? []) {
      const reason = child.failureReason ? c.dim(`  ${truncate(child.failureReason, 60)}`) : '';
      out.line(`    ${child.id}  ${child.queue}/${child.name}  ${colorStatus(c, child.status)}${reason}`);
    }
  }
  if (job.status === 'dead' || job.failureReason) {
    field('reason', c.red(job.failureReason ?? '-'));
    field('failed', `${when(job.firstFailedAt)} … ${when(job.lastFailedAt)}`);
    field('resolution', job.resolution ? `${job.resolution.note} (${job.resolution.at})` : '-');
  }
  if ('payload' in job) out.line(`  ${c.dim('payload'.padEnd(12))}${indentJson(job.payload)}`);
  if (job.result !== null && job.result !== undefined) out.line(`  ${c.dim('result'.padEnd(12))}${indentJson(job.result)}`);
  if (job.errors.length === 0) return;
  out.line(`  ${c.dim('errors')}`);
  for (const e of job.errors) {
    out.line(`    #${e.attempt}${e.round > 0 ? ` (round ${e.round + 1})` : ''} ${e.at} ${c.yellow(e.kind)} ${e.name}: ${e.message}${e.workerId ? c.dim(` [${e.workerId}]`) : ''}`);
    if (withStacks && e.stack) for (const line of e.stack.split('\n').slice(1, 6)) out.line(c.dim(`        ${line.trim()}`));
  }
}
