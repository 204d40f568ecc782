/**
 * The chaos suite's fault drivers (reliability.md §5.1), all but process kill/stop: a private
 * PostgreSQL cluster to restart and to kill connections in, a TCP proxy for network faults, a
 * process holding SQLite's write lock, a full SQLite disk, and a fake wall clock for children.
 */
export { type FaultRecorder, freePort, isAlive } from './nemesis.js';
export { findPgBinDir, type PgStopMode, type PrivateCluster, type PrivateClusterOptions, startPrivateCluster } from './pg-cluster.js';
export { type ProxyMode, type ProxyStats, startTcpProxy, type TcpProxy, type TcpProxyOptions } from './tcp-proxy.js';
export { type BusyHold, type BusyHolder, type BusyHolderOptions, childCommand, startBusyHolder } from './sqlite-busy.js';
export { type DiskFull, type DiskFullOptions, fillDisk, type PageLimitTarget } from './sqlite-disk-full.js';
export { createFakeClock, type FakeClock, type FakeClockOptions, findLibfaketime } from './clock.js';
