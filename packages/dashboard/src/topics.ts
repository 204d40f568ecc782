/**
 * The topics views (issue 8 point 6; ADR 0017 topics, ADR 0018 dashboard).
 *
 * Routes:
 *   GET  /topics                               every topic: partitions, high water, retention, groups, total lag
 *   GET  /topics/:topic[?group=&partition=&offset=]
 *                                              partitions, consumer groups with lag per partition
 *                                              (committed, high water, lag, members, generation),
 *                                              the seek form (admin), and a peek at one partition's messages
 *   GET  /ui/fragments/topic-groups/:topic     the groups section (it re-fetches itself every 5 s)
 *   POST /ui/actions/topics/:topic/seek        group, mode=earliest|latest|offset|time, partition, offset, time
 *                                              → POST /api/v1/topics/:topic/groups/:group/seek
 *
 * Invariants:
 * - Reads and changes only through `ctx.api` as the session's key: `GET /topics`, `GET /topics/:t`,
 *   `GET /topics/:t/groups`, `GET /topics/:t/partitions/:p/messages` (needs `read-payload`; without
 *   it the peek shows the API's refusal) and the seek. The API decides access; a refusal is shown.
 * - The seek form renders only for keys holding `admin`; it is confirmed (`hx-confirm`) first.
 * - The peek reads at most PEEK_SIZE messages, from `offset` (default: the last PEEK_SIZE of the
 *   partition), clamped into the retained range, so it never asks for an offset out of range.
 */
import type { FastifyRequest } from 'fastify';
import type { DashboardContext, DashboardModule } from './context.js';
import { html, url, type SafeHtml } from './html.js';
import { formValue, notice, problemText, ROUTE, toInstant } from './jobs-common.js';
import { apiStatus } from './ops-common.js';
import { PEEK_SIZE, renderGroups, renderPartitions, renderPeek, renderSeekPanel, renderTopicsList, type GroupJson, type PeekJson, type TopicJson } from './topics-render.js';

/** Most topics whose groups the list reads (one API call each). */
const LIST_GROUPS_MAX = 100;

const intOf = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
};

async function readGroups(ctx: DashboardContext, request: FastifyRequest, topic: string): Promise<{ groups: GroupJson[] | null; error: string | null }> {
  const answer = await ctx.api<{ groups: GroupJson[] }>(request, 'GET', url(['/topics', topic, 'groups']));
  return answer.status === 200 ? { groups: answer.body.groups, error: null } : { groups: null, error: problemText(answer) };
}

/** The seek target of a form body, or an error message. */
export function seekTarget(body: unknown): { to: unknown } | { error: string } {
  const mode = formValue(body, 'mode');
  if (mode === 'earliest' || mode === 'latest') return { to: mode };
  if (mode === 'offset') {
    const partition = intOf(formValue(body, 'partition'));
    const offset = intOf(formValue(body, 'offset'));
    if (partition === undefined || offset === undefined) return { error: 'Give a partition and an offset (whole numbers, 0 or more).' };
    return { to: { offsets: { [String(partition)]: offset } } };
  }
  if (mode === 'time') {
    const time = toInstant(formValue(body, 'time'));
    if (!time) return { error: 'Give a time (UTC).' };
    return { to: { time } };
  }
  return { error: 'Choose where to seek: earliest, latest, an offset or a time.' };
}

