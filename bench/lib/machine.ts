/** What the report says about the machine a run happened on. */
import { cpus, hostname, release, totalmem, type as osType } from 'node:os';

export function machineInfo(): Record<string, string | number> {
  return {
    host: hostname(),
    os: `${osType()} ${release()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}
