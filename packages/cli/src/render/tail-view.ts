/**
 * How `jobs tail` shows a job as it moves: a live cli-progress bar on a TTY, one plain line per
 * change otherwise (logs, CI, pipes), or one JSON document per line with `--json`.
 *
 * Invariant: every view ends with exactly one final line (`finish`), and the bar is stopped
 * (cursor restored) on every way out, including Ctrl-C (`stop`).
 */
import cliProgress from 'cli-progress';
import type { JobState } from '@spindle/core';
import type { JobView } from '../api/types.js';
import { formatProgress, progressPercent, snippet, type Output } from '../output.js';

export interface TailState {
  status: JobState;
  attempt: number;
  maxAttempts: number;
  progress: unknown;
  /** The last attempt error, when the job is retrying. */
  note: string | null;
}

export interface TailView {
  update(state: TailState): void;
  finish(line: string, status: JobState, job: JobView | null): void;
  stop(): void;
}

const clock = () => new Date().toISOString().slice(11, 19);

function describe(state: TailState): string {
  const parts = [state.status.padEnd(9), `attempt ${state.attempt}/${state.maxAttempts}`];
  if (state.progress !== null && state.progress !== undefined) parts.push(`progress ${formatProgress(state.progress)}`);
  if (state.note) parts.push(`last error: ${state.note}`);
  return parts.join('  ');
}

class PlainView implements TailView {
  private last = '';
  constructor(private readonly out: Output) {}
  update(state: TailState): void {
    const text = describe(state);
    if (text === this.last) return;
    this.last = text;
    this.out.line(`${clock()} ${text}`);
  }
  finish(line: string, status: JobState): void {
    const c = this.out.color;
    this.out.line(status === 'completed' ? c.green(line) : c.red(line));
  }
  stop(): void {}
}

class JsonView implements TailView {
  private last = '';
  constructor(private readonly out: Output) {}
  update(state: TailState): void {
    const text = JSON.stringify({ type: 'update', ...state });
    if (text === this.last) return;
    this.last = text;
    this.out.line(JSON.stringify({ type: 'update', at: new Date().toISOString(), ...state }));
  }
  finish(line: string, status: JobState, job: JobView | null): void {
    this.out.line(JSON.stringify({ type: 'end', status, message: line, job }));
  }
  stop(): void {}
}

class BarView implements TailView {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  constructor(private readonly out: Output, id: string) {
    const c = out.color;
    this.bar = new cliProgress.SingleBar(
      {
        format: `${c.bold(id.slice(0, 13))} {bar} {pct} | {status} | attempt {attempt} {extra}`,
        stream: process.stdout,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  update(state: TailState): void {
    const pct = progressPercent(state.progress);
    const extra = state.note ? `| last error: ${snippet(state.note, 50)}` : pct === null && state.progress !== null && state.progress !== undefined ? `| ${snippet(state.progress, 40)}` : '';
    const payload = { pct: pct === null ? '--%' : `${Math.round(pct)}%`, status: state.status, attempt: `${state.attempt}/${state.maxAttempts}`, extra };
    if (!this.started) {
      this.started = true;
      this.bar.start(100, pct ?? 0, payload);
    } else this.bar.update(pct ?? 0, payload);
  }
  finish(line: string, status: JobState): void {
    this.stop();
    const c = this.out.color;
    this.out.line(status === 'completed' ? c.green(line) : c.red(line));
  }
  stop(): void {
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

export function createTailView(out: Output, id: string): TailView {
  if (out.json) return new JsonView(out);
  return out.tty ? new BarView(out, id) : new PlainView(out);
}
