/**
 * `spindle keys create|ls|revoke --keys-file <path>`: the API keys file a server reads
 * (`spindle serve --keys-file`, `auth.keysFile`), `{ "keys": [record…] }`. Servers re-read the
 * file when it changes, so a key created or revoked here takes effect within about a second.
 *
 * Invariants:
 * - The secret is printed once, by `create`, and never stored: the file holds its SHA-256.
 * - The file is validated as the server validates it before anything is written; a malformed
 *   file is refused (exit 2) rather than rewritten. Writes go to a temporary file renamed over
 *   the old one (a server never reads half a file) with mode 0600.
 * - Revoking keeps the record (audit trail) with `revokedAt`; a revoked key authenticates nothing.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ValidationError } from '@spindle/core';
import { ACTIONS, generateApiKey, KeyStore, ROLES, type Action, type ApiKeyRecord } from '@spindle/server';
import { Context } from '../context.js';
import { CliError, EXIT, notFound, usageError } from '../errors.js';
import { checkName } from '../parse.js';

interface KeysFile {
  keys: ApiKeyRecord[];
}

/** The records of `path` (none when it does not exist yet), checked as a server checks them. */
function readKeys(path: string, mustExist: boolean): KeysFile {
  if (!existsSync(path)) {
    if (mustExist) throw notFound(`no keys file at ${path}`);
    return { keys: [] };
  }
  try {
    new KeyStore({ keysFile: path });
  } catch (err) {
    if (err instanceof ValidationError) throw usageError(`${path} is not a valid keys file: ${err.message}`);
    throw err;
  }
  return JSON.parse(readFileSync(path, 'utf8')) as KeysFile;
}

function writeKeys(path: string, file: KeysFile): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

function parseList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function actionsOf(options: { role?: string; actions?: string }): Action[] {
  if ((options.role === undefined) === (options.actions === undefined)) throw usageError('give either --role or --actions');
  if (options.role !== undefined) {
    const actions = ROLES[options.role];
    if (!actions) throw usageError(`--role must be one of ${Object.keys(ROLES).join(', ')}`);
    return [...actions];
  }
  const actions = parseList(options.actions!);
  const unknown = actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (actions.length === 0 || unknown.length > 0) throw usageError(`--actions must list some of ${ACTIONS.join(', ')}`);
  return actions as Action[];
}

function scopeText(record: ApiKeyRecord): string {
  return record.scopes.map((s) => `${s.queues.join(',')}: ${s.actions.join(',')}`).join('; ');
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys in a keys file (spindle serve --keys-file)');

  keys
    .command('create')
    .description('add a key to the keys file and print its secret (shown once)')
    .argument('<name>', 'who the key is for, e.g. billing-producer')
    .requiredOption('--keys-file <path>', 'the keys file (created if missing)')
    .option('--role <role>', `a set of actions: ${Object.keys(ROLES).join(', ')}`)
    .option('--actions <list>', `actions, comma-separated: ${ACTIONS.join(', ')}`)
    .option('--queues <patterns>', 'queues the key may act on: names, prefix*, or *', '*')
    .action((name: string, options: { keysFile: string; role?: string; actions?: string; queues: string }, command: Command) => {
      const ctx = Context.from(command);
      checkName('key name', name);
      const scopes = [{ queues: parseList(options.queues), actions: actionsOf(options) }];
      const { key, record } = generateApiKey(name, scopes);
      try {
        new KeyStore({ keys: [record] });
      } catch (err) {
        if (err instanceof ValidationError) throw usageError(err.message);
        throw err;
      }
      const file = readKeys(options.keysFile, false);
      file.keys.push(record);
      writeKeys(options.keysFile, file);
      if (ctx.out.json) return ctx.out.printJson({ key, record });
      ctx.out.line(key);
      ctx.out.note(`key ${record.id} (${name}) added to ${options.keysFile}; the secret above is not stored anywhere: keep it now`);
    });

  keys
    .command('ls')
    .description('the keys of a keys file (never their secrets)')
    .requiredOption('--keys-file <path>', 'the keys file')
    .action((options: { keysFile: string }, command: Command) => {
      const ctx = Context.from(command);
      const file = readKeys(options.keysFile, true);
      if (ctx.out.json) return ctx.out.printJson({ keys: file.keys.map(({ hash: _hash, ...rest }) => rest) });
      if (file.keys.length === 0) return ctx.out.line('no keys');
      ctx.out.table(
        ['ID', 'NAME', 'SCOPES', 'CREATED', 'REVOKED'],
        file.keys.map((k) => [k.id, k.name, scopeText(k), k.createdAt ?? '-', k.revokedAt ?? '-']),
      );
    });

  keys
    .command('revoke')
    .description('revoke a key (kept in the file with revokedAt; it authenticates nothing)')
    .argument('<id>', 'the key id (the 12 hex characters after spk_)')
    .requiredOption('--keys-file <path>', 'the keys file')
    .action((id: string, options: { keysFile: string }, command: Command) => {
      const ctx = Context.from(command);
      if (!/^[0-9a-f]{12}$/.test(id)) throw usageError('a key id is 12 hex characters (spk_<id>_…)');
      const file = readKeys(options.keysFile, true);
      const record = file.keys.find((k) => k.id === id);
      if (!record) throw notFound(`no key ${id} in ${options.keysFile}`);
      if (record.revokedAt) throw new CliError(`key ${id} was already revoked at ${record.revokedAt}`, EXIT.failure);
      record.revokedAt = new Date().toISOString();
      writeKeys(options.keysFile, file);
      if (ctx.out.json) return ctx.out.printJson({ id, revokedAt: record.revokedAt });
      ctx.out.line(`revoked key ${id} (${record.name})`);
    });
}
