/**
 * Unguessable tokens (reliability S14), on both backends.
 *
 * Owns:
 * - lease tokens: 2,000 random tokens sent to complete/fail/heartbeat/progress of a running job,
 *   plus near misses of the real token (one character changed, case, prefix, suffix, padding),
 *   succeed 0 times and change nothing; a token is bound to its job (another job's token, even
 *   from the same claim, is refused); tokens are distinct and carry ≥ 128 bits (≥ 32 hex);
 *   the real token still works afterwards;
 * - API keys: 2,000 random keys (random ids, and the real id with random secrets) and near
 *   misses of a real key authenticate 0 times.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ACTIONS, generateApiKey } from '../src/auth/api-keys.js';
import { BACKENDS, call, withServer } from './harness.js';

const ATTEMPTS = 2000;
const ROUTES = ['complete', 'fail', 'heartbeat', 'progress'] as const;

function bodyFor(route: (typeof ROUTES)[number], attempt: number, leaseToken: string): unknown {
  const fence = { attempt, leaseToken };
  if (route === 'fail') return { ...fence, error: { message: 'forged' }, permanent: true };
  if (route === 'progress') return { ...fence, progress: 99 };
  return fence;
}

/** Tokens that look like the real one but are not it. */
function nearMisses(token: string): string[] {
  const out = new Set<string>();
  for (let i = 0; i < token.length; i++) {
    const c = token[i]!;
    out.add(token.slice(0, i) + (c === '0' ? '1' : '0') + token.slice(i + 1));
  }
  for (const t of [token.toUpperCase(), token.slice(0, -1), `${token}0`, ` ${token}`, `${token} `, token.slice(0, 16), `${token}\u200b`]) out.add(t);
  out.delete(token);
  return [...out];
}

for (const maker of BACKENDS) {
  describe(`${maker.name}: brute force (S14)`, () => {
    test(`lease tokens: ${ATTEMPTS} random tokens and every near miss succeed 0 times; tokens are bound to their job`, () =>
      withServer(maker, async ({ app, client }) => {
        for (let i = 0; i < 3; i++) await call(app, 'POST', '/api/v1/queues/lease/jobs', { name: 'x', payload: { i } });
        const claimed = (await call(app, 'POST', '/api/v1/queues/lease/claim', { workerId: 'w', batch: 3, leaseMs: 600_000 })).body.jobs as Array<{ id: string; attempt: number; leaseToken: string }>;
        assert.equal(claimed.length, 3);
        const [target, sibling] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
        const before = JSON.stringify(await client.getJob(target.id));

        let successes = 0;
        const statuses = new Map<number, number>();
        const probe = async (route: (typeof ROUTES)[number], token: string, id = target.id) => {
          const res = await call(app, 'POST', `/api/v1/jobs/${id}/${route}`, bodyFor(route, target.attempt, token));
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status < 300) successes++;
          assert.ok(res.status < 500, `${route}: ${res.status}`);
        };
        for (let i = 0; i < ATTEMPTS; i += 50) {
          // Same shape as real tokens: 32 or 64 hex characters; 50 at a time.
          await Promise.all(Array.from({ length: 50 }, (_, k) => probe(ROUTES[(i + k) % ROUTES.length]!, randomBytes((i + k) % 2 === 0 ? 16 : 32).toString('hex'))));
        }
        for (const miss of nearMisses(target.leaseToken)) for (const route of ROUTES) await probe(route, miss);
        // Another job's real token, from the same claim: bound to that job, refused here.
        for (const route of ROUTES) await probe(route, sibling.leaseToken);
        assert.equal(successes, 0, `no forged write succeeded (${JSON.stringify([...statuses])})`);
        assert.deepEqual([...statuses.keys()].filter((s) => s !== 409 && s !== 400), [], 'refusals are 409 lease_lost (or 400 for malformed tokens)');
        assert.equal(JSON.stringify(await client.getJob(target.id)), before, 'the job is unchanged');

        const tokens = claimed.map((c) => c.leaseToken);
        for (let i = 0; i < 20; i++) {
          await call(app, 'POST', '/api/v1/queues/lease/jobs', { name: 'y' });
          tokens.push((await call(app, 'POST', '/api/v1/queues/lease/claim', { workerId: 'w', leaseMs: 600_000 })).body.jobs[0].leaseToken);
        }
        assert.equal(new Set(tokens).size, tokens.length, 'every token is distinct');
        for (const t of tokens) assert.match(t, /^[0-9a-f]{32,}$/, 'at least 128 bits, hex');

        const real = await call(app, 'POST', `/api/v1/jobs/${target.id}/complete`, { attempt: target.attempt, leaseToken: target.leaseToken });
        assert.equal(real.status, 200, 'the real token still works');
        const again = await call(app, 'POST', `/api/v1/jobs/${sibling.id}/complete`, { attempt: sibling.attempt, leaseToken: target.leaseToken });
        assert.equal(again.status, 409, "a used token does not open its sibling's job");
      }));
  });
}

describe('API keys under brute force (S14)', () => {
  test(`${ATTEMPTS} random keys and near misses of a real key authenticate 0 times`, () => {
    const real = generateApiKey('real', [{ queues: ['*'], actions: [...ACTIONS] }]);
    return withServer(
      BACKENDS[0]!,
      async ({ app }) => {
        let successes = 0;
        const tryKey = async (key: string) => {
          const res = await call(app, 'GET', '/api/v1/info', undefined, { authorization: `Bearer ${key}` });
          if (res.status !== 401) successes++;
        };
        for (let i = 0; i < ATTEMPTS; i += 50) {
          await Promise.all(Array.from({ length: 50 }, (_, k) => tryKey(`spk_${(i + k) % 4 === 0 ? real.record.id : randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`)));
        }
        const [, id, secret] = real.key.split('_') as [string, string, string];
        for (const miss of [`spk_${id}_${secret.slice(0, -1)}`, `spk_${id}_${secret}A`, `spk_${id}_${secret.toUpperCase()}`, `spk_${id.toUpperCase()}_${secret}`, `SPK_${id}_${secret}`, `spk_${id}_${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, `spk_${id}${secret}`, `${real.key}\t`]) await tryKey(miss);
        assert.equal(successes, 0);
        assert.equal((await call(app, 'GET', '/api/v1/info', undefined, { authorization: `Bearer ${real.key}` })).status, 200, 'the real key works');
      },
      { auth: { keys: [real.record] }, rateLimit: false },
    );
  });
});
