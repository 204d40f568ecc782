/**
 * @spindle/cli — the `spindle` command. The executable is `bin/spindle.mjs` (runs `dist/bin.js`); this entry exports the
 * pieces for programs that embed the CLI: `main(argv)` (returns the exit code), the exit codes,
 * and the SpindleApi seam with its HTTP and direct implementations.
 */
export { main } from './main.js';
export { buildProgram } from './program.js';
export { EXIT, CliError, Exit, type ExitCode } from './errors.js';
export type * from './api/types.js';
export { HttpApi } from './api/http.js';
export { DirectApi } from './api/direct.js';
export { resolveTarget, describeTarget, type Target } from './connection.js';
