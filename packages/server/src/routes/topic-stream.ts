/**
 * `GET /topics/:topic/stream?partition=&offset=&lastEventId=`: a topic's messages over
 * Server-Sent Events, `event: message` with the message as JSON data, resumable.
 *
 * The event id is the stream's position: `p<partition>:<next offset>` for every partition the
 * stream sends, ascending, joined by commas (`p0:13,p1:8` — partition 0 sent everything before
 * offset 13, partition 1 before 8). A first, data-less event (`id:` only) gives the position at
 * open, so a client that saw no message yet resumes without a gap too. A reconnect sends it back
 * as `Last-Event-ID` (browsers do; `?lastEventId=` for EventSource polyfills that cannot set
 * headers, the header winning when both are there) and each partition it names resumes at its
 * offset (clamped into the retained range); a partition it does not name starts as a new stream
 * would. A malformed id, or one naming a partition the stream does not send, is a 400.
 *
 * Invariants:
 * - Without `offset` each partition starts at its highWater when the stream opens (new messages
 *   only); with it, at that offset (clamped up to the partition's startOffset, so retention
 *   cannot make the stream fail). Without `partition`, every partition of the topic at open.
 * - Each event's id names, for its partition, the offset after the message, and for the others
 *   the offset after the last message sent: resuming from it neither repeats nor skips one.
 * - Per partition messages come in offset order, none skipped. A partition's loop reads until it
 *   is caught up, then waits for a local publish or POLL_MS (publishes of other processes).
 * - A slow reader is not buffered without bound: a loop waits for the socket to drain once over
 *   MAX_UNSENT_BYTES. A comment line every `heartbeatMs` keeps proxies from closing the stream.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { messageView } from '../http/views.js';
import { loadTopic, POLL_MS } from './topics.js';

const MAX_UNSENT_BYTES = 1024 * 1024;
const BATCH = 500;
/** Long enough for every partition (1024 × `p1023:` and a 16-digit offset, with commas). */
const MAX_ID_CHARS = 24 * 1024;
const PAIR_RE = /^p(\d{1,4}):(\d{1,16})$/;

/** A stream position as an event id: `p0:13,p1:8` (partition ascending). */
export function formatStreamId(positions: ReadonlyArray<{ partition: number; next: number }>): string {
  return positions.map((p) => `p${p.partition}:${p.next}`).join(',');
}

/**
 * Parses a stream position (a `Last-Event-ID`) sent back by a client: each pair names a partition
 * the stream sends (`partitions`), once, and the next offset to send there. A 400 otherwise.
 */
export function parseStreamId(text: string, partitions: ReadonlySet<number>, source: string): Map<number, number> {
  const bad = (why: string) =>
    new ApiProblem(400, 'validation_failed', `${source}: ${why} (got ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)})`, {
      issues: [{ path: source, message: why }],
    });
  if (text.length > MAX_ID_CHARS) throw bad(`must be at most ${MAX_ID_CHARS} characters`);
  const positions = new Map<number, number>();
  for (const pair of text.split(',')) {
    const m = PAIR_RE.exec(pair.trim());
    const partition = Number(m?.[1]);
    const next = Number(m?.[2]);
    if (!m || !Number.isSafeInteger(next)) throw bad('must be an event id of this stream: p<partition>:<next offset> pairs joined by commas, e.g. p0:13,p1:8');
    if (!partitions.has(partition)) throw bad(`names partition ${partition}, which this stream does not send`);
    if (positions.has(partition)) throw bad(`names partition ${partition} twice`);
    positions.set(partition, next);
  }
  return positions;
}