const topicsModule: DashboardModule = (app, ctx) => {
  app.get('/topics', ROUTE, async (request, reply) => {
    const answer = await ctx.api<{ topics: TopicJson[] }>(request, 'GET', '/topics');
    let body: SafeHtml;
    if (answer.status !== 200) body = notice('error', problemText(answer));
    else {
      const topics = answer.body.topics;
      const read = await Promise.all(topics.slice(0, LIST_GROUPS_MAX).map(async (t) => [t.name, (await readGroups(ctx, request, t.name)).groups] as const));
      body = html`<div class="panel" id="topics-list">${renderTopicsList(topics, new Map(read))}</div>`;
    }
    return ctx.page(request, reply, { title: 'Topics', active: 'topics', body: html`<section class="topics"><h1>Topics</h1>${body}</section>` });
  });

  app.get<{ Params: { topic: string } }>('/topics/:topic', ROUTE, async (request, reply) => {
    const name = request.params.topic;
    const q = request.query as Record<string, unknown>;
    const focus = formValue(q, 'group');
    const topicAnswer = await ctx.api<TopicJson>(request, 'GET', url(['/topics', name]));
    if (topicAnswer.status !== 200) {
      const missing = topicAnswer.status === 404 || topicAnswer.status === 400;
      const body = html`<h1>Topic <span class="name">${name}</span></h1>${notice('error', missing ? `No topic named “${name}”.` : problemText(topicAnswer))}<p><a href="/topics">All topics</a></p>`;
      return ctx.page(request, reply.code(missing ? 404 : topicAnswer.status), { title: `Topic ${name}`, active: 'topics', body });
    }
    const topic = topicAnswer.body;
    const partition = Math.min(intOf(formValue(q, 'partition')) ?? 0, topic.partitions - 1);
    const range = topic.offsets.find((o) => o.partition === partition) ?? { startOffset: 0, highWater: 0 };
    const wanted = intOf(formValue(q, 'offset')) ?? range.highWater - PEEK_SIZE;
    const offset = Math.max(range.startOffset, Math.min(wanted, range.highWater));
    const [groups, peek] = await Promise.all([
      readGroups(ctx, request, name),
      ctx.api<PeekJson>(request, 'GET', url(['/topics', name, 'partitions', String(partition), 'messages'], { offset, limit: PEEK_SIZE })),
    ]);
    const canSeek = ctx.session(request).can('admin');
    const body = html`<section class="topic" data-topic="${topic.name}">
<div class="panel-head"><h1>Topic <span class="name">${topic.name}</span></h1><a href="/topics">All topics</a></div>
<div class="panel">${renderPartitions(topic)}</div>
${renderGroups(topic, groups.groups, groups.error, focus)}
${canSeek && groups.groups ? renderSeekPanel(topic, groups.groups, focus) : null}
${renderPeek(topic, partition, offset, peek.status === 200 ? peek.body : null, peek.status === 200 ? null : problemText(peek))}
</section>`;
    return ctx.page(request, reply, { title: `Topic ${topic.name}`, active: 'topics', body });
  });

  app.get<{ Params: { topic: string } }>('/ui/fragments/topic-groups/:topic', ROUTE, async (request, reply) => {
    const name = request.params.topic;
    const topic = await ctx.api<TopicJson>(request, 'GET', url(['/topics', name]));
    if (topic.status !== 200) return ctx.fragment(reply, html`<section id="topic-groups">${notice('error', problemText(topic))}</section>`);
    const groups = await readGroups(ctx, request, name);
    return ctx.fragment(reply, renderGroups(topic.body, groups.groups, groups.error, formValue(request.query, 'group')));
  });

  app.post<{ Params: { topic: string } }>('/ui/actions/topics/:topic/seek', ROUTE, async (request, reply) => {
    const name = request.params.topic;
    const group = formValue(request.body, 'group') ?? '';
    const target = seekTarget(request.body);
    let result: SafeHtml;
    if ('error' in target) {
      result = notice('error', target.error);
      apiStatus(reply, 400);
    } else {
      const answer = await ctx.api(request, 'POST', url(['/topics', name, 'groups', group, 'seek']), target);
      apiStatus(reply, answer.status);
      result = answer.status === 200 ? notice('ok', `Group ${group} moved (${describeTarget(target.to)}).`) : notice('error', `Could not seek ${group}: ${problemText(answer)}`);
    }
    const topic = await ctx.api<TopicJson>(request, 'GET', url(['/topics', name]));
    if (topic.status !== 200) return ctx.fragment(reply, html`<section id="topic-groups">${result}</section>`);
    const groups = await readGroups(ctx, request, name);
    return ctx.fragment(reply, renderGroups(topic.body, groups.groups, groups.error, group || undefined, result));
  });
};

function describeTarget(to: unknown): string {
  if (typeof to === 'string') return `to ${to}`;
  const o = to as { offsets?: Record<string, number>; time?: string };
  if (o.offsets) return Object.entries(o.offsets).map(([p, n]) => `partition ${p} to offset ${n}`).join(', ');
  return `to the first message at or after ${o.time}`;
}

export default topicsModule;
