/**
 * `Idempotency-Key` on enqueue: the same key with the same body gives the same job(s); the same
 * key with another body is a 422; keys are kept 24 h (the client's store, `claimIdempotencyKey`).
 *
 * How: the first request claims the key with a hash of its body, and its jobs get ids derived
 * from the key (unless the body names ids), so even two racing inserts would land on one job.
 * A replay — the key is already claimed with the same hash — inserts nothing: it reads the jobs
 * by their derived ids and answers them (`Idempotent-Replayed: true`). If they are not there
 * (the first request is still running, or crashed between claiming and inserting, or the job
 * was removed since), the answer is 409 `idempotency_pending` and nothing is written: a
 * duplicate is never created, and the caller can retry or use a new key.
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

export type IdempotencyOutcome =
  | { kind: 'none'; items: EnqueueItem[] }
  | { kind: 'first'; items: EnqueueItem[] }
  | { kind: 'replay'; jobs: JobRecord[] };

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Decides what an enqueue with (or without) an Idempotency-Key header does. */
export async function withIdempotency(client: Client, header: unknown, scope: string, body: unknown, items: EnqueueItem[]): Promise<IdempotencyOutcome> {
  if (header === undefined) return { kind: 'none', items };
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
  if (claim.claimed) return { kind: 'first', items: keyed };
  const ids = keyed.map((item) => item.opts.id!);
  const page = await client.listJobs({ filter: { ids: [...new Set(ids)] }, limit: 1000 });
  const byId = new Map(page.jobs.map((j) => [j.id, j]));
  const jobs = ids.map((id) => byId.get(id));
  if (jobs.some((j) => j === undefined)) {
    throw new ApiProblem(409, 'idempotency_pending', 'A request with this Idempotency-Key has not finished, failed before its jobs were written, or its jobs were removed; retry later or use a new key.');
  }
  return { kind: 'replay', jobs: jobs as JobRecord[] };
}
