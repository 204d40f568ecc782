/**
 * Parent side of the worker-host protocol: spawns worker processes (each a `worker-host.ts`),
 * sends commands and awaits their replies.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StoreConfig } from './adapter.js';

const HOST = fileURLToPath(new URL('./worker-host.ts', import.meta.url));

export interface Collected {
  latencies: number[];
  handled: number;
  rssPeakMiB: number;
  rssStartMiB: number;
}

export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (msg: Record<string, unknown>) => void>();
  private failure: string | null = null;

  constructor() {
    this.child = fork(HOST, [], { execArgv: ['--conditions=source', '--import', 'tsx', ...(process.env.SPINDLE_BENCH_WORKER_ARGS ?? '').split(' ').filter(Boolean)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: Record<string, unknown>) => {
      if (msg.ev === 'failed') {
        this.failure = String(msg.error);
        for (const resolve of this.waiting.values()) resolve(msg);
        this.waiting.clear();
        return;
      }
      const resolve = this.waiting.get(String(msg.ev));
      this.waiting.delete(String(msg.ev));
      resolve?.(msg);
    });
  }

  /** The child's process id (diagnostic tools read its CPU time from /proc). */
  get pid(): number {
    return this.child.pid!;
  }

  private request(cmd: Record<string, unknown>, answer: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.waiting.set(answer, (msg) => (msg.ev === 'failed' ? reject(new Error(`worker process failed: ${this.failure}`)) : resolve(msg)));
      this.child.send(cmd);
    });
  }

  async init(system: string, config: StoreConfig, concurrency: number): Promise<void> {
    await this.request({ cmd: 'init', system, config, concurrency }, 'ready');
  }

  async start(): Promise<number> {
    return Number((await this.request({ cmd: 'start' }, 'started')).t);
  }

  async produce(count: number, intervalMs: number): Promise<void> {
    await this.request({ cmd: 'produce', count, intervalMs }, 'produced');
  }

  async collect(): Promise<Collected> {
    return (await this.request({ cmd: 'collect' }, 'collected')) as unknown as Collected;
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    await Promise.race([this.request({ cmd: 'stop' }, 'stopped'), new Promise((r) => setTimeout(r, 15_000))]);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
