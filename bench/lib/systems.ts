/**
 * The registry of systems under test, loaded lazily so that a run of one system does not import
 * the others' drivers. Adapters live in bench/systems/<name>.ts and export `adapter`.
 */
import type { SystemAdapter } from './adapter.js';

export const SYSTEMS = ['spindle-sqlite', 'spindle-postgres', 'bullmq', 'pg-boss', 'graphile-worker'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export async function loadSystem(name: string): Promise<SystemAdapter> {
  if (!(SYSTEMS as readonly string[]).includes(name)) throw new Error(`unknown system ${name} (known: ${SYSTEMS.join(', ')})`);
  const mod = (await import(`../systems/${name}.js`)) as { adapter: SystemAdapter };
  return mod.adapter;
}