export function topicStreamRoute(ctx: RouteContext): FastifyPluginAsyncZod {
  const { client } = ctx;
  return async (app) => {
    app.get(
      '/topics/:topic/stream',
      {
        config: { access: { action: 'read-payload', queue: 'topic' } },
        schema: {
          tags: ['topics', 'push'],
          summary: "A topic's messages over SSE (event: message), from offset or from each partition's highWater; resumes from Last-Event-ID (p<partition>:<next offset>,…)",
          params: z.strictObject({ topic: NameSchema }),
          querystring: z.strictObject({
            partition: z.coerce.number().int().min(0).max(1023).optional().describe('Only this partition; default every partition.'),
            offset: z.coerce.number().int().min(0).optional().describe("Start offset (each streamed partition's); default its highWater (new messages only)."),
            lastEventId: z
              .string()
              .optional()
              .describe('Resume from this event id (p<partition>:<next offset>,…), for EventSource polyfills that cannot send the Last-Event-ID header (which wins when both are given).'),
          }),
          response: { 200: z.string().describe('text/event-stream'), ...PROBLEM_RESPONSES },
        },
      },
      async (request, reply) => {
        const { topic } = request.params;
        const info = await loadTopic(client, topic);
        const { partition, offset, lastEventId } = request.query;
        if (partition !== undefined && partition >= info.partitions) {
          throw new ApiProblem(400, 'validation_failed', `partition: ${topic} has partitions 0..${info.partitions - 1} (got ${partition})`);
        }
        const streamed = info.offsets.filter((p) => partition === undefined || p.partition === partition);
        // An empty id is no id (EventSource sends none before its first id).
        const header = request.headers['last-event-id'];
        const [resumeText, source] = typeof header === 'string' && header !== '' ? [header, 'Last-Event-ID'] : lastEventId ? [lastEventId, 'lastEventId'] : [null, ''];
        const resume = resumeText === null ? new Map<number, number>() : parseStreamId(resumeText, new Set(streamed.map((p) => p.partition)), source);
        const starts = streamed.map((p) => {
          const from = resume.get(p.partition) ?? offset;
          return { partition: p.partition, next: from === undefined ? p.highWater : Math.min(Math.max(from, p.startOffset), p.highWater) };
        });

        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        const gone = new AbortController();
        const wake = new Set<() => void>();
        const onPublish = () => {
          for (const w of [...wake]) w();
        };
        const event = `published:${topic}`;
        client.topics.local.on(event, onPublish);
        const heartbeat = setInterval(() => raw.write(': ping\n\n'), ctx.options.heartbeatMs);
        const close = () => {
          if (gone.signal.aborted) return;
          gone.abort();
          clearInterval(heartbeat);
          client.topics.local.off(event, onPublish);
          onPublish();
          ctx.streams.delete(close);
          raw.end();
        };
        ctx.streams.add(close);
        raw.once('close', close);
        raw.write(`retry: 2000\nid: ${formatStreamId(starts)}\n\n`);

        const idle = (ms: number) =>
          new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              wake.delete(done);
              resolve();
            };
            const timer = setTimeout(done, ms);
            wake.add(done);
          });
        const drained = () => new Promise<void>((resolve) => {
          const done = () => {
            raw.off('drain', done);
            gone.signal.removeEventListener('abort', done);
            resolve();
          };
          raw.once('drain', done);
          gone.signal.addEventListener('abort', done, { once: true });
        });

        const follow = async (p: { partition: number; next: number }, index: number) => {
          while (!gone.signal.aborted) {
            let result;
            try {
              result = await client.topics.fetch(topic, p.partition, p.next, BATCH);
            } catch (err) {
              // Retention moved the start past us: skip ahead, as a consumer does.
              if ((err as { code?: string }).code === 'offset_out_of_range') {
                const { startOffset } = err as { startOffset: number };
                if (startOffset > p.next) {
                  p.next = startOffset;
                  continue;
                }
              }
              request.log.warn({ err, topic, partition: p.partition }, 'spindle: topic stream read failed');
              await idle(1000);
              continue;
            }
            if (gone.signal.aborted) return;
            if (result.messages.length > 0) {
              // The other partitions' positions hold while this batch is written (no await in between).
              const before = formatStreamId(starts.slice(0, index));
              const after = formatStreamId(starts.slice(index + 1));
              for (const m of result.messages) {
                const id = `${before && `${before},`}p${m.partition}:${m.offset + 1}${after && `,${after}`}`;
                raw.write(`id: ${id}\nevent: message\ndata: ${JSON.stringify(messageView(m))}\n\n`);
              }
              p.next = result.messages.at(-1)!.offset + 1;
            }
            if (raw.writableLength > MAX_UNSENT_BYTES) await drained();
            else if (result.messages.length < BATCH) await idle(POLL_MS);
          }
        };
        void Promise.all(starts.map((p, i) => follow(p, i))).finally(close);
      },
    );
  };
}
