/**
 * The process that hosts a system's worker during a measurement (run by bench/lib/processes.ts
 * over IPC). It records, per job, the time between the payload's enqueue stamp and the handler's
 * start, and samples its own RSS. For in-process latency runs it also produces the jobs itself.
 *
 * Messages in:  init {system, config, concurrency} · start · produce {count, intervalMs} · collect · stop
 * Messages out: ready · started {t} · produced · collected {latencies, handled, rssPeakMiB, rssStartMiB} · stopped · failed {error}
 */
import type { WorkerHandle } from './adapter.js';
import { now } from './adapter.js';
import { loadSystem } from './systems.js';
import { paced } from './pacing.js';

type Message = { cmd: string; [key: string]: unknown };

let worker: WorkerHandle | null = null;
let handled = 0;
const latencies: number[] = [];
let rssStart = 0;
let rssPeak = 0;
let config: Record<string, string | number | boolean> = {};
let systemName = '';

function reply(message: Record<string, unknown>): void {
  process.send!(message);
}

function sampleRss(): void {
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
}

async function handle(message: Message): Promise<void> {
  switch (message.cmd) {
    case 'init': {
      systemName = String(message.system);
      config = message.config as typeof config;
      const adapter = await loadSystem(systemName);
      worker = await adapter.worker(config, {
        concurrency: Number(message.concurrency),
        onJob: (payload) => {
          handled += 1;
          if (payload.t !== undefined) latencies.push(now() - payload.t);
        },
      });
      rssStart = process.memoryUsage().rss;
      setInterval(sampleRss, 100).unref();
      reply({ ev: 'ready' });
      return;
    }
    case 'start': {
      const t = now();
      await worker!.start();
      reply({ ev: 'started', t });
      return;
    }
    case 'produce': {
      const adapter = await loadSystem(systemName);
      const producer = worker!.producer ? await worker!.producer() : await adapter.producer(config);
      await paced(Number(message.count), Number(message.intervalMs), (i) => producer.add({ i, t: now() }));
      await producer.close();
      reply({ ev: 'produced' });
      return;
    }
    case 'collect': {
      sampleRss();
      reply({ ev: 'collected', latencies, handled, rssPeakMiB: rssPeak / 2 ** 20, rssStartMiB: rssStart / 2 ** 20 });
      return;
    }
    case 'stop': {
      await worker?.close();
      reply({ ev: 'stopped' });
      setTimeout(() => process.exit(0), 50);
      return;
    }
  }
}

process.on('message', (message: Message) => {
  handle(message).catch((err: unknown) => {
    reply({ ev: 'failed', error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  });
});
