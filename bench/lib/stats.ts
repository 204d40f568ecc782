/** Small statistics for benchmark figures: percentiles and medians. */

/** The q-quantile (0..1) of `values` by nearest rank. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return percentile(values, 0.5);
}

/** Median of each numeric field across runs (fields missing in a run are skipped). */
export function medianOf<T extends Record<string, number>>(runs: T[]): T {
  const out: Record<string, number> = {};
  for (const key of Object.keys(runs[0] ?? {})) {
    out[key] = median(runs.map((r) => r[key]!).filter((v) => Number.isFinite(v)));
  }
  return out as T;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
