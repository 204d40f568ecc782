/**
 * `/ui/events`: the dashboard's live stream. The browser's EventSource cannot send an
 * Authorization header, so this route opens the API's `GET /events` as the session's key
 * (through `inject`, streamed) and relays a thinned version of it (event names and shapes:
 * context.ts, "Live updates").
 *
 * Invariants:
 * - Per browser tab the cost is bounded whatever the job rate: `job.*` events are relayed only
 *   for the jobs the page named (`?job=`); everything else collapses into at most one `tick`
 *   per second (carrying the upstream id, so a reconnect resumes from there).
 * - The upstream stream is aborted when the browser goes away, and the browser's stream ends
 *   when the upstream ends (server stopping) or the session ends (checked on every tick).
 * - The API decides what the key may see: a key limited to some queues must pass `?queue=`
 *   (without it the API refuses, and this route answers 204, which stops EventSource retries).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface LiveOptions {
  apiPrefix: string;
  headers: Record<string, string>;
  /** Whether the request's session is still live (checked on each tick). */
  alive(request: FastifyRequest): boolean;
  /** The key to call the API with (null: open server). */
  keyOf(request: FastifyRequest): string | null;
}

const TICK_MS = 1000;
const RELAYED = /^(queue\.|dlq\.alert\.|alert\.|reset$)/;
const LIST = /^[A-Za-z0-9._,:-]{1,4000}$/;

interface Frame {
  id?: string;
  event: string;
  data: string;
}

function parseFrame(text: string): Frame | null {
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return null;
  return { ...(id !== undefined ? { id } : {}), event, data: data.join('\n') };
}

const encode = (f: Frame) => `${f.id ? `id: ${f.id}\n` : ''}event: ${f.event}\ndata: ${f.data}\n\n`;

export function liveRoutes(app: FastifyInstance, options: LiveOptions): void {
  app.get<{ Querystring: { queue?: string; job?: string; lastEventId?: string } }>('/ui/events', { config: { public: true } }, async (request, reply) => {
    const { queue, job } = request.query;
    if ((queue !== undefined && !LIST.test(queue)) || (job !== undefined && !LIST.test(job))) return reply.code(400).type('text/plain').send('bad filter');
    const params = new URLSearchParams();
    // Jobs are filtered here, not by the API: its job filter would also drop the queue and
    // DLQ events (they carry no job id).
    if (queue) params.set('queue', queue);
    const last = request.headers['last-event-id'] ?? request.query.lastEventId;
    if (typeof last === 'string' && last.length > 0 && last.length <= 100) params.set('lastEventId', last);
    const key = options.keyOf(request);
    const abort = new AbortController();
    const upstream = await app.inject({
      method: 'GET',
      url: `${options.apiPrefix}/events${params.size ? `?${params}` : ''}`,
      headers: { accept: 'text/event-stream', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      payloadAsStream: true,
      signal: abort.signal,
    });
    const source = upstream.stream();
    if (upstream.statusCode !== 200) {
      abort.abort();
      source.destroy();
      // 204 tells EventSource to stop reconnecting: this key cannot follow this stream.
      return reply.code(204).send();
    }
    const jobs = new Set(job ? job.split(',') : []);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...options.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 3000\n\n');
    let closed = false;
    let buffer = '';
    let lastId: string | undefined;
    const dirty = new Set<string>();
    const write = (text: string) => {
      if (!closed) raw.write(text);
    };
    const tick = setInterval(() => {
      if (!options.alive(request)) return close();
      if (dirty.size === 0) return;
      write(encode({ ...(lastId ? { id: lastId } : {}), event: 'tick', data: JSON.stringify({ queues: [...dirty].sort() }) }));
      dirty.clear();
    }, TICK_MS);
    function close(): void {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      abort.abort();
      source.destroy();
      raw.end();
    }
    source.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (text.startsWith(':')) {
          write(': ping\n\n');
          continue;
        }
        const frame = parseFrame(text);
        if (!frame) continue;
        if (frame.id) lastId = frame.id;
        let queueName: string | undefined;
        let jobId: string | undefined;
        try {
          const data = JSON.parse(frame.data) as { queue?: unknown; jobId?: unknown };
          if (typeof data.queue === 'string') queueName = data.queue;
          if (typeof data.jobId === 'string') jobId = data.jobId;
        } catch {
          /* not JSON: relay by name only */
        }
        if (queueName) dirty.add(queueName);
        if (RELAYED.test(frame.event) || (frame.event.startsWith('job.') && jobId !== undefined && jobs.has(jobId))) write(encode(frame));
      }
    });
    source.once('end', close);
    source.once('error', close);
    request.raw.once('close', close);
    raw.once('close', close);
  });
}
