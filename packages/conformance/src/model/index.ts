/**
 * `runModelTest`: a fast-check model-based property test. fast-check draws a sequence of
 * `minCommands..maxCommands` operations (insert with maxRetries 0..2, some delayed; claim;
 * heartbeat and progress with live or stale leases; finalize with every action and live or stale
 * leases; cancel; advance the virtual clock; promote; rescue with a spread of 0, 1 s or 30 s;
 * replay) and runs it against a fresh backend per run. After every command the backend must
 * equal the in-memory model (model.ts); with `subscribe`, the run's events must show at most one
 * terminal transition per job and round.
 * A command whose precondition does not hold (e.g. a finalize before any claim) is skipped; a
 * failing sequence is shrunk (commands switched off one by one) and reported with its seed and
 * the commands that ran.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SpindleEvent } from '@spindle/core';
import type { BackendHandle } from '../suite.js';
import {
  AdvanceCommand,
  CancelCommand,
  ClaimCommand,
  ExtendCommand,
  FinalizeCommand,
  InsertCommand,
  ProgressCommand,
  PromoteCommand,
  ReplayCommand,
  RescueCommand,
  type FinalizeKind,
} from './commands.js';
import { waitFor } from '../backend/fixtures.js';
import { checkTerminalEvents, newModel, verify, type Real } from './model.js';

const BARRIER_QUEUE = 'model-barrier';

export interface ModelTestOptions {
  name: string;
  makeBackend: () => Promise<BackendHandle>;
  /** Runs (one fresh backend each); default 25. The SPINDLE_MODEL_RUNS environment variable overrides it. */
  numRuns?: number;
  /** Commands per run; default 20..30. */
  minCommands?: number;
  maxCommands?: number;
  /** Replays a reported failure. */
  seed?: number;
}

const FINALIZE_KINDS: FinalizeKind[] = ['complete', 'retry', 'dead', 'snooze', 'cancel', 'release'];

/** One weighted stream of commands: claims, finalizes and clock moves are the common case. */
function commandArbitrary() {
  const leaseIndex = fc.nat({ max: 40 });
  const preferFresh = fc.boolean().chain((b) => (b ? fc.constant(true) : fc.boolean()));
  const delay = fc.constantFrom(0, 5_000);
  return fc.oneof(
    {
      weight: 7,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(null, null, 0, 5_000, 30_000), fc.constantFrom(0, 500))
        .map(([retries, d, priority]) => new InsertCommand(retries, d, priority)),
    },
    { weight: 5, arbitrary: fc.integer({ min: 1, max: 3 }).map((limit) => new ClaimCommand(limit)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(leaseIndex, preferFresh, fc.constantFrom(5_000, 20_000))
        .map(([i, f, ms]) => new ExtendCommand(i, f, ms)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(leaseIndex, preferFresh, fc.integer({ min: 0, max: 100 }))
        .map(([i, f, v]) => new ProgressCommand(i, f, v)),
    },
    {
      weight: 9,
      arbitrary: fc
        .tuple(leaseIndex, preferFresh, fc.constantFrom(...FINALIZE_KINDS), delay)
        .map(([i, f, kind, d]) => new FinalizeCommand(i, f, kind, d)),
    },
    { weight: 1, arbitrary: fc.nat({ max: 10 }).map((i) => new CancelCommand(i)) },
    { weight: 3, arbitrary: fc.integer({ min: 1_000, max: 40_000 }).map((ms) => new AdvanceCommand(ms)) },
    { weight: 2, arbitrary: fc.constant(new PromoteCommand()) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1_000, 30_000).map((spreadMs) => new RescueCommand(spreadMs)) },
    { weight: 1, arbitrary: fc.option(fc.nat({ max: 10 }), { nil: null }).map((i) => new ReplayCommand(i)) },
  );
}

type AnyCommand = ReturnType<typeof commandArbitrary> extends fc.Arbitrary<infer C> ? C : never;

export function runModelTest(options: ModelTestOptions): void {
  const numRuns = Number(process.env.SPINDLE_MODEL_RUNS) || options.numRuns || 25;
  const minLength = options.minCommands ?? 20;
  const maxLength = options.maxCommands ?? 30;
  describe(`${options.name} backend model`, () => {
    it(
      'random operation sequences keep the backend equal to the model, with no stale write and no double terminal state',
      { timeout: 600_000 },
      async () => {
        const property = fc.asyncProperty(
          // Each command carries a switch that shrinks towards "off", so a counterexample can lose
          // commands even though generated sequences are long.
          fc.array(fc.tuple(fc.nat({ max: 9 }), commandArbitrary()), { minLength, maxLength }),
          async (steps: Array<[number, AnyCommand]>) => {
            const handle = await options.makeBackend();
            const ran: string[] = [];
            const events: SpindleEvent[] = [];
            const unsubscribe = handle.backend.subscribe?.((batch) => events.push(...batch));
            try {
              const real: Real = { backend: handle.backend, t0: (await handle.backend.now()).getTime() };
              const model = newModel();
              await verify(model, real, 'start');
              for (const [enabled, command] of steps) {
                if (enabled === 0 || !command.check(model)) continue;
                ran.push(command.toString());
                await command.run(model, real);
              }
              if (unsubscribe) {
                // Events of one process arrive in commit order: once this one is in, all are.
                await handle.backend.pauseQueue(BARRIER_QUEUE);
                await waitFor(() => events.some((e) => e.type === 'paused' && e.queue === BARRIER_QUEUE), 'the barrier event');
                checkTerminalEvents(model, events);
              }
            } catch (err) {
              if (err instanceof Error) err.message += `\n  commands run: ${ran.join(' → ')}`;
              throw err;
            } finally {
              unsubscribe?.();
              await handle.cleanup();
            }
          },
        );
        const details = await fc.check(property, options.seed === undefined ? { numRuns } : { numRuns, seed: options.seed });
        if (details.failed) {
          const cause = details.errorInstance;
          const message = cause instanceof Error ? cause.message : String(cause);
          throw new Error(`${fc.defaultReportMessage(details)}\n\nfailure: ${message}`, { cause });
        }
      },
    );
  });
}
