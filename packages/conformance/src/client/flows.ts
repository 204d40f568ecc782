/**
 * Client-level flows: `client.flow(spec)` validates the whole tree before writing anything
 * (ValidationError paths name the node), the answer is the tree of ids, workers run the
 * children first and the parent last, the parent's handler reads its children's outcomes with
 * `job.children()` (also destructured), and the seed's video pipeline (process_video fans out
 * transcodes, a thumbnail and moderation, and `notify` runs when they are all done).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { PermanentError, ValidationError, type FlowChild, type FlowSpec } from '@spindle/core';
import { waitFor, withClient, type BackendFactory } from './harness.js';

/** The issue paths of a ValidationError thrown by `fn`. */
async function issuePaths(fn: () => Promise<unknown>): Promise<string[]> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err.issues.map((i) => i.path);
  }
  assert.fail('expected a ValidationError');
}

const leaf = (queue: string, name: string, payload: unknown = {}): FlowSpec => ({ queue, name, payload });

export function flowTests(factory: BackendFactory): void {
  describe(`${factory.name}: flows`, () => {
    it('rejects an invalid tree with every issue named by its path, and writes nothing', () =>
      withClient(factory, async (client, backend) => {
        client.queue('typed', { schema: z.object({ size: z.number() }) });
        const paths = await issuePaths(() =>
          client.flow({
            queue: 'parent',
            name: 'notify',
            payload: {},
            children: [
              leaf('ok', 'fine'),
              leaf('typed', 'bad', { size: 'big' }),
              { queue: 'bad queue!', name: 'x', payload: {} },
              { ...leaf('ok', 'child-id'), opts: { id: 'mine' } },
              { ...leaf('ok', 'nested'), onChildFailure: 'sometimes' as never, children: [{ ...leaf('ok', 'deep'), opts: { delay: -5 } }] },
            ],
          }),
        );
        assert.deepEqual(paths.sort(), [
          'children[1].payload.size',
          'children[2].queue',
          'children[3].opts.id',
          'children[4].children[0].opts.delay',
          'children[4].onChildFailure',
        ]);
        assert.deepEqual((await backend.listJobs({ limit: 10 })).jobs, []);
        await issuePaths(() => client.flow({ queue: 'p', name: 'x', payload: undefined }));
        await issuePaths(() => client.flow({ queue: 'p', name: 'x', payload: {}, children: 'none' as never }));
        await issuePaths(() => client.flow({ queue: 'p', name: 'x', payload: {}, opts: { transaction: {} } }));
        await issuePaths(() => client.flow(null as never));
        // Limits: 1,001 nodes; 11 levels.
        assert.deepEqual(await issuePaths(() => client.flow({ ...leaf('p', 'x'), colour: 'red' } as never)), ['colour']);
        const wide = await issuePaths(() => client.flow({ ...leaf('p', 'wide'), children: Array.from({ length: 5000 }, (_, i) => leaf('c', `c${i}`)) }));
        assert.deepEqual(wide, ['children[999]'], 'the 1,001st job is reported, once');
        let deep: FlowSpec = leaf('c', 'bottom');
        for (let level = 0; level < 10; level++) deep = { ...leaf('c', `level${level}`), children: [deep] };
        assert.ok((await issuePaths(() => client.flow(deep))).some((p) => p.endsWith('children[0]')));
        assert.deepEqual((await backend.listJobs({ limit: 10 })).jobs, []);
      }));

    it('answers the tree of ids; children run first, the parent last with their outcomes', () =>
      withClient(factory, async (client) => {
        const seen: FlowChild[][] = [];
        client.queue('parts').process(async (job) => {
          if ((job.payload as { fail?: boolean }).fail) throw new PermanentError('part failed');
          return { part: job.name };
        });
        client.queue('assemble').process(async ({ children }) => {
          const outcome = await children();
          seen.push(outcome);
          return outcome.length;
        });
        const flow = await client.flow({
          queue: 'assemble',
          name: 'assemble',
          payload: {},
          onChildFailure: 'continue',
          children: [leaf('parts', 'a'), leaf('parts', 'b', { fail: true }), leaf('parts', 'c')],
        });
        assert.equal(flow.inserted, true);
        assert.equal(flow.state, 'waiting');
        assert.deepEqual(flow.children.map((c) => [c.queue, c.name, c.state]), [['parts', 'a', 'queued'], ['parts', 'b', 'queued'], ['parts', 'c', 'queued']]);
        const done = await waitFor(async () => {
          const job = await client.getJob(flow.id);
          return job?.state === 'completed' ? job : null;
        }, 'the parent completed');
        assert.equal(done.result, 3);
        assert.equal(seen.length, 1);
        assert.deepEqual(seen[0]!.map((c) => [c.id, c.name, c.state, c.result]), [
          [flow.children[0]!.id, 'a', 'completed', { part: 'a' }],
          [flow.children[1]!.id, 'b', 'dead', null],
          [flow.children[2]!.id, 'c', 'completed', { part: 'c' }],
        ]);
        assert.match(seen[0]![1]!.failureReason!, /part failed/);
        assert.equal(seen[0]![0]!.failureReason, null);
        const children = await client.getChildren(flow.id);
        assert.deepEqual(children.map((c) => c.parentId), [flow.id, flow.id, flow.id]);
        assert.deepEqual((await client.listJobs({ filter: { parentId: flow.id } })).jobs.length, 3);
        for (const child of children) assert.ok(child.finishedAt! <= done.startedAt!, 'every child finished before the parent started');
        // An idempotent flow: the same root id again inserts nothing.
        const again = await client.flow({ queue: 'assemble', name: 'assemble', payload: {}, opts: { id: flow.id }, children: [leaf('parts', 'a')] });
        assert.equal(again.inserted, false);
        assert.equal(again.id, flow.id);
        assert.equal((await client.getChildren(flow.id)).length, 3);
      }));

    it("policy 'fail' (the default): a dead child puts the parent in the DLQ without running it", () =>
      withClient(factory, async (client) => {
        let parentRuns = 0;
        client.queue('steps').process(async () => {
          throw new PermanentError('step broke');
        });
        client.queue('final').process(async () => {
          parentRuns += 1;
        });
        const flow = await client.flow({ queue: 'final', name: 'final', payload: {}, children: [leaf('steps', 'one')] });
        const dead = await waitFor(async () => {
          const job = await client.getJob(flow.id);
          return job?.state === 'dead' ? job : null;
        }, 'the parent dead');
        assert.equal(dead.failureReason, 'child steps/one dead');
        assert.equal(parentRuns, 0);
      }));

    it("the seed's video pipeline: process_video fans out transcodes, thumbnail and moderation; notify runs last", () =>
      withClient(factory, async (client) => {
        const order: string[] = [];
        let notified: FlowChild[] | null = null;
        client.queue('video').process(async (job) => {
          order.push(job.name);
          if (job.name === 'process_video') {
            const { videoId } = job.payload as { videoId: string };
            const flow = await client.flow({
              queue: 'notify',
              name: 'notify',
              payload: { videoId },
              opts: { id: `notify-${videoId}` },
              children: [
                ...['720p', '1080p', '4k'].map((height) => ({ queue: 'video', name: `transcode_${height}`, payload: { videoId, height } })),
                { queue: 'video', name: 'thumbnail', payload: { videoId } },
                { queue: 'moderation', name: 'moderation', payload: { videoId } },
              ],
            });
            return { notifyId: flow.id };
          }
          return { done: job.name };
        });
        client.queue('moderation').process(async (job) => {
          order.push(job.name);
          return { verdict: 'ok' };
        });
        client.queue('notify').process(async (job) => {
          order.push(job.name);
          notified = await job.children();
          return { sent: true };
        });
        const upload = await client.queue('video').add('process_video', { videoId: 'v1' });
        await waitFor(async () => (await client.getJob('notify-v1'))?.state === 'completed', 'notify completed');
        assert.equal((await client.getJob(upload.id))?.state, 'completed');
        assert.equal(order[0], 'process_video');
        assert.equal(order.at(-1), 'notify');
        assert.deepEqual([...order.slice(1, -1)].sort(), ['moderation', 'thumbnail', 'transcode_1080p', 'transcode_4k', 'transcode_720p']);
        assert.deepEqual(notified!.map((c) => [c.name, c.state]), [
          ['transcode_720p', 'completed'],
          ['transcode_1080p', 'completed'],
          ['transcode_4k', 'completed'],
          ['thumbnail', 'completed'],
          ['moderation', 'completed'],
        ]);
      }));
  });
}
