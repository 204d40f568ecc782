/**
 * Errors as `application/problem+json` (RFC 9457): every non-2xx answer of the API goes
 * through `sendProblem`, with a stable machine-readable `code` next to the standard members.
 *
 * Invariants:
 * - Bad input maps to a 4xx with a stable code; it never becomes a 500.
 * - No answer carries a stack trace, SQL text, file path or driver message: unexpected errors
 *   are logged with the request id and answered with a generic 500/503 detail.
 * - 403 and 404 look the same from outside where a resource may be hidden (see auth).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OffsetOutOfRangeError, SpindleError, ValidationError, type ValidationIssue } from '@spindle/core';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** A problem the API answers with on purpose. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extra: { issues?: ValidationIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  instance?: string;
  issues?: ValidationIssue[];
  /** offset_out_of_range (416): the partition's available range, to resume from. */
  startOffset?: number;
  highWater?: number;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const SPINDLE_STATUS: Record<string, number> = {
  validation_failed: 400,
  not_found: 404,
  lease_lost: 409,
  conflict: 409,
  closed: 503,
  backend_error: 503,
  migration_required: 503,
  offset_out_of_range: 416,
};

/** Fastify's own error codes that are the caller's fault, and what we answer. */
const FASTIFY_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'The body is larger than the server accepts.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'Send the body as application/json.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_content_length', 'Content-Length does not match the body.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json', 'The body is empty; send a JSON document.'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json', 'The body is not valid JSON.'],
  FST_ERR_BAD_URL: [400, 'invalid_url', 'The URL is malformed.'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'uri_too_long', 'A path segment is longer than the server accepts.'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'invalid_request', 'The request could not be routed.'],
};

/** Maps any thrown value to a problem body, logging what the caller must not see. */
export function toProblem(err: unknown, request: FastifyRequest): { body: ProblemBody; headers: Record<string, string> } {
  if (err instanceof ApiProblem) return { body: problem(err.status, err.code, err.detail, err.extra.issues), headers: err.extra.headers ?? {} };
  if (err instanceof ValidationError) return { body: problem(400, 'validation_failed', err.message, err.issues), headers: {} };
  if (err instanceof OffsetOutOfRangeError) {
    return { body: { ...problem(416, err.code, err.message), startOffset: err.startOffset, highWater: err.highWater }, headers: {} };
  }
  if (err instanceof SpindleError) {
    const status = SPINDLE_STATUS[err.code] ?? 500;
    if (status >= 500) {
      request.log.error({ err }, 'spindle: backend unavailable');
      return { body: problem(status, err.code === 'closed' ? 'shutting_down' : 'backend_unavailable', 'The job store is unavailable; retry later.'), headers: { 'retry-after': '1' } };
    }
    return { body: problem(status, err.code, err.message), headers: {} };
  }
  const fastifyError = err as FastifyError;
  if (fastifyError && typeof fastifyError === 'object') {
    const zodIssues = requestValidationIssues(fastifyError);
    if (zodIssues) return { body: problem(400, 'validation_failed', zodIssues.map((i) => `${i.path}: ${i.message}`).join('; '), zodIssues), headers: {} };
    const known = fastifyError.code ? FASTIFY_ERRORS[fastifyError.code] : undefined;
    if (known) return { body: problem(known[0], known[1], known[2]), headers: {} };
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return { body: problem(fastifyError.statusCode, 'bad_request', 'The request was rejected.'), headers: {} };
    }
  }
  request.log.error({ err }, 'spindle: unexpected error');
  return { body: problem(500, 'internal_error', `An unexpected error occurred (request ${request.id}).`), headers: {} };
}

export function problem(status: number, code: string, detail: string, issues?: ValidationIssue[]): ProblemBody {
  const body: ProblemBody = { type: `urn:spindle:problem:${code}`, title: TITLES[status] ?? 'Error', status, code, detail };
  if (issues && issues.length > 0) body.issues = issues;
  return body;
}

export function sendProblem(reply: FastifyReply, body: ProblemBody, headers: Record<string, string> = {}): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Issues of a request that failed its zod route schema (fastify-type-provider-zod), or null. */
function requestValidationIssues(err: FastifyError): ValidationIssue[] | null {
  const validation = (err as { validation?: unknown }).validation;
  if (!Array.isArray(validation)) return null;
  const context = (err as { validationContext?: string }).validationContext ?? 'body';
  return validation.map((v: { instancePath?: string; message?: string }) => {
    const segments = (v.instancePath ?? '').split('/').filter((p) => p.length > 0);
    const suffix = segments.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
    return { path: `${context}${suffix}`, message: v.message ?? 'is invalid' };
  });
}
