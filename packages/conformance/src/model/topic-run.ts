/**
 * `runTopicModelTest`: the model-based property test of topics (issue 7). fast-check draws
 * sequences of publish (batches across partitions, keyed or not, with idempotency keys from a
 * small pool so repeats happen), fetch (in and out of range), join / heartbeat / leave of four
 * members with 1 s or 5 s sessions, commit (by the owner or anyone, of the current, previous or
 * next generation, offsets behind, at, ahead of the committed one or past the highWater),
 * seek (earliest, latest, offsets, time), grow and clock advances, and runs each against a fresh
 * backend with the injected time of the model's clock. After every command the topic and group
 * must equal the model (topic-model.ts). A failing sequence is shrunk (each command carries a
 * switch that shrinks to "off") and reported with the seed and the commands that ran.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BackendHandle } from '../suite.js';
import {
  AdvanceCommand,
  CommitCommand,
  FetchCommand,
  GrowCommand,
  HeartbeatCommand,
  JoinCommand,
  LeaveCommand,
  PublishCommand,
  SeekCommand,
  type OffsetPick,
  type SeekSpec,
} from './topic-commands.js';
import { INITIAL_PARTITIONS, MEMBER_IDS, MODEL_TOPIC, T0_AHEAD_MS, newTopicModel, verifyTopic, type TopicReal } from './topic-model.js';

export interface TopicModelTestOptions {
  name: string;
  makeBackend: () => Promise<BackendHandle>;
  /** Runs (one fresh backend each); default 25. SPINDLE_TOPIC_MODEL_RUNS overrides it. */
  numRuns?: number;
  /** Commands per run; default 15..30. */
  minCommands?: number;
  maxCommands?: number;
  /** Replays a reported failure (also SPINDLE_TOPIC_MODEL_SEED). */
  seed?: number;
}

const PICKS: OffsetPick[] = ['back', 'back', 'same', 'next', 'next', 'next2', 'high', 'high', 'beyond'];

function commandArbitrary() {
  const member = fc.nat({ max: MEMBER_IDS.length - 1 });
  const partition = fc.nat({ max: 9 });
  const session = fc.constantFrom(1_000, 5_000);
  const seek: fc.Arbitrary<SeekSpec> = fc.oneof(
    fc.constant<SeekSpec>({ kind: 'earliest' }),
    fc.constant<SeekSpec>({ kind: 'latest' }),
    fc.array(fc.record({ partition, offset: fc.nat({ max: 8 }) }), { minLength: 1, maxLength: 3 }).map((offsets): SeekSpec => ({ kind: 'offsets', offsets })),
    fc.integer({ min: -1_000, max: 10_000 }).map((agoMs): SeekSpec => ({ kind: 'time', agoMs })),
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .array(fc.record({ partition, keyed: fc.boolean(), idempotency: fc.option(fc.nat({ max: 3 }), { nil: null, freq: 3 }) }), { minLength: 1, maxLength: 4 })
        .map((items) => new PublishCommand(items)),
    },
    { weight: 2, arbitrary: fc.tuple(partition, fc.nat({ max: 8 }), fc.integer({ min: 1, max: 4 })).map(([p, o, l]) => new FetchCommand(p, o, l)) },
    { weight: 4, arbitrary: fc.tuple(member, session, fc.constantFrom<'earliest' | 'latest'>('earliest', 'latest')).map(([i, s, st]) => new JoinCommand(i, s, st)) },
    { weight: 3, arbitrary: fc.tuple(member, session).map(([i, s]) => new HeartbeatCommand(i, s)) },
    { weight: 1, arbitrary: member.map((i) => new LeaveCommand(i)) },
    {
      weight: 8,
      arbitrary: fc
        .tuple(
          fc.option(member, { nil: null, freq: 2 }),
          fc.constantFrom(0, 0, 0, 0, -1, 1),
          fc.array(fc.record({ partition, pick: fc.constantFrom(...PICKS) }), { minLength: 1, maxLength: 2 }),
        )
        .map(([who, d, items]) => new CommitCommand(who, d, items)),
    },
    { weight: 1, arbitrary: seek.map((s) => new SeekCommand(s)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }).map((by) => new GrowCommand(by)) },
    { weight: 3, arbitrary: fc.constantFrom(200, 500, 999, 1_000, 1_001, 3_000, 6_000).map((ms) => new AdvanceCommand(ms)) },
  );
}

type AnyCommand = ReturnType<typeof commandArbitrary> extends fc.Arbitrary<infer C> ? C : never;

export function runTopicModelTest(options: TopicModelTestOptions): void {
  const numRuns = Number(process.env.SPINDLE_TOPIC_MODEL_RUNS) || options.numRuns || 25;
  const seed = process.env.SPINDLE_TOPIC_MODEL_SEED ? Number(process.env.SPINDLE_TOPIC_MODEL_SEED) : options.seed;
  const minLength = options.minCommands ?? 15;
  const maxLength = options.maxCommands ?? 30;
  describe(`${options.name} backend topics model`, () => {
    it('random publish/fetch/join/heartbeat/leave/commit/seek/grow/clock sequences keep the topic and group equal to the model', { timeout: 600_000 }, async () => {
      const property = fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 9 }), commandArbitrary()), { minLength, maxLength }),
        async (steps: Array<[number, AnyCommand]>) => {
          const handle = await options.makeBackend();
          const ran: string[] = [];
          try {
            const real: TopicReal = { backend: handle.backend, t0: (await handle.backend.now()).getTime() + T0_AHEAD_MS };
            const model = newTopicModel();
            await handle.backend.createTopic({ name: MODEL_TOPIC, partitions: INITIAL_PARTITIONS, retention: { maxAgeMs: null, maxBytes: null }, now: new Date(real.t0) });
            await verifyTopic(model, real, 'start');
            for (const [enabled, command] of steps) {
              if (enabled === 0 || !command.check(model)) continue;
              ran.push(command.toString());
              await command.run(model, real);
            }
          } catch (err) {
            if (err instanceof Error) err.message += `\n  commands run: ${ran.join(' → ')}`;
            throw err;
          } finally {
            await handle.cleanup();
          }
        },
      );
      const details = await fc.check(property, seed === undefined ? { numRuns } : { numRuns, seed });
      if (details.failed) {
        const cause = details.errorInstance;
        const message = cause instanceof Error ? cause.message : String(cause);
        throw new Error(`${fc.defaultReportMessage(details)}\n\nfailure: ${message}`, { cause });
      }
    });
  });
}
