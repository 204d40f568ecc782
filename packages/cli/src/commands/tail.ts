/**
 * `spindle jobs tail <id>`: follows one job until it reaches a terminal state — over SSE
 * (`GET /jobs/:id/events`) with `--url`, over the client's events plus a 1 s poll directly —
 * and exits 0 when it completed, 5 when it ended dead or cancelled, 130 on Ctrl-C.
 *
 * Invariant: the outcome is read from the stored job at the end (events are notifications),
 * so the final line always carries the job's real result or failure reason.
 */
import { isTerminal, type JobState } from '@spindle/core';
import type { JobView, WatchUpdate } from '../api/types.js';
import type { Context } from '../context.js';
import { EXIT, Exit } from '../errors.js';
import { formatDuration, snippet } from '../output.js';
import { createTailView, type TailState } from '../render/tail-view.js';

function apply(state: TailState | null, update: WatchUpdate): TailState | null {
  if (update.kind === 'snapshot') {
    const j = update.job;
    const lastError = j.status === 'retrying' ? (j.errors[j.errors.length - 1]?.message ?? null) : null;
    return { status: j.status, attempt: j.attempt, maxAttempts: j.maxAttempts, progress: j.progress, note: lastError };
  }
  if (!state) return null; // events before the first snapshot are covered by it
  const next: TailState = { ...state };
  if (update.status) next.status = update.status;
  if (update.attempt !== undefined) next.attempt = update.attempt;
  if (update.type === 'progress') next.progress = update.data;
  if (update.type === 'retrying' || update.type === 'dead') {
    const message = (update.data as { message?: unknown } | undefined)?.message;
    next.note = typeof message === 'string' ? message : state.note;
  } else if (update.type === 'started') next.note = null;
  return next;
}

export function finalLine(id: string, status: JobState, job: JobView | null): string {
  if (status === 'completed') {
    const took = job?.startedAt && job.finishedAt ? ` in ${formatDuration(Date.parse(job.finishedAt) - Date.parse(job.startedAt))}` : '';
    const result = job && job.result !== null && job.result !== undefined ? ` result ${snippet(job.result, 200)}` : '';
    return `job ${id} completed${took}${result}`;
  }
  if (status === 'dead') return `job ${id} dead after ${job?.attempt ?? '?'} attempt(s): ${job?.failureReason ?? 'unknown reason'}`;
  return `job ${id} ${status}`;
}

export async function tailJob(ctx: Context, id: string): Promise<void> {
  const view = createTailView(ctx.out, id);
  const controller = new AbortController();
  let state: TailState | null = null;
  let terminal: JobState | null = null;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const final = await ctx.withApi(
      async (api) => {
        await api.watchJob(
          id,
          (update) => {
            if (terminal) return;
            state = apply(state, update);
            if (!state) return;
            view.update(state);
            if (isTerminal(state.status)) {
              terminal = state.status;
              controller.abort();
            }
          },
          controller.signal,
        );
        return terminal ? api.getJob(id) : null;
      },
      { events: true },
    );
    if (!terminal) {
      view.stop();
      if (interrupted) throw new Exit(EXIT.interrupted);
      return;
    }
    const status: JobState = final && isTerminal(final.status) ? final.status : terminal;
    view.finish(finalLine(id, status, final), status, final);
    if (status !== 'completed') throw new Exit(EXIT.jobFailed);
  } finally {
    view.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
