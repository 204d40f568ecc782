/**
 * Canonical JSON text: parse, then stringify with object keys sorted, so a payload or message
 * value compares equal whichever store normalised it (PostgreSQL jsonb reorders keys; SQLite
 * keeps the text). Invariant: canonicalJson(canonicalJson(x)) === canonicalJson(x); text that is
 * not JSON is returned unchanged.
 */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export function canonicalJson(text: string | null): string | null {
  if (text === null) return null;
  try {
    return JSON.stringify(sortKeys(JSON.parse(text)));
  } catch {
    return text;
  }
}

/** Canonical text of an already parsed value. */
export function canonicalValue(v: unknown): string {
  return JSON.stringify(sortKeys(v === undefined ? null : v));
}
