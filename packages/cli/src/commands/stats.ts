/**
 * `spindle stats [queue]` prints one snapshot of every queue (depth by state, DLQ depth,
 * workers, throughput, latency: stats.ts); `spindle top [queue]` redraws it every `--interval`
 * seconds on the terminal's alternate screen until q or Ctrl-C. When stdout is not a TTY (or
 * with `--json`) `top` prints one snapshot and exits, like `stats`.
 *
 * Invariant: top restores the terminal (raw mode off, cursor shown, main screen) on every exit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { SpindleApi } from '../api/types.js';
import { Context, requireQueue } from '../context.js';
import { toCliError } from '../errors.js';
import { checkName, secondsParser } from '../parse.js';
import { renderStats } from '../render/stats.js';
import { collectStats } from '../stats.js';

async function snapshotOnce(ctx: Context, queue: string | undefined): Promise<void> {
  if (queue !== undefined) checkName('queue name', queue);
  const snapshot = await ctx.withApi(async (api) => {
    if (queue !== undefined) await requireQueue(api, queue);
    return collectStats(api, queue);
  });
  if (ctx.out.json) return ctx.out.printJson(snapshot);
  renderStats(ctx.out, snapshot);
}

const SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const SCREEN_OFF = '\x1b[?25h\x1b[?1049l';
const CLEAR = '\x1b[H\x1b[2J';

async function liveTop(ctx: Context, api: SpindleApi, queue: string | undefined, intervalMs: number): Promise<void> {
  const stop = new AbortController();
  const quit = () => stop.abort();
  const onKey = (data: Buffer) => {
    const key = data.toString();
    if (key === 'q' || key === 'Q' || key === '\u0003' || key === '\u001b') quit();
  };
  const stdin = process.stdin;
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onKey);
  }
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  process.stdout.write(SCREEN_ON);
  try {
    while (!stop.signal.aborted) {
      let body: () => void;
      try {
        const snapshot = await collectStats(api, queue);
        body = () => renderStats(ctx.out, snapshot);
      } catch (err) {
        const message = toCliError(err, api.target).message;
        body = () => ctx.out.line(ctx.out.color.red(`cannot refresh: ${message}`));
      }
      if (stop.signal.aborted) break;
      process.stdout.write(CLEAR);
      ctx.out.line(`${ctx.out.color.bold('spindle top')}  ${api.target}  ${new Date().toLocaleTimeString()}  ${ctx.out.color.dim(`every ${intervalMs / 1000}s, q to quit`)}\n`);
      body();
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.stdout.write(SCREEN_OFF);
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
    if (stdin.isTTY) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('per queue: jobs by state, DLQ depth, workers, throughput and latency')
    .argument('[queue]', 'only this queue')
    .action((queue: string | undefined, _options: unknown, command: Command) => snapshotOnce(Context.from(command), queue));

  program
    .command('top')
    .description('live view of `stats`, refreshed until q or Ctrl-C (one snapshot when not on a terminal)')
    .argument('[queue]', 'only this queue')
    .option('--interval <seconds>', 'refresh interval, 0.5..3600', secondsParser(0.5, 3600), 2)
    .action(async (queue: string | undefined, options: { interval: number }, command: Command) => {
      const ctx = Context.from(command);
      if (!process.stdout.isTTY || ctx.out.json) return snapshotOnce(ctx, queue);
      if (queue !== undefined) checkName('queue name', queue);
      await ctx.withApi(async (api) => {
        if (queue !== undefined) await requireQueue(api, queue);
        await liveTop(ctx, api, queue, options.interval * 1000);
      });
    });
}
