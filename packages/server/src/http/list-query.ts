/**
 * The query string of job listings (`GET /jobs`, `GET /jobs/count`, `GET /dlq/:queue/jobs`) and its translation
 * into the core's list parameters. One schema, so every listing accepts the same filters.
 *
 * Invariant: `limit` is 1..1000 and the cursor is opaque; a tampered cursor is a 400 from the
 * core's decoder, never a 500.
 */
import type { JobFilter, ListParams } from '@spindle/core';
import { z } from 'zod';
import { csv, InstantSchema, JobIdSchema, NameSchema, StateSchema } from './schemas.js';

const Common = {
  name: NameSchema.optional().describe('Job name (type).'),
  q: z.string().min(1).max(500).optional().describe('Case-insensitive substring of the payload JSON.'),
  error: z.string().min(1).max(500).optional().describe('Case-insensitive substring of the failure reason or an attempt error.'),
  reason: z.string().max(200).optional().describe('The exact failure reason, as a DLQ group shows it (empty: jobs without one).'),
  id: csv(JobIdSchema).optional().describe('Comma-separated job ids.'),
  from: InstantSchema.optional().describe('Created at or after.'),
  to: InstantSchema.optional().describe('Created before.'),
  cursor: z.string().min(1).max(200).optional().describe('nextCursor of the previous page.'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Page size, default 50.'),
  order: z.enum(['newest', 'oldest']).optional(),
};

export const JobListQuery = z.strictObject({
  queue: NameSchema.optional(),
  state: csv(StateSchema).optional().describe('Comma-separated states.'),
  parentId: JobIdSchema.optional().describe('Flows: only the children of this job.'),
  ...Common,
});

/** `GET /jobs/count`: the filters of `GET /jobs` without the paging. */
export const JobCountQuery = JobListQuery.omit({ cursor: true, limit: true, order: true });

export const DlqListQuery = z.strictObject({
  resolved: z.enum(['true', 'false']).optional().describe('Only resolved (true) or unresolved (false) dead jobs.'),
  ...Common,
});

type CommonQuery = { name?: string; q?: string; error?: string; reason?: string; id?: string[]; from?: string; to?: string; cursor?: string; limit?: number; order?: 'newest' | 'oldest' };

export function listParams(query: CommonQuery, filter: JobFilter): ListParams {
  if (query.name) filter.name = query.name;
  if (query.q) filter.payloadContains = query.q;
  if (query.error) filter.errorContains = query.error;
  if (query.reason !== undefined) filter.reason = query.reason;
  if (query.id) filter.ids = query.id;
  if (query.from) filter.createdAfter = new Date(query.from);
  if (query.to) filter.createdBefore = new Date(query.to);
  const params: ListParams = { filter, limit: query.limit ?? 50 };
  if (query.cursor) params.cursor = query.cursor;
  if (query.order) params.order = query.order;
  return params;
}
