/**
 * The HTTP chaos scenarios (reliability.md §5.3 C9 and C13): Spindle's HTTP API as a child
 * process, driven through the HTTP client recorder, judged by the checker.
 *
 * `runHttpScenario({ id, backend, tier })` runs one of them on one backend and returns its
 * report; `renderHttpReportRow(report)` renders it as a markdown table row (HTTP_REPORT_HEADER).
 * Tiers: `full` = the §5.3 numbers (C9: 20 kills over 10,000 operations; C13: 5,000 enqueues +
 * 5,000 publishes at 5 % drops); `quick` = about 1,000 operations (C9: 4 kills).
 */
import type { BackendKind } from '../scenario/backends.js';
import { c9Spec } from './c9.js';
import { c13Spec } from './c13.js';
import { runHttp } from './harness.js';
import type { HttpScenarioId, HttpScenarioReport, HttpTier } from './report.js';

export { HttpRecorder, newHttpStats, refusalCodeOf, API_PREFIX, type HttpOutcome, type HttpStats, type HttpLease, type EnqueueJob, type PublishMessage } from './http-recorder.js';
export { ApiServerProcess, SERVER_SCRIPT } from './server-process.js';
export { runHttp, type HttpRunContext, type HttpSpec, type HttpRunOptions } from './harness.js';
export { c9Spec, C9_TIERS, leasesInFlightAtKills, type C9Settings } from './c9.js';
export { c13Spec, C13_TIERS, type C13Settings } from './c13.js';
export { describeHttpViolations, HTTP_REPORT_HEADER, renderHttpReportRow, type HttpScenarioId, type HttpScenarioReport, type HttpTier } from './report.js';

export interface HttpScenarioParams {
  id: HttpScenarioId;
  backend: BackendKind;
  tier: HttpTier;
  seed?: number;
  /** Copy a failed run's histories, server logs and final state here. */
  artifactsDir?: string;
  keepArtifacts?: boolean;
  log?: (message: string) => void;
}

export function runHttpScenario(p: HttpScenarioParams): Promise<HttpScenarioReport> {
  const spec = p.id === 'C9' ? c9Spec(p.tier) : c13Spec(p.tier);
  return runHttp(spec, p.backend, {
    ...(p.seed === undefined ? {} : { seed: p.seed }),
    ...(p.artifactsDir === undefined ? {} : { artifactsDir: p.artifactsDir }),
    ...(p.keepArtifacts === undefined ? {} : { keepArtifacts: p.keepArtifacts }),
    ...(p.log === undefined ? {} : { log: p.log }),
  });
}
