/**
 * `Idempotency-Key` on enqueue: the same key with the same body gives the same job(s); the same
 * key with another body is a 422; keys are kept 24 h (the client's store, `claimIdempotencyKey`).
 *
 * How: the first request claims the key with a hash of its body, and its jobs get ids derived
 * from the key (unless the body names ids), so even two racing inserts would land on one job.
 * Once its jobs are written it claims a second marker, `<scope>#written`. A replay — the key is
 * already claimed with the same hash — inserts nothing: it reads the jobs by their derived ids
 * and answers them (`Idempotent-Replayed: true`). If they are not there:
 * - the claim is younger than ABANDONED_AFTER_MS (the first request may still be running): 409
 *   `idempotency_pending`, nothing written — retry later;
 * - the claim is older and no `#written` marker exists: the first request died between its
 *   claim and its insert (found by the chaos suite's C9: a SIGKILLed server left such keys stuck
 *   for 24 h). This replay takes the marker (insert-if-absent, so one replay wins) and writes
 *   the jobs itself, under the same derived ids — a job the first request did write after all
 *   is found by id, never inserted twice;
 * - the marker exists: the jobs were written and removed since (deleted, or pruned by
 *   retention): 409 as above, nothing written — a removed job is never brought back.
 *
 * Invariant: keys are scoped per API key, route and queue, so two tenants cannot collide.
 */
import { createHash } from 'node:crypto';
import type { Client, JobOptions, JobRecord } from '@spindle/core';
import { ApiProblem } from './problem.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;

export interface EnqueueItem {
  name: string;
  payload: unknown;
  opts: JobOptions;
}

/** Insert `items`, then call `written()` (marks the key's jobs as written; a no-op without a key). */
export type IdempotencyOutcome =
  | { kind: 'none'; items: EnqueueItem[]; written(): Promise<void> }
  | { kind: 'first'; items: EnqueueItem[]; written(): Promise<void> }
  | { kind: 'replay'; jobs: JobRecord[] };

/** A claim with no jobs this old belongs to a request that died (requests end within 30 s). */
export const ABANDONED_AFTER_MS = 60_000;
const WRITTEN_SCOPE = (scope: string) => `${scope}#written`;
const noop = async (): Promise<void> => {};

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Decides what an enqueue with (or without) an Idempotency-Key header does. */
export async function withIdempotency(client: Client, header: unknown, scope: string, body: unknown, items: EnqueueItem[]): Promise<IdempotencyOutcome> {
  if (header === undefined) return { kind: 'none', items, written: noop };
  if (typeof header !== 'string' || !KEY_RE.test(header)) {
    throw new ApiProblem(400, 'validation_failed', 'Idempotency-Key must be 1..255 printable ASCII characters.', { issues: [{ path: 'headers.idempotency-key', message: 'invalid' }] });
  }
  const requestHash = sha256(JSON.stringify(body));
  const claim = await client.claimIdempotencyKey({ scope, key: header, requestHash });
  if (!claim.claimed && claim.requestHash !== requestHash) {
    throw new ApiProblem(422, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request body.');
  }
  const base = `idem-${sha256(`${scope}\n${header}`).slice(0, 40)}`;
  const keyed = items.map((item, i) => (item.opts.id !== undefined ? item : { ...item, opts: { ...item.opts, id: items.length === 1 ? base : `${base}-${i}` } }));
  const written = async (): Promise<void> => {
    await client.claimIdempotencyKey({ scope: WRITTEN_SCOPE(scope), key: header, requestHash });
  };
  if (claim.claimed) return { kind: 'first', items: keyed, written };
  const ids = keyed.map((item) => item.opts.id!);
  const page = await client.listJobs({ filter: { ids: [...new Set(ids)] }, limit: 1000 });
  const byId = new Map(page.jobs.map((j) => [j.id, j]));
  const jobs = ids.map((id) => byId.get(id));
  if (jobs.every((j) => j !== undefined)) return { kind: 'replay', jobs: jobs as JobRecord[] };
  if (Date.now() - claim.createdAt.getTime() >= ABANDONED_AFTER_MS) {
    const marker = await client.claimIdempotencyKey({ scope: WRITTEN_SCOPE(scope), key: header, requestHash });
    if (marker.claimed) return { kind: 'first', items: keyed, written: noop }; // the marker is taken: write the jobs
  }
  throw new ApiProblem(409, 'idempotency_pending', 'A request with this Idempotency-Key has not finished, or its jobs were removed since; retry later or use a new key.');
}
