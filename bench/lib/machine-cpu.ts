/**
 * Whole-machine CPU use between two readings of /proc/stat (Linux; elsewhere NaN), in % of one
 * core. Set beside a run's own processes' CPU it shows what else ran meanwhile (the database
 * server, or another program disturbing the measurement).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuReading {
  busy: number;
  total: number;
}

export function readMachineCpu(): CpuReading {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** Busy share of all cores between `from` and `to`, as % of one core (at most 100 × cores). */
export function machineCpuPct(from: CpuReading, to: CpuReading): number {
  const total = to.total - from.total;
  return total > 0 ? ((to.busy - from.busy) / total) * cpus().length * 100 : NaN;
}
