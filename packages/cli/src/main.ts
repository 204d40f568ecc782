/**
 * The CLI's entry point as a function: parses `argv` with the commander program, runs the
 * command, and turns every failure into `spindle: <one line>` on stderr plus a typed exit code
 * (errors.ts). Returns the exit code; bin.ts exits with it.
 *
 * Invariant: no stack trace reaches the user unless SPINDLE_DEBUG=1.
 */
import { CommanderError } from 'commander';
import { EXIT, Exit, toCliError, type CliError } from './errors.js';
import { buildProgram } from './program.js';

function commanderExit(err: CommanderError): { code: number; message: string | null } {
  // Help and version were printed on purpose; a bare `spindle jobs` printed its help and is a usage error.
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { code: EXIT.ok, message: null };
  if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return { code: EXIT.usage, message: null };
  const message = err.message.replace(/^error:\s*/, '').replace(/\n+/g, ' ').trim();
  // "option '--limit <n>' argument '0' is invalid. must be …" → "--limit must be … (got "0")"
  const option = /^option '(-[^ ',]+)[^']*' argument '(.*)' is invalid\. (.*)$/s.exec(message);
  if (option) return { code: EXIT.usage, message: `${option[1]} ${option[3]} (got ${JSON.stringify(option[2])})` };
  const argument = /^command-argument value '(.*)' is invalid for argument '(.*)'\. (.*)$/s.exec(message);
  if (argument) return { code: EXIT.usage, message: `<${argument[2]}> ${argument[3]} (got ${JSON.stringify(argument[1])})` };
  return { code: EXIT.usage, message: `${message} (see --help)` };
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof Exit) return err.code;
    if (err instanceof CommanderError) {
      const { code, message } = commanderExit(err);
      if (message) process.stderr.write(`spindle: ${message}\n`);
      return code;
    }
    const cli: CliError = toCliError(err);
    process.stderr.write(`spindle: ${cli.message}\n`);
    if (process.env.SPINDLE_DEBUG === '1') process.stderr.write(`${(cli.cause as Error | undefined)?.stack ?? cli.stack}\n`);
    return cli.exitCode;
  }
}
