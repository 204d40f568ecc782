/**
 * How the CLI writes: machine JSON (`--json`), tables (cli-table3), colour (picocolors, only
 * when stdout is a TTY and NO_COLOR is unset or empty), and the small formatters every command
 * shares (ages, durations, JSON snippets).
 *
 * Invariant: results go to stdout, diagnostics and progress to stderr, so `--json` output and
 * `ID=$(spindle enqueue …)` stay clean.
 */
import Table from 'cli-table3';
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

export interface Output {
  readonly json: boolean;
  readonly tty: boolean;
  readonly color: Colors;
  /** A line (or block) on stdout. */
  line(text?: string): void;
  /** A JSON document on stdout (pretty-printed, one trailing newline). */
  printJson(value: unknown): void;
  /** A diagnostic line on stderr. */
  note(text: string): void;
  table(head: string[], rows: Array<Array<string | number>>): void;
}

export function colorEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return Boolean(stream.isTTY) && !noColor;
}

export function createOutput(options: { json: boolean }): Output {
  const color = pc.createColors(colorEnabled());
  return {
    json: options.json,
    tty: Boolean(process.stdout.isTTY),
    color,
    line: (text = '') => void process.stdout.write(`${text}\n`),
    printJson: (value) => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
    table(head, rows) {
      const table = new Table({
        head: head.map((h) => color.bold(h)),
        style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 2 },
        chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
      });
      for (const row of rows) table.push(row.map(String));
      process.stdout.write(`${table.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`);
    },
  };
}

const STATUS_COLORS: Record<string, keyof Colors> = {
  completed: 'green',
  dead: 'red',
  cancelled: 'gray',
  running: 'cyan',
  retrying: 'yellow',
  scheduled: 'blue',
  waiting: 'magenta',
};

export function colorStatus(color: Colors, status: string): string {
  const name = STATUS_COLORS[status];
  const fn = name ? (color[name] as (s: string) => string) : undefined;
  return fn ? fn(status) : status;
}

/** `850ms`, `12.3s`, `4m 05s`, `3h 10m`, `2d 4h`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long ago an ISO instant was: `12s ago`; `in 5m 00s` for a future one. */
export function formatAge(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const diff = now - Date.parse(iso);
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

/** Text cut to `max` characters, on one line. */
export function truncate(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Compact JSON, cut to `max` characters. */
export function snippet(value: unknown, max = 60): string {
  if (value === undefined) return '-';
  const text = JSON.stringify(value) ?? 'null';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A progress value as `42%` when it is (or holds) a number, else compact JSON, `-` when none. */
export function formatProgress(progress: unknown): string {
  const pct = progressPercent(progress);
  if (pct !== null) return `${Math.round(pct)}%`;
  return progress === null || progress === undefined ? '-' : snippet(progress, 30);
}

/** 0..100 from a progress report: a number, or an object with `percent`/`progress`/`pct`. */
export function progressPercent(progress: unknown): number | null {
  const clamp = (n: number) => Math.max(0, Math.min(100, n));
  if (typeof progress === 'number' && Number.isFinite(progress)) return clamp(progress);
  if (progress && typeof progress === 'object' && !Array.isArray(progress)) {
    for (const key of ['percent', 'progress', 'pct']) {
      const v = (progress as Record<string, unknown>)[key];
      if (typeof v === 'number' && Number.isFinite(v)) return clamp(v);
    }
  }
  return null;
}
