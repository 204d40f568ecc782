/**
 * Consumer groups over HTTP (docs/decisions/0017-topics.md), for clients that are not Node: join,
 * heartbeat, leave, commit; list and read groups with their lag; seek. The protocol is the
 * library's: a member joins with a session, heartbeats within it (every sessionMs / 3 is
 * prudent), reads its partitions with `GET /topics/:topic/partitions/:p/messages` from the
 * group's committed offsets, and commits the next offset to read, naming its generation.
 *
 * Invariants:
 * - Membership and commits need `work` on the topic, reading groups `read`, seeking `admin`.
 * - A refused commit is an answer, not an error: 200 with an outcome per offset
 *   (`stale_generation`, `not_assigned`, `backwards`, `beyond_high_water`); only `ok` moved it.
 * - Input is checked here (zod) and by the core validators where they exist (seek) before the
 *   backend sees it: a 400 writes nothing. An unknown topic is 404; so is an unknown group for
 *   reads and seeks (a group is made by its first join).
 */
import { MAX_PARTITIONS, type Client } from '@spindle/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteContext } from '../app.js';
import { ApiProblem } from '../http/problem.js';
import { InstantSchema, NameSchema, PROBLEM_RESPONSES } from '../http/schemas.js';
import { groupView } from '../http/views.js';
import { loadTopic, TopicParams } from './topics.js';

const DEFAULT_SESSION_MS = 10_000;
const MemberIdSchema = z.string().min(1).max(256);
const SessionSchema = z.int().min(1000).max(600_000);

const GroupParams = z.strictObject({ topic: NameSchema, group: NameSchema });
const MemberParams = GroupParams.extend({ memberId: MemberIdSchema });

const Assignment = z.object({
  generation: z.int().describe('Name it in commits; a commit of another generation is refused.'),
  members: z.array(z.string()).describe('Live member ids, sorted (partition p goes to member p mod n).'),
  partitions: z.array(z.int()).describe('The partitions this member owns now; empty when it is not live (join again).'),
});

const GroupView = z.object({
  topic: z.string(),
  group: z.string(),
  generation: z.int(),
  members: z.array(z.object({ memberId: z.string(), expiresAt: z.string(), partitions: z.array(z.int()) })),
  offsets: z.array(z.object({ partition: z.int(), committed: z.int().describe('The next offset the group reads.'), highWater: z.int(), lag: z.int() })),
  lag: z.int().describe('Messages published and not yet committed, over every partition.'),
});

const OffsetSchema = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const CommitBody = z.strictObject({
  memberId: MemberIdSchema,
  generation: z.int().min(0),
  offsets: z.array(z.strictObject({ partition: z.int().min(0).max(MAX_PARTITIONS - 1), offset: OffsetSchema.describe('The next offset the group will read.') })).min(1).max(MAX_PARTITIONS),
});

const SeekBody = z.strictObject({
  to: z
    .union([
      z.enum(['earliest', 'latest']),
      z.strictObject({ offsets: z.record(z.string().regex(/^\d{1,4}$/, 'must be a partition number'), OffsetSchema) }),
      z.strictObject({ time: InstantSchema }),
    ])
    .describe("'earliest', 'latest', { offsets: { \"0\": 120 } } (clamped into each partition's range) or { time } (the first message at or after it)."),
});

async function loadGroup(client: Client, topic: string, group: string) {
  const info = await client.topics.group(topic, group);
  if (!info) throw new ApiProblem(404, 'not_found', `No group ${group} on topic ${topic}.`);
  return info;
}

