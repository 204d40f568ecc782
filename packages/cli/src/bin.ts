#!/usr/bin/env node
/**
 * The `spindle` executable: runs the CLI on the process's arguments and exits with its code
 * once stdout has drained (a lingering handle must not keep a finished command alive).
 */
import { main } from './main.js';

const code = await main(process.argv.slice(2));
process.stdout.write('', () => process.exit(code));
