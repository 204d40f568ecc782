/**
 * The report of one C12 run on one backend (shaped like scenario/report.ts's ScenarioReport
 * where it applies) and its markdown table row.
 *
 * Owns: the report's fields and their rendering; nothing here measures or judges.
 *
 * Invariants: a run passes iff `violations` is empty — the checker's (rule I1–I13; I9 and I10
 * are the ones a topic run can break) and C12's own rules (rule 'C12') together. Times and
 * rates are measured figures, never pass/fail thresholds.
 */
import type { BackendKind } from '../scenario/backends.js';
import type { ReportViolation } from '../scenario/report.js';
import type { TopicTier } from './settings.js';

export interface TopicScenarioReport {
  scenario: 'C12';
  title: string;
  tier: TopicTier;
  backend: BackendKind;
  seed: number;
  /** Messages published (acknowledged). */
  messages: number;
  partitions: number;
  consumers: number;
  /** SIGKILLs injected (fault ops). */
  faults: number;
  /** Of those, restarts under a fresh member id (the others rejoined under their own). */
  freshMemberRestarts: number;
  /** Consumer incarnations that exited without being killed (crashes: should be 0). */
  unexpectedExits: number;
  /** Acknowledged messages never handled to the end (C12 rule a), after the drain. */
  lost: number;
  /** Commits accepted from a stale generation (must be 0; I10 reports each). */
  staleAccepted: number;
  /** Commits refused as stale_generation / not_assigned: the fence working. */
  staleRefused: number;
  /** Commits in flight at a kill (unknown outcome). */
  unknownCommits: number;
  /** Handlings beyond the first of a message. */
  duplicates: number;
  /** Of those: after a kill of the previous handler, after its partition moved. */
  duplicatesAfterKill: number;
  duplicatesAfterMove: number;
  /** Σ over crashed or moved sessions of the messages handled after their last accepted commit. */
  duplicateBound: number;
  /** From a kill to the killed member's partitions being fetched again by their owner. */
  maxResumeMs: number | null;
  p50ResumeMs: number | null;
  /** First handlings per second before the first kill, and in the 10 s after the last restart. */
  throughputBaseline: number | null;
  throughputAfter: number | null;
  /** Publish rate the producer was asked for (messages/s): the baseline cannot exceed it. */
  publishRate: number;
  /** ms from the last restart to the group being caught up (committed == highWater, stably). */
  drainMs: number;
  durationMs: number;
  ops: number;
  unknownOps: number;
  details: Record<string, unknown>;
  violations: ReportViolation[];
  artifacts?: string;
}

const fmt = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '—' : `${v}${unit}`);

export const TOPIC_TABLE_HEAD = [
  '| scenario | backend | messages | partitions × consumers | kills | lost | stale accepted / refused | duplicates / bound | resume max (p50) | throughput baseline → after (/s) | drain | violations |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
].join('\n');

/** One markdown table row (TOPIC_TABLE_HEAD is the header). */
export function renderTopicReportRow(r: TopicScenarioReport): string {
  return `| ${[
    `${r.scenario} ${r.title}`,
    r.backend,
    String(r.messages),
    `${r.partitions} × ${r.consumers}`,
    String(r.faults),
    String(r.lost),
    `${r.staleAccepted} / ${r.staleRefused}`,
    `${r.duplicates} / ${r.duplicateBound}`,
    `${fmt(r.maxResumeMs, ' ms')} (${fmt(r.p50ResumeMs, ' ms')})`,
    `${fmt(r.throughputBaseline)} → ${fmt(r.throughputAfter)}`,
    `${(r.drainMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? '0' : `**${r.violations.length}**`,
  ].join(' | ')} |`;
}

export function renderTopicTable(reports: readonly TopicScenarioReport[]): string {
  return [TOPIC_TABLE_HEAD, ...reports.map(renderTopicReportRow)].join('\n');
}

/** A short line per violation (the first `limit`), for test failures. */
export function describeTopicViolations(r: TopicScenarioReport, limit = 20): string {
  const lines = r.violations.slice(0, limit).map((v) => `- [${v.rule}] ${v.message}${v.ops?.length ? `\n    ${v.ops.slice(0, 6).join('\n    ')}` : ''}`);
  if (r.violations.length > limit) lines.push(`- … ${r.violations.length - limit} more`);
  return lines.join('\n');
}
