/**
 * The child process of `loadInChild()` (lib/http-load.ts): receives one `LoadSpec` over IPC,
 * says `{ev: 'start'}` just before autocannon starts, runs it, sends back
 * `{ev: 'done', ok, result}` or `{ev: 'done', ok: false, error}`, and exits.
 */
import { load, type LoadSpec } from './http-load.js';

process.once('message', (spec: LoadSpec) => {
  load(spec, () => process.send!({ ev: 'start' })).then(
    (result) => process.send!({ ev: 'done', ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send!({ ev: 'done', ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () => process.exit(1)),
  );
});
