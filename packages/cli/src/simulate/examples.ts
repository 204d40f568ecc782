/**
 * The simulator's built-in examples (`spindle simulate --example <name>`): the scenarios the
 * product is explained with, each a list of labelled specs run side by side.
 */
import type { SimulationSpec } from './spec.js';

export interface Example {
  description: string;
  runs: Array<{ label: string; spec: SimulationSpec }>;
}

/** Sustained overload: 5.3 jobs/s arrive for 4 jobs/s of capacity, for ten minutes. */
function overload(queues: SimulationSpec['workers'][number]['queues']): SimulationSpec {
  return {
    queues: [
      { name: 'high', arrivals: { perSecond: 4, forSeconds: 600 }, service: 'fixed:1s' },
      { name: 'medium', arrivals: { perSecond: 1, forSeconds: 600 }, service: 'fixed:1s' },
      { name: 'low', arrivals: { perSecond: 0.3, forSeconds: 600 }, service: 'fixed:1s' },
    ],
    workers: [{ count: 4, concurrency: 1, queues }],
    seed: 7,
    untilSeconds: 600,
  };
}

export const EXAMPLES: Record<string, Example> = {
  uploads: {
    description: '100 uploads at once, 5 workers transcoding 1 video a minute each: the last one finishes after 20 minutes',
    runs: [{
      label: '5 workers',
      spec: { queues: [{ name: 'uploads', initial: 100, service: 'fixed:60s' }], workers: [{ count: 5, concurrency: 1, queues: 'uploads' }] },
    }, {
      label: '10 workers',
      spec: { queues: [{ name: 'uploads', initial: 100, service: 'fixed:60s' }], workers: [{ count: 10, concurrency: 1, queues: 'uploads' }] },
    }],
  },
  starvation: {
    description: 'high 4/s, medium 1/s, low 0.3/s for 10 minutes on 4 jobs/s of capacity: strict priority starves medium and low; 60/30/10 keeps every queue moving (high falls behind instead)',
    runs: [
      { label: 'strict', spec: overload(['high', 'medium', 'low']) },
      { label: 'weighted 60/30/10', spec: overload({ weighted: { high: 60, medium: 30, low: 10 } }) },
    ],
  },
};
