/**
 * `spindle demo`: a self-running showcase on a SQLite file (default `.spindle/demo.db`; the
 * SPINDLE_DB variable is deliberately ignored so demo jobs never land in a real database): the
 * HTTP server, and the demo scenario of `../demo/` (producers and workers, written separately)
 * with its summary redrawn every second (appended lines when stdout is not a TTY).
 * `--duration` stops it by itself; Ctrl-C/SIGTERM stop the demo, the server and the client in
 * that order (workers finish or release their jobs), so a restart resumes from the same file.
 *
 * The demo module is imported only when the command runs (it is not needed by any other).
 */
import type { Command } from 'commander';
import { consoleLogger } from '@spindle/core';
import { describeTarget, openClient } from '../connection.js';
import { Context } from '../context.js';
import { toCliError, usageError } from '../errors.js';
import { intParser, numberParser, parsePort, secondsParser } from '../parse.js';
import { startServer, waitForStop } from '../shutdown.js';
import { printUrls } from './serve.js';

type DemoModule = typeof import('../demo/index.js');
type DemoHandle = Awaited<ReturnType<DemoModule['startDemo']>>;

interface DemoOptions {
  port: number;
  host: string;
  seed?: number;
  speed?: number;
  duration?: number;
}

const DEMO_DB = '.spindle/demo.db';
const CLEAR = '\x1b[H\x1b[2J';
const RECENT_LOG_LINES = 8;

async function demo(ctx: Context, options: DemoOptions): Promise<void> {
  const target = ctx.target({ allowHttp: false, defaultDb: DEMO_DB, ignoreEnvDb: true });
  if (target.kind === 'http') throw usageError('demo needs a database');
  const mod: DemoModule = await import('../demo/index.js');
  const { SpindleServer } = await import('@spindle/server');
  const where = describeTarget(target);
  const client = await openClient(target, { create: true, migrate: true, maintenance: true, telemetry: true, events: true, logger: consoleLogger, poolMax: 10 });
  const server = new SpindleServer(client, { host: options.host, port: options.port, logger: { level: 'warn' } });
  let handle: DemoHandle | null = null;
  let timer: NodeJS.Timeout | undefined;
  const render = () => mod.renderDemoSummary(handle!.summary());
  try {
    const base = await startServer(server, options.host, options.port);
    const header = () => {
      ctx.out.line(`${ctx.out.color.bold('spindle demo')} on ${where}${options.duration ? ` for ${options.duration}s` : ''}  ${ctx.out.color.dim('Ctrl-C stops; run it again to resume')}`);
      printUrls(ctx, base);
      ctx.out.line();
    };
    const live = ctx.out.tty && !ctx.out.json;
    const recent: string[] = [];
    const log = (line: string) => {
      if (ctx.out.json) return;
      if (!live) return ctx.out.line(line);
      recent.push(line);
      if (recent.length > RECENT_LOG_LINES) recent.shift();
    };
    if (!live) header();
    handle = await mod.startDemo(client, { ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.speed !== undefined ? { speed: options.speed } : {}), log });
    let last = '';
    const redraw = () => {
      const text = render();
      if (live) {
        process.stdout.write(CLEAR);
        header();
        ctx.out.line(text);
        if (recent.length > 0) ctx.out.line(`\n${ctx.out.color.dim(recent.join('\n'))}`);
      } else if (!ctx.out.json && text !== last) ctx.out.line(text);
      last = text;
    };
    redraw();
    timer = setInterval(redraw, 1000);
    await waitForStop(options.duration === undefined ? undefined : options.duration * 1000);
    clearInterval(timer);
    ctx.out.note('spindle: stopping the demo (finishing running jobs)…');
    await handle.stop();
  } catch (err) {
    throw toCliError(err, where);
  } finally {
    clearInterval(timer);
    await server.stop().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
  if (ctx.out.json) ctx.out.printJson({ database: where, summary: handle.summary() });
  else ctx.out.line(`${render()}\ndemo stopped; \`spindle demo${target.kind === 'sqlite' && target.path !== DEMO_DB ? ` --db ${target.path}` : ''}\` resumes it`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(`run a self-running demo (server, producers, workers) on ${DEMO_DB}`)
    .option('--port <port>', 'TCP port of the server (0 picks a free one)', parsePort, 7700)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--seed <n>', 'random seed (the same seed plays the same scenario)', intParser(0, 2 ** 31 - 1))
    .option('--speed <x>', 'speed factor, 0.1..100', numberParser(0.1, 100))
    .option('--duration <seconds>', 'stop by itself after this long', secondsParser(1, 86_400))
    .action((options: DemoOptions, command: Command) => demo(Context.from(command), options));
}