export function topicGroupRoutes({ client }: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/topics/:topic/groups/:group/members',
      {
        config: { access: { action: 'work', queue: 'topic' } },
        schema: {
          tags: ['topic groups'],
          summary: 'Join a consumer group (made by its first join) or extend a live membership; answers the assignment',
          params: GroupParams,
          body: z.strictObject({
            memberId: MemberIdSchema.describe('Chosen by the client, unique in the group (e.g. host:pid:random).'),
            sessionMs: SessionSchema.optional().describe(`Live until this long after the last join or heartbeat; default ${DEFAULT_SESSION_MS}.`),
            start: z.enum(['earliest', 'latest']).optional().describe("Where a group made by this join starts reading; default 'earliest'."),
          }),
          response: { 200: Assignment, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { topic, group } = request.params;
        const { memberId, sessionMs = DEFAULT_SESSION_MS, start = 'earliest' } = request.body;
        return client.run((b) => b.joinGroup({ topic, group, memberId, sessionMs, start }));
      },
    );

    app.post(
      '/topics/:topic/groups/:group/members/:memberId/heartbeat',
      {
        config: { access: { action: 'work', queue: 'topic' } },
        schema: {
          tags: ['topic groups'],
          summary: "Extend a live member's session; answers the current assignment (a new generation means: re-read from the committed offsets)",
          params: MemberParams,
          body: z.strictObject({ sessionMs: SessionSchema.optional().describe(`Default ${DEFAULT_SESSION_MS}.`) }),
          response: { 200: Assignment, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { topic, group, memberId } = request.params;
        const sessionMs = request.body.sessionMs ?? DEFAULT_SESSION_MS;
        return client.run((b) => b.heartbeatGroup({ topic, group, memberId, sessionMs, start: 'earliest' }));
      },
    );

    app.delete(
      '/topics/:topic/groups/:group/members/:memberId',
      {
        config: { access: { action: 'work', queue: 'topic' } },
        schema: {
          tags: ['topic groups'],
          summary: 'Leave a group (a new generation: its partitions go to the other members)',
          params: MemberParams,
          response: { 200: z.object({ memberId: z.string(), left: z.literal(true) }), ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { topic, group, memberId } = request.params;
        await client.run((b) => b.leaveGroup({ topic, group, memberId }));
        return { memberId, left: true as const };
      },
    );

    app.post(
      '/topics/:topic/groups/:group/commits',
      {
        config: { access: { action: 'work', queue: 'topic' } },
        schema: {
          tags: ['topic groups'],
          summary: 'Commit offsets (the next offset to read) for partitions the member owns in the named generation',
          params: GroupParams,
          body: CommitBody,
          response: {
            200: z.object({
              committed: z.boolean().describe('Every offset was accepted.'),
              outcomes: z.array(z.object({ partition: z.int(), offset: z.int(), outcome: z.enum(['ok', 'stale_generation', 'not_assigned', 'backwards', 'beyond_high_water']) })),
            }),
            ...PROBLEM_RESPONSES,
          },
        },
      },
      async (request) => {
        const { topic, group } = request.params;
        const { memberId, generation, offsets } = request.body;
        const outcomes = await client.run((b) => b.commitOffsets({ topic, group, memberId, generation, offsets }));
        return { committed: outcomes.every((o) => o === 'ok'), outcomes: offsets.map((o, i) => ({ ...o, outcome: outcomes[i]! })) };
      },
    );

    app.get(
      '/topics/:topic/groups',
      {
        config: { access: { action: 'read', queue: 'topic' } },
        schema: { tags: ['topic groups'], summary: "A topic's consumer groups with members, committed offsets and lag", params: TopicParams, response: { 200: z.object({ groups: z.array(GroupView) }), ...PROBLEM_RESPONSES } },
      },
      async (request) => {
        await loadTopic(client, request.params.topic);
        return { groups: (await client.topics.groups(request.params.topic)).map(groupView) };
      },
    );

    app.get(
      '/topics/:topic/groups/:group',
      {
        config: { access: { action: 'read', queue: 'topic' } },
        schema: { tags: ['topic groups'], summary: 'One consumer group: members, committed offsets and lag', params: GroupParams, response: { 200: GroupView, ...PROBLEM_RESPONSES } },
      },
      async (request) => groupView(await loadGroup(client, request.params.topic, request.params.group)),
    );

    app.post(
      '/topics/:topic/groups/:group/seek',
      {
        config: { access: { action: 'admin', queue: 'topic' } },
        schema: {
          tags: ['topic groups'],
          summary: "Move a group's committed offsets (a new generation: members' commits of old positions are refused)",
          params: GroupParams,
          body: SeekBody,
          response: { 200: GroupView, ...PROBLEM_RESPONSES },
        },
      },
      async (request) => {
        const { topic, group } = request.params;
        await loadGroup(client, topic, group);
        await client.topics.seek(topic, group, request.body.to);
        return groupView(await loadGroup(client, topic, group));
      },
    );
  };
}
