/**
 * C3's check of the HTTP API during a database outage (reliability.md §5.3 C3, §5.6 "DB
 * outage: 503 within ≤ 1 s"): an in-process SpindleServer (packages/server) with its own Client
 * and PostgresBackend on the run's database, asked through Fastify's `inject` (no socket) for
 * `/readyz` (a database round trip) and a queue read (`GET /api/v1/queues/<queue>`) while the
 * nemesis restarts PostgreSQL.
 *
 * Owns: that server, its client and backend (closed by `close()`), and the probe samples.
 *
 * Invariants:
 * - Read-only: the probe never enqueues or changes a job (the run's history must account for
 *   every job), so it cannot disturb the checker.
 * - Each sample is one request timed from send to answer; a request still unanswered when the
 *   probe stops is recorded with status 0 and its wait so far (a hang is a sample too).
 */
import { Client, silentLogger } from '@spindle/core';
import { PostgresBackend } from '@spindle/postgres';
import { SpindleServer } from '@spindle/server';
import { sleep } from '../scenario/workers.js';

export interface ProbeSample {
  route: string;
  at: number;
  ms: number;
  status: number;
  /** The database was down (between the fault's start and its heal) when the request was sent. */
  down: boolean;
}

export interface ProbeSummary {
  /** Requests sent while the database was down. */
  duringOutage: number;
  statuses: Record<string, number>;
  maxMs: number | null;
  /** Requests of the outage answered in more than 1 s (or never). */
  over1s: number;
  /** Requests of the outage answered with a 5xx other than 503 (a 500 is a failure). */
  wrongStatus: number;
  examples: ProbeSample[];
}

export class HttpProbe {
  readonly samples: ProbeSample[] = [];
  private constructor(private readonly server: SpindleServer, private readonly client: Client, private readonly app: Awaited<ReturnType<SpindleServer['app']>>, private readonly queue: string) {}

  static async start(url: string, schema: string, queue: string): Promise<HttpProbe> {
    const backend = new PostgresBackend({ connectionString: url, schema, poolMax: 2, listen: false, applicationName: 'spindle-chaos-http' });
    const client = new Client({ backend, autoMigrate: false, maintenance: false, telemetry: false, tracing: false, logger: silentLogger, retention: { completedMs: null, cancelledMs: null, deadMs: null } });
    await client.start();
    const server = new SpindleServer(client, { port: 0, logger: false });
    const app = await server.app();
    return new HttpProbe(server, client, app, queue);
  }

  /** Samples both routes every `everyMs` until `done` settles; `isDown()` tells what the database was doing. */
  async sampleWhile(done: Promise<unknown>, isDown: () => boolean, everyMs = 200): Promise<void> {
    let over = false;
    const end = (): void => { over = true; };
    done.then(end, end);
    const inflight: Array<Promise<void>> = [];
    while (!over) {
      for (const route of ['/readyz', `/api/v1/queues/${this.queue}`]) inflight.push(this.one(route, isDown()));
      await sleep(everyMs);
    }
    await Promise.all(inflight);
  }

  private async one(route: string, down: boolean): Promise<void> {
    const at = Date.now();
    const sample: ProbeSample = { route, at, ms: 0, status: 0, down };
    this.samples.push(sample);
    try {
      const res = await Promise.race([this.app.inject({ method: 'GET', url: route }), sleep(15_000).then(() => null)]);
      sample.status = res?.statusCode ?? 0;
    } catch {
      sample.status = -1;
    }
    sample.ms = Date.now() - at;
  }

  summary(): ProbeSummary {
    const down = this.samples.filter((s) => s.down);
    const statuses: Record<string, number> = {};
    for (const s of down) statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
    const wrong = down.filter((s) => s.status !== 200 && s.status !== 503);
    return {
      duringOutage: down.length,
      statuses,
      maxMs: down.length ? Math.max(...down.map((s) => s.ms)) : null,
      over1s: down.filter((s) => s.ms > 1000 || s.status === 0).length,
      wrongStatus: wrong.length,
      examples: [...wrong, ...down.filter((s) => s.ms > 1000)].slice(0, 5),
    };
  }

  async close(): Promise<void> {
    await this.server.stop().catch(() => {});
    await this.client.close({ graceMs: 0 }).catch(() => {});
  }
}
