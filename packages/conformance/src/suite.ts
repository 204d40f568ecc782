/**
 * The harness that every conformance test runs in: it registers `node:test` cases, gives each
 * one a FRESH migrated backend from the caller's factory, reads the database clock once as the
 * test's time origin `t0`, and always cleans the backend up, pass or fail.
 *
 * Tests move time with the `now` parameter every time-dependent backend method accepts
 * (`env.at(ms)` = t0 + ms), never by sleeping, so a run is fast and deterministic.
 *
 * Skips are explicit and reasoned: `skip: [{ test, reason }]` names a test by its title (or
 * `group > title`). A skip entry that names no test fails the suite, so typos cannot hide tests.
 */
import { describe, it, type TestContext } from 'node:test';
import type { Backend } from '@spindle/core';

/** What a backend package hands the suite: a ready, migrated backend and its teardown. */
export interface BackendHandle {
  backend: Backend;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Shown in the test report, e.g. 'sqlite'. */
  name: string;
  /** Called once per test: a fresh, migrated backend with an empty database. */
  makeBackend: () => Promise<BackendHandle>;
  /** Tests this backend does not (yet) run, each with the reason. */
  skip?: Array<{ test: string; reason: string }>;
}

/** What each test body receives. */
export interface TestEnv {
  backend: Backend;
  /** The database clock read at the start of the test. */
  t0: Date;
  /** `t0 + offsetMs`: the `now` to pass to time-dependent methods. */
  at(offsetMs: number): Date;
  t: TestContext;
}

export interface TestOptions {
  timeoutMs?: number;
}

/** Registers test cases within a named group (a `describe` block). */
export interface Suite {
  group(name: string, register: () => void): void;
  test(name: string, body: (env: TestEnv) => Promise<void>, options?: TestOptions): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Builds the registering functions for one backend's run; `finish()` reports unused skips. */
export function createSuite(options: ConformanceOptions): Suite & { finish(): void } {
  const skips = options.skip ?? [];
  const used = new Set<number>();
  let currentGroup = '';

  function findSkip(name: string): string | undefined {
    const index = skips.findIndex((s) => s.test === name || s.test === `${currentGroup} > ${name}`);
    if (index < 0) return undefined;
    used.add(index);
    return skips[index]!.reason;
  }

  return {
    group(name, register) {
      describe(name, () => {
        const outer = currentGroup;
        currentGroup = name;
        try {
          register();
        } finally {
          currentGroup = outer;
        }
      });
    },
    test(name, body, testOptions) {
      const skipReason = findSkip(name);
      it(name, { skip: skipReason ?? false, timeout: testOptions?.timeoutMs ?? DEFAULT_TIMEOUT_MS }, async (t) => {
        const handle = await options.makeBackend();
        try {
          const t0 = await handle.backend.now();
          await body({ backend: handle.backend, t0, at: (ms) => new Date(t0.getTime() + ms), t });
        } finally {
          await handle.cleanup();
        }
      });
    },
    finish() {
      const unused = skips.filter((_, i) => !used.has(i));
      if (unused.length > 0) {
        it('every skip entry names an existing test', () => {
          throw new Error(`skip entries match no test: ${unused.map((s) => JSON.stringify(s.test)).join(', ')}`);
        });
      }
    },
  };
}
