/**
 * What else the machine did during a run (Linux /proc; elsewhere NaN or nothing): whole-machine
 * CPU between two readings of /proc/stat, the CPU of processes other than the benchmark's own and
 * PostgreSQL's (another program disturbing the measurement), and a wait for a quiet machine.
 * All figures are % of one core.
 */
import { readdirSync, readFileSync } from 'node:fs';
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

/**
 * Waits until the machine is quiet (under `maxPct` of one core busy over a 1 s window), for at
 * most `timeoutMs`. Resolves to the seconds waited, or -1 when it gave up (the run goes on).
 */
export async function waitForQuiet(maxPct = 25, timeoutMs = 120_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const from = readMachineCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const pct = machineCpuPct(from, readMachineCpu());
    if (!(pct >= maxPct)) return Math.round((performance.now() - start) / 1000);
    if (performance.now() - start > timeoutMs) return -1;
  }
}

/** CPU ticks (1/100 s) used so far by each process other than this one, its children and PostgreSQL's. */
export function foreignProcessTicks(): Map<number, number> {
  const ticks = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return ticks;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      if (Number(pid) === process.pid || ppid === process.pid || comm === 'postgres') continue;
      ticks.set(Number(pid), Number(rest[11]) + Number(rest[12]));
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}

/** CPU those processes used between two readings over `wallMs`, as % of one core. */
export function foreignCpuPct(from: Map<number, number>, to: Map<number, number>, wallMs: number): number {
  let used = 0;
  for (const [pid, t] of to) used += t - (from.get(pid) ?? 0);
  return ((used * 10) / wallMs) * 100;
}
