/**
 * `spindle migrate`: applies the backend's pending migrations (under the backend's own lock, so
 * several processes may run it at once) and exits. `--dry-run` only checks: it says whether
 * migrations are pending and changes nothing (it cannot print their SQL: the backends do not
 * expose their pending migrations — see docs/decisions/0010-cli.md).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { MigrationRequiredError, type Backend } from '@spindle/core';
import { describeTarget, openBackend, withDeadline, type DbTarget } from '../connection.js';
import { Context } from '../context.js';
import { toCliError, usageError } from '../errors.js';

const DEADLINE_MS = 60_000;

async function dryRun(ctx: Context, target: DbTarget): Promise<void> {
  const where = describeTarget(target);
  if (target.kind === 'sqlite' && !existsSync(target.path)) {
    if (ctx.out.json) return ctx.out.printJson({ database: where, exists: false, pending: true });
    return ctx.out.line(`no database at ${target.path}: \`spindle migrate\` would create it and apply every migration`);
  }
  const backend = await openBackend(target, { create: false });
  try {
    await withDeadline(backend.checkSchema(), DEADLINE_MS, where);
    if (ctx.out.json) return ctx.out.printJson({ database: where, exists: true, pending: false });
    ctx.out.line(`${where} is up to date: nothing to migrate`);
  } catch (err) {
    if (!(err instanceof MigrationRequiredError)) throw toCliError(err, where);
    if (ctx.out.json) return ctx.out.printJson({ database: where, exists: true, pending: true, detail: err.message });
    ctx.out.line(`migrations are pending: ${err.message}`);
  } finally {
    await backend.close().catch(() => undefined);
  }
}

async function migrate(ctx: Context, options: { dryRun?: boolean }): Promise<void> {
  const target = ctx.target({ allowHttp: false });
  if (target.kind === 'http') throw usageError('migrate needs a database');
  if (options.dryRun) return dryRun(ctx, target);
  const where = describeTarget(target);
  let backend: Backend | null = null;
  try {
    backend = await openBackend(target, { create: true });
    const result = await withDeadline(backend.migrate(), DEADLINE_MS, where);
    if (ctx.out.json) return ctx.out.printJson({ database: where, ...result });
    if (result.applied.length === 0) ctx.out.line(`${where} is up to date (schema version ${result.version})`);
    else ctx.out.line(`applied ${result.applied.join(', ')} to ${where} (schema version ${result.version})`);
  } catch (err) {
    throw toCliError(err, where);
  } finally {
    await backend?.close().catch(() => undefined);
  }
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description("apply the database's pending migrations and exit")
    .option('--dry-run', 'only report whether migrations are pending; change nothing')
    .action((options: { dryRun?: boolean }, command: Command) => migrate(Context.from(command), options));
}
