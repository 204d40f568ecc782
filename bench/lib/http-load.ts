/**
 * HTTP load through autocannon (closed loop: each connection sends its next request when the
 * previous answer arrives, keep-alive, no pipelining). `load()` runs it in the calling process;
 * `loadInChild()` runs the same thing in a separate Node process (lib/http-load-host.ts), so the
 * load generator does not share the event loop (or the core) of the server it measures.
 *
 * Latency percentiles are computed here from every response time autocannon reports (float
 * milliseconds), because autocannon's own histogram keeps whole milliseconds only; its figures
 * are kept alongside (`acP50Ms`, `acP99Ms`).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { percentile, round } from './stats.js';

export interface LoadSpec {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  method: 'GET' | 'POST';
  /** The path of every request, or (with `paths`) unused. */
  path: string;
  /** Rotate over these paths, one per request, shared by all connections. */
  paths?: string[];
  body?: string;
  connections: number;
  durationSec: number;
}

export type LoadResult = {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses counted by autocannon (any status). */
  responses: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** autocannon's own percentiles (whole milliseconds). */
  acP50Ms: number;
  acP99Ms: number;
  /** CPU used by the process generating the load, % of one core over the run. */
  loaderCpuPct: number;
};

/** `onStart` is called just before autocannon starts (after any process start-up). */
export function load(spec: LoadSpec, onStart?: () => void): Promise<LoadResult> {
  const times: number[] = [];
  let next = 0;
  const headers = spec.body === undefined ? {} : { 'content-type': 'application/json' };
  const request: autocannon.Request = spec.paths
    ? { setupRequest: (req) => ({ ...req, path: spec.paths![next++ % spec.paths!.length]! }) }
    : {};
  onStart?.();
  const cpu = process.cpuUsage();
  const wallStart = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${spec.url}${spec.path}`,
        method: spec.method,
        headers,
        ...(spec.body === undefined ? {} : { body: spec.body }),
        requests: [request],
        connections: spec.connections,
        duration: spec.durationSec,
        pipelining: 1,
        timeout: 10,
      },
      (err, result) => {
        if (err) return reject(err);
        const used = process.cpuUsage(cpu);
        const wallMs = performance.now() - wallStart;
        resolve({
          requestsPerSec: round(result.requests.average, 0),
          p50Ms: round(percentile(times, 0.5), 3),
          p99Ms: round(percentile(times, 0.99), 3),
          maxMs: round(percentile(times, 1), 3),
          responses: times.length,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          acP50Ms: result.latency.p50,
          acP99Ms: result.latency.p99,
          loaderCpuPct: round(((used.user + used.system) / 1000 / wallMs) * 100, 0),
        });
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      times.push(responseTime);
    });
  });
}

const HOST = fileURLToPath(new URL('./http-load-host.ts', import.meta.url));

/** `load(spec)` in a fresh child process, which exits afterwards. */
export function loadInChild(spec: LoadSpec, onStart?: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(HOST, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answered = false;
    child.on('message', (msg: { ev: 'start' } | { ev: 'done'; ok: boolean; result?: LoadResult; error?: string }) => {
      if (msg.ev === 'start') return onStart?.();
      answered = true;
      if (msg.ok) resolve(msg.result!);
      else reject(new Error(`load process failed: ${msg.error}`));
    });
    child.on('exit', (code) => {
      if (!answered) reject(new Error(`load process exited with ${code} before answering`));
    });
    child.send(spec);
  });
}
