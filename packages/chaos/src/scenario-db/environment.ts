/**
 * The PostgreSQL a database-fault scenario (C3, C4, C5, C16) runs against: a private cluster
 * started for the run (faults/pg-cluster.ts), a database `chaos` in it, and — for C5 — the TCP
 * proxy (faults/tcp-proxy.ts) in front of it, through which every connection of the run goes.
 *
 * Owns: starting and tearing down that cluster and proxy, pointing the scenario runner at them
 * (SPINDLE_PG_URL, read by scenario/backends.ts when the run creates its schema; the worker
 * processes inherit the URL from the runner), and the relay through which the drivers record
 * their faults in the current run's nemesis history.
 *
 * Invariants:
 * - Never the machine's shared instance: only `startPrivateCluster` clusters are restarted,
 *   have their connections killed or their xmin held.
 * - SPINDLE_PG_URL is set only while the run is in progress and restored (or deleted) after,
 *   on every path; the proxy is closed and the cluster destroyed in `finally`.
 * - `url` is what the application (runner, workers, probes) uses; `directUrl` bypasses the proxy
 *   and is for the nemesis and measurements only.
 */
import { startPrivateCluster, type PrivateCluster } from '../faults/pg-cluster.js';
import { startTcpProxy, type TcpProxy } from '../faults/tcp-proxy.js';
import type { FaultRecorder } from '../faults/nemesis.js';

export const DB_NAME = 'chaos';

/** Forwards fault records to the run's nemesis once the run has one (drivers are made before it). */
export class FaultRelay implements FaultRecorder {
  target: FaultRecorder | null = null;
  faultStarted(args: { fault: string; target?: string; [k: string]: unknown }): () => void {
    return this.target ? this.target.faultStarted(args) : () => {};
  }
}

export interface DbEnvironment {
  cluster: PrivateCluster;
  proxy: TcpProxy | null;
  /** The application's URL (through the proxy when there is one, with `urlParams`). */
  url: string;
  /** `url` without `urlParams`. */
  plainUrl: string;
  /** Straight to the cluster: nemesis and measurements only. */
  directUrl: string;
  relay: FaultRelay;
}

export interface EnvironmentOptions {
  /** Route the application's connections through a TCP proxy (C5). */
  proxy?: boolean;
  /** Query parameters of the application's URL (e.g. `connect_timeout=2&query_timeout=3000`). */
  urlParams?: string;
  /** Extra postgresql.conf settings of the private cluster. */
  settings?: Record<string, string | number>;
  log?: (message: string) => void;
}

/** Runs `fn` with a private cluster (and proxy) and SPINDLE_PG_URL pointing at it; always tears down. */
export async function withDbEnvironment<T>(options: EnvironmentOptions, fn: (env: DbEnvironment) => Promise<T>): Promise<T> {
  const relay = new FaultRelay();
  const cluster = await startPrivateCluster({ recorder: relay, settings: { max_connections: 150, ...options.settings } });
  let proxy: TcpProxy | null = null;
  const previous = process.env.SPINDLE_PG_URL;
  try {
    await cluster.createDatabase(DB_NAME);
    const directUrl = cluster.connectionString(DB_NAME);
    let plainUrl = directUrl;
    if (options.proxy) {
      proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: cluster.port }, recorder: relay });
      plainUrl = `postgresql://postgres@127.0.0.1:${proxy.port}/${DB_NAME}`;
    }
    const url = options.urlParams ? `${plainUrl}?${options.urlParams}` : plainUrl;
    options.log?.(`private cluster on port ${cluster.port}${proxy ? `, proxy on ${proxy.port}` : ''} (${cluster.dir}); the run uses ${url}`);
    process.env.SPINDLE_PG_URL = url;
    return await fn({ cluster, proxy, url, plainUrl, directUrl, relay });
  } finally {
    if (previous === undefined) delete process.env.SPINDLE_PG_URL;
    else process.env.SPINDLE_PG_URL = previous;
    relay.target = null;
    await proxy?.close().catch(() => {});
    await cluster.destroy().catch((err: unknown) => options.log?.(`destroying the private cluster failed: ${String(err)}`));
  }
}
