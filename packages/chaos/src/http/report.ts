/**
 * The report of one HTTP scenario run (C9, C13) on one backend, and its markdown table row.
 *
 * Owns: the report's shape — the fields of scenario/report.ts's ScenarioReport that apply to an
 * HTTP run (scenario, backend, jobs, faults, lost, staleAccepted, duplicates, unknown ops,
 * violations, durationMs) plus the HTTP figures (operations, kills, drops, answers by status) —
 * and its rendering. Nothing here measures or judges.
 *
 * Invariant: a run passes iff `violations` is empty: the checker's violations (rule I1–I13) and
 * the scenario's own pass-rule failures (rule = scenario id) together. Times are figures, never
 * thresholds.
 */
import type { BackendKind } from '../scenario/backends.js';
import type { ReportViolation } from '../scenario/report.js';

export type HttpScenarioId = 'C9' | 'C13';
export type HttpTier = 'quick' | 'full';

export interface HttpScenarioReport {
  scenario: HttpScenarioId;
  title: string;
  backend: BackendKind;
  tier: HttpTier;
  seed: number;
  /** Jobs in the final state. */
  jobs: number;
  /** Topic messages in the final state. */
  messages: number;
  /** Client operations of the drive (HTTP requests recorded by the scenario's client loops). */
  operations: number;
  /** Every op in the merged history (drive, drain, maintainer, nemesis). */
  ops: number;
  /** Ops whose outcome is unknown (`info`: reset, refused connection, timeout, 5xx). */
  unknownOps: number;
  /** Faults injected: server kills (C9) or responses dropped by the proxy (C13). */
  faults: number;
  /** Server incarnations started after the first. */
  restarts: number;
  /** I1 violations: acknowledged jobs missing or not terminal after the drain. */
  lost: number;
  /** I4 violations: stale worker writes accepted. */
  staleAccepted: number;
  /** Worker writes refused with lease_lost. */
  staleRefused: number;
  /** Keyed jobs / messages stored more than once (extra copies). */
  duplicates: number;
  /** Values of unkeyed jobs stored more than once (extra copies). */
  unkeyedDuplicates: number;
  duplicateExecutions: number;
  /** The checker's bound on duplicate executions (Σ leases in flight at each kill). */
  bound: number;
  /** ms from the end of faults to the last job's terminal state. */
  drainMs: number;
  durationMs: number;
  /** Scenario figures: answers by status, transport errors, probes, downtimes, … */
  details: Record<string, unknown>;
  violations: ReportViolation[];
  artifacts?: string;
}

export const HTTP_REPORT_HEADER = [
  '| scenario | backend | tier | operations | faults | unknown ops | jobs / messages | lost | stale accepted / refused | duplicates (keyed / unkeyed) | dup. executions / bound | drain | duration | violations |',
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
].join('\n');

/** One markdown table row (see HTTP_REPORT_HEADER). */
export function renderHttpReportRow(r: HttpScenarioReport): string {
  const faults = r.scenario === 'C9' ? `${r.faults} kills` : `${r.faults} drops`;
  return `| ${[
    `${r.scenario} ${r.title}`,
    r.backend,
    r.tier,
    String(r.operations),
    faults,
    String(r.unknownOps),
    `${r.jobs} / ${r.messages}`,
    String(r.lost),
    `${r.staleAccepted} / ${r.staleRefused}`,
    `${r.duplicates} / ${r.unkeyedDuplicates}`,
    `${r.duplicateExecutions} / ${r.bound}`,
    `${(r.drainMs / 1000).toFixed(1)} s`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? '0' : `**${r.violations.length}**`,
  ].join(' | ')} |`;
}

/** A short line per violation (the first `limit`), for test failures. */
export function describeHttpViolations(r: HttpScenarioReport, limit = 20): string {
  const lines = r.violations.slice(0, limit).map((v) => `- [${v.rule}] ${v.message}${v.ops?.length ? `\n    ${v.ops.slice(0, 6).join('\n    ')}` : ''}`);
  if (r.violations.length > limit) lines.push(`- … ${r.violations.length - limit} more`);
  return lines.join('\n');
}
