/** The server's version, read from its package.json (the same file from src/ and dist/). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const SPINDLE_VERSION: string = (require('../package.json') as { version: string }).version;
