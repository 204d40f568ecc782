/**
 * What a command gets: its global options (connection flags, `--json`), the output, and
 * `withApi`, which opens the SpindleApi for the resolved target (HTTP or direct), runs the
 * command's work and always closes it, mapping errors to CliErrors that name the target.
 *
 * Invariant: commands validate their own arguments before calling `withApi`, so bad input never
 * opens (or creates) a database or sends a request.
 */
import type { Command } from 'commander';
import { DirectApi } from './api/direct.js';
import { HttpApi } from './api/http.js';
import type { SpindleApi } from './api/types.js';
import { describeTarget, openClient, resolveTarget, type ConnectionFlags, type ResolveOptions, type Target } from './connection.js';
import { Exit, notFound, toCliError } from './errors.js';
import { createOutput, type Output } from './output.js';

export interface GlobalOptions extends ConnectionFlags {
  json?: boolean;
}

export interface ApiOptions {
  /** Create the SQLite file when missing and migrate it (enqueue). Default false: read-only use. */
  create?: boolean;
  /** Follow events of other processes (jobs tail). */
  events?: boolean;
}

export class Context {
  readonly out: Output;

  constructor(
    readonly globals: GlobalOptions,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.out = createOutput({ json: globals.json === true });
  }

  static from(command: Command): Context {
    return new Context(command.optsWithGlobals() as GlobalOptions);
  }

  target(options: ResolveOptions = { allowHttp: true }): Target {
    return resolveTarget(this.globals, this.env, options);
  }

  async openApi(target: Target, options: ApiOptions = {}): Promise<SpindleApi> {
    if (target.kind === 'http') return new HttpApi(target.url, target.apiKey);
    const create = options.create ?? false;
    // Enqueue records its throughput (the `stats` counters); reads record nothing.
    const client = await openClient(target, { create, migrate: create, telemetry: create, events: options.events ?? false });
    return new DirectApi(client, describeTarget(target));
  }

  /** Opens the API, runs `work`, closes the API; errors become CliErrors naming the target. */
  async withApi<T>(work: (api: SpindleApi) => Promise<T>, options: ApiOptions = {}): Promise<T> {
    const target = this.target();
    const where = describeTarget(target);
    const api = await this.openApi(target, options).catch((err: unknown) => {
      throw toCliError(err, where);
    });
    try {
      return await work(api);
    } catch (err) {
      throw err instanceof Exit ? err : toCliError(err, where);
    } finally {
      await api.close().catch(() => undefined);
    }
  }
}

/** The queue, or exit 3: a queue exists once it has had a job or a setting (docs/decisions/0010). */
/** The job, or exit 3. */
export async function requireJob(api: SpindleApi, id: string) {
  const job = await api.getJob(id);
  if (!job) throw notFound(`no job ${id}`);
  return job;
}

export async function requireQueue(api: SpindleApi, name: string) {
  const queue = await api.getQueue(name);
  if (!queue) throw notFound(`unknown queue ${JSON.stringify(name)}: it has never had a job (see \`spindle queues ls\`)`);
  return queue;
}
