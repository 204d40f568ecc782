/**
 * Alert rules: their configuration format (server option `alerts`, or the JSON file of
 * `spindle serve --alerts-file`), its validation, and the resolved rules the engine evaluates.
 *
 * A rule is `{ name, kind, queue?, threshold, forMs?, windowMs? }`; it fires for a queue when
 * the queue's value is ABOVE `threshold` for at least `forMs`:
 * - `dlq_depth`: unresolved dead jobs; `backlog`: queued (due) jobs; `oldest_queued_age`: how
 *   long the oldest due job has waited (ms); `failure_rate`: failed attempts (retried + dead) /
 *   finished attempts (completed + retried + dead) over `windowMs` (default 5 min), 0..1.
 *
 * Invariants:
 * - Everything is validated with zod before the server starts: unknown keys, bad kinds, bad
 *   numbers and duplicate names are refused with a `ValidationError` naming the field
 *   (`alerts.rules[1].threshold: …`).
 * - The built-in rule `dlq-not-empty` (DLQ depth > 0, every queue) is always present unless the
 *   config says `builtin: false` or defines a rule with that name (which then replaces it).
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '@spindle/core';
import { z } from 'zod';
import { isValidQueuePattern } from '../auth/api-keys.js';

export const ALERT_KINDS = ['dlq_depth', 'failure_rate', 'oldest_queued_age', 'backlog'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export const BUILTIN_RULE_NAME = 'dlq-not-empty';
export const DEFAULT_ALERT_INTERVAL_MS = 10_000;
export const DEFAULT_FAILURE_WINDOW_MS = 300_000;
export const MAX_RULES = 100;
const DAY = 86_400_000;

export const AlertRuleSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be 1 to 100 characters of A-Z a-z 0-9 . _ -'),
    kind: z.enum(ALERT_KINDS),
    queue: z.string().refine(isValidQueuePattern, 'must be a queue name, `prefix*` or `*`').optional(),
    threshold: z.number().finite().min(0),
    forMs: z.int().min(0).max(DAY).optional(),
    windowMs: z.int().min(60_000).max(DAY).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.kind === 'failure_rate' && r.threshold >= 1) ctx.addIssue({ code: 'custom', path: ['threshold'], message: 'a failure rate threshold is a fraction below 1 (0.2 = 20 %)' });
    if (r.kind !== 'failure_rate' && r.windowMs !== undefined) ctx.addIssue({ code: 'custom', path: ['windowMs'], message: 'only applies to failure_rate rules' });
  });
export type AlertRuleInput = z.input<typeof AlertRuleSchema>;

export const AlertsConfigSchema = z
  .strictObject({
    builtin: z.boolean().optional().describe('false drops the built-in rule dlq-not-empty'),
    intervalMs: z.int().min(10).max(3_600_000).optional(),
    rules: z.array(AlertRuleSchema).max(MAX_RULES).optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    (c.rules ?? []).forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name "${r.name}"` });
      seen.add(r.name);
    });
  });

/** Server option `alerts` (and the shape of an alerts file). */
export interface AlertsOptions {
  /** Extra rules (or a redefinition of `dlq-not-empty`). */
  rules?: AlertRuleInput[];
  /** How often every rule is evaluated; default 10 s. */
  intervalMs?: number;
  /** false: no built-in `dlq-not-empty` rule. */
  builtin?: boolean;
}

export interface AlertRule {
  name: string;
  kind: AlertKind;
  /** Queue name, `prefix*`, or `*` (every queue). */
  queue: string;
  threshold: number;
  forMs: number;
  /** failure_rate only (null otherwise). */
  windowMs: number | null;
  source: 'builtin' | 'config';
}

export interface ResolvedAlerts {
  intervalMs: number;
  rules: AlertRule[];
}

export const BUILTIN_RULE: AlertRule = { name: BUILTIN_RULE_NAME, kind: 'dlq_depth', queue: '*', threshold: 0, forMs: 0, windowMs: null, source: 'builtin' };

function pathText(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  const text = path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${String(p)}`), prefix);
  return text.startsWith('.') ? text.slice(1) : text;
}

/** Validates `value` (an `AlertsOptions`); throws a `ValidationError` whose paths start with `prefix`. */
export function resolveAlerts(value: unknown, prefix = 'options.alerts', fallbackIntervalMs = DEFAULT_ALERT_INTERVAL_MS): ResolvedAlerts {
  const parsed = AlertsConfigSchema.safeParse(value ?? {});
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => ({ path: pathText(prefix, i.path), message: i.message })));
  const c = parsed.data;
  const configured: AlertRule[] = (c.rules ?? []).map((r) => ({
    name: r.name,
    kind: r.kind,
    queue: r.queue ?? '*',
    threshold: r.threshold,
    forMs: r.forMs ?? 0,
    windowMs: r.kind === 'failure_rate' ? (r.windowMs ?? DEFAULT_FAILURE_WINDOW_MS) : null,
    source: 'config',
  }));
  const builtin = c.builtin !== false && !configured.some((r) => r.name === BUILTIN_RULE_NAME);
  return { intervalMs: c.intervalMs ?? fallbackIntervalMs, rules: [...(builtin ? [{ ...BUILTIN_RULE }] : []), ...configured] };
}

/**
 * Reads and validates an alerts file (JSON, the shape of `AlertsOptions`). Throws a
 * `ValidationError` naming the bad field (paths start with `label`, default the file's path;
 * '' gives `rules[0].threshold`), or saying why the file cannot be read (path `label`).
 */
export function readAlertsFile(path: string, label: string = path): AlertsOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValidationError([{ path: label, message: `cannot read the alerts file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError([{ path: label, message: `not valid JSON (${(err as Error).message})` }]);
  }
  resolveAlerts(value, label);
  return value as AlertsOptions;
}

/** Whether `queue` is in a rule's scope. */
export function ruleMatches(rule: Pick<AlertRule, 'queue'>, queue: string): boolean {
  if (rule.queue === '*') return true;
  return rule.queue.endsWith('*') ? queue.startsWith(rule.queue.slice(0, -1)) : queue === rule.queue;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** A one-line description, e.g. "failure rate > 20 % over 5 min, for 1 min". */
export function describeRule(r: AlertRule): string {
  const base =
    r.kind === 'dlq_depth'
      ? `DLQ depth > ${r.threshold}`
      : r.kind === 'backlog'
        ? `backlog (queued jobs) > ${r.threshold}`
        : r.kind === 'oldest_queued_age'
          ? `oldest queued job waiting > ${duration(r.threshold)}`
          : `failure rate > ${Math.round(r.threshold * 1000) / 10} % over ${duration(r.windowMs ?? DEFAULT_FAILURE_WINDOW_MS)}`;
  return `${base}${r.forMs > 0 ? `, for ${duration(r.forMs)}` : ''}`;
}
