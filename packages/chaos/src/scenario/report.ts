/**
 * The report of one scenario run on one backend, and its rendering as a markdown table.
 *
 * Owns: the report's shape (what the full tier writes as JSON and the quick tier asserts on)
 * and the table; nothing here measures or judges.
 *
 * Invariants: a run passes iff `violations` is empty — it holds the checker's violations
 * (rule I1–I13) and the scenario's own pass-rule failures (rule = scenario id) together. Times
 * are measured figures for the report, never pass/fail thresholds (except the checker's I12).
 */
import type { BackendKind } from './backends.js';

export interface ReportViolation {
  /** I1–I13 (checker) or the scenario id (its pass rules). */
  rule: string;
  message: string;
  jobId?: string;
  ops?: string[];
}

export interface ScenarioReport {
  scenario: string;
  title: string;
  backend: BackendKind;
  seed: number;
  jobs: number;
  workers: number;
  concurrency: number;
  /** Nemesis faults injected (fault ops). */
  faults: number;
  /** Disruptions of other kinds (poison exits, blocked event loops), for the duplicate bound. */
  selfDisruptions: number;
  /** Worker processes that exited and were restarted. */
  restarts: number;
  /** I1 violations (acknowledged jobs missing or not terminal after the drain). */
  lost: number;
  /** I4 violations (stale worker writes accepted). */
  staleAccepted: number;
  /** Stale writes refused with lease_lost after another attempt or the rescuer took the job (the fence working). */
  staleRefused: number;
  /** lease_lost refusals of writes racing their own attempt's finalize (e.g. a heartbeat): benign. */
  ownRaceRefused: number;
  duplicateExecutions: number;
  /** Σ jobs in flight at each fault/disruption (the pass rule's bound on duplicates). */
  bound: number;
  /** Largest number of jobs in flight at one fault. */
  maxInFlightAtFault: number;
  /** Orphan re-claim: ms from the fault to the next lease's database start. */
  maxOrphanReclaimMs: number | null;
  p50OrphanReclaimMs: number | null;
  orphans: number;
  /** Accepted completions per second before the first fault, and in the 10 s after the last heal. */
  throughputBaseline: number | null;
  throughputAfter: number | null;
  /** I12 bound used (ms after faults stopped). */
  livenessBoundMs: number;
  /** ms from the end of faults to the last job's terminal state. */
  drainMs: number;
  durationMs: number;
  ops: number;
  unknownOps: number;
  /** Scenario-specific figures (C10 poison outcomes, C17 redrive counts and audit, …). */
  details: Record<string, unknown>;
  violations: ReportViolation[];
  /** Where the histories were kept (when the run was asked to keep them). */
  artifacts?: string;
}

const fmt = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '—' : `${v}${unit}`);

export function markdownTable(reports: readonly ScenarioReport[]): string {
  const head = '| scenario | backend | jobs | faults (+self) | lost | stale accepted / refused | dup. executions / bound | orphan re-claim max (p50) | throughput baseline → after (/s) | drain | violations |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const rows = reports.map((r) => [
    `${r.scenario} ${r.title}`,
    r.backend,
    String(r.jobs),
    `${r.faults}${r.selfDisruptions ? ` (+${r.selfDisruptions})` : ''}`,
    String(r.lost),
    `${r.staleAccepted} / ${r.staleRefused}`,
    `${r.duplicateExecutions} / ${r.bound}`,
    r.orphans ? `${fmt(r.maxOrphanReclaimMs, ' ms')} (${fmt(r.p50OrphanReclaimMs, ' ms')}), n=${r.orphans}` : '—',
    `${fmt(r.throughputBaseline)} → ${fmt(r.throughputAfter)}`,
    `${(r.drainMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? '0' : `**${r.violations.length}**`,
  ].join(' | '));
  return [head, sep, ...rows.map((r) => `| ${r} |`)].join('\n');
}

/** A short line per violation (the first `limit`), for test failures and the markdown report. */
export function describeViolations(r: ScenarioReport, limit = 20): string {
  const lines = r.violations.slice(0, limit).map((v) => `- [${v.rule}] ${v.message}${v.ops?.length ? `\n    ${v.ops.slice(0, 6).join('\n    ')}` : ''}`);
  if (r.violations.length > limit) lines.push(`- … ${r.violations.length - limit} more`);
  return lines.join('\n');
}
