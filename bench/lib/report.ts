/**
 * Turns a results file into bench/README.md (tables, ratios Spindle ÷ peer, targets, backlog,
 * ceilings) and bench/chart.svg (throughput bars). Pure: same results in, same text out.
 */

type Row = Record<string, number>;
interface Report {
  date: string;
  runs: number;
  durationSeconds: number;
  machine: Record<string, string | number>;
  systems: Record<string, { label: string; store: string; settings: Record<string, string>; versions: Record<string, string> }>;
  workloads: Record<string, { title: string; headline: { key: string; unit: string; higherIsBetter: boolean } }>;
  results: Record<string, Record<string, { runs: Row[]; median: Row }>>;
  backlog: { sizes: { [K in 'work' | 'big' | 'completed' | 'dead' | 'scheduled']: number }; results: Record<string, unknown> } | null;
  ceiling: Record<string, { rows: number; insertRowsPerSec: number; updateRowsPerSec: number; drainCeilingJobsPerSec: number; commitP50Ms?: number; commitP99Ms?: number }> | null;
  /** Later runs (`--merge`) that replaced some systems' figures in this file. */
  remeasured?: Array<{ date: string; systems: string[]; workloads: string[] }>;
}

const SPINDLE = ['spindle-sqlite', 'spindle-postgres'];
const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function headline(report: Report, workload: string, system: string): number | undefined {
  const key = report.workloads[workload]?.headline.key;
  return key ? report.results[workload]?.[system]?.median[key] : undefined;
}

/** How many times better Spindle is (higher-is-better: s/p; lower-is-better: p/s). */
function advantage(report: Report, workload: string, spindle: string, peer: string): number | undefined {
  const s = headline(report, workload, spindle);
  const p = headline(report, workload, peer);
  if (s === undefined || p === undefined || s <= 0 || p <= 0) return undefined;
  return report.workloads[workload]!.headline.higherIsBetter ? s / p : p / s;
}

function workloadTable(report: Report, id: string): string {
  const w = report.workloads[id]!;
  const rows = report.results[id]!;
  const keys = Object.keys(Object.values(rows)[0]?.median ?? {});
  const lines = [`### ${w.title}`, '', `| system | ${keys.join(' | ')} |`, `|---|${keys.map(() => '---:').join('|')}|`];
  for (const [system, r] of Object.entries(rows)) {
    lines.push(`| ${report.systems[system]?.label ?? system} | ${keys.map((k) => fmt(r.median[k], k.endsWith('Ms') || k.endsWith('MiB') || k === 'seconds' ? 2 : 0)).join(' | ')} |`);
  }
  const peers = Object.keys(rows).filter((s) => !SPINDLE.includes(s));
  const ratios: string[] = [];
  for (const s of SPINDLE.filter((x) => rows[x])) {
    for (const p of peers) {
      const a = advantage(report, id, s, p);
      if (a !== undefined) ratios.push(`${report.systems[s]!.label} vs ${report.systems[p]!.label}: **${fmt(a, 2)}×**`);
    }
  }
  if (ratios.length) lines.push('', `Spindle's advantage on ${w.headline.unit} (${w.headline.higherIsBetter ? 'Spindle ÷ peer' : 'peer ÷ Spindle'}): ${ratios.join('; ')}.`);
  return lines.join('\n');
}

function best(report: Report, workloads: string[], system: string): number | undefined {
  const values = workloads.map((w) => headline(report, w, system)).filter((v): v is number => v !== undefined);
  return values.length ? Math.max(...values) : undefined;
}

function targets(report: Report): string {
  const check = (name: string, value: number | undefined, goal: number, higher = true) => {
    const ok = value !== undefined && (higher ? value >= goal : value <= goal);
    return `| ${name} | ${higher ? '≥' : '≤'} ${fmt(goal, 2)} | ${fmt(value, 2)} | ${value === undefined ? 'not measured' : ok ? 'met' : '**missed**'} |`;
  };
  const drains = ['drain-c10', 'drain-c50'];
  const ratio = (s: string, p: string, ws: string[]) => {
    const a = best(report, ws, s);
    const b = best(report, ws, p);
    return a !== undefined && b !== undefined ? a / b : undefined;
  };
  const bestPgPeerBulk = Math.max(headline(report, 'enqueue-bulk', 'pg-boss') ?? 0, headline(report, 'enqueue-bulk', 'graphile-worker') ?? 0) || undefined;
  const pgBulk = headline(report, 'enqueue-bulk', 'spindle-postgres');
  const backlog = (report.backlog?.results['spindle-sqlite'] as { summary?: Row } | undefined)?.summary;
  const backlogPg = (report.backlog?.results['spindle-postgres'] as { summary?: Row } | undefined)?.summary;
  const lat = (w: string, s: string, k: string) => report.results[w]?.[s]?.median[k];
  return [
    '| target (issue 3) | goal | measured | |',
    '|---|---:|---:|---|',
    check('SQLite drain ÷ BullMQ (best concurrency, 1 process)', ratio('spindle-sqlite', 'bullmq', drains), 5),
    check('SQLite bulk enqueue ÷ BullMQ', ratio('spindle-sqlite', 'bullmq', ['enqueue-bulk']), 4),
    check('SQLite enqueue→start p50, in-process (ms)', lat('latency-inprocess', 'spindle-sqlite', 'p50Ms'), 0.5, false),
    check('SQLite enqueue→start p99, in-process (ms)', lat('latency-inprocess', 'spindle-sqlite', 'p99Ms'), 2, false),
    check('PostgreSQL drain ÷ graphile-worker (best)', ratio('spindle-postgres', 'graphile-worker', drains), 2),
    check('PostgreSQL drain ÷ pg-boss (best)', ratio('spindle-postgres', 'pg-boss', drains), 10),
    check('PostgreSQL bulk enqueue ÷ best PostgreSQL peer', pgBulk !== undefined && bestPgPeerBulk ? pgBulk / bestPgPeerBulk : undefined, 2),
    check('PostgreSQL enqueue→start p50, LISTEN/NOTIFY (ms)', lat('latency-idle', 'spindle-postgres', 'p50Ms'), 2, false),
    check('PostgreSQL enqueue→start p99, LISTEN/NOTIFY (ms)', lat('latency-idle', 'spindle-postgres', 'p99Ms'), 6, false),
    check('SQLite throughput, 1M queued ÷ 10k queued', backlog?.bigVsSmall, 0.85),
    check('SQLite worker RSS growth, 1M vs 10k queued (MiB)', backlog?.rssGrowthBigMiB, 50, false),
    check('PostgreSQL throughput, 1M queued ÷ 10k queued', backlogPg?.bigVsSmall, 0.85),
    check('PostgreSQL worker RSS growth, 1M vs 10k queued (MiB)', backlogPg?.rssGrowthBigMiB, 50, false),
  ].join('\n');
}

function backlogSection(report: Report): string {
  if (!report.backlog) return '';
  const s = report.backlog.sizes;
  const lines = [
    '## Backlog scaling',
    '',
    `One worker process (concurrency 50) drains ${fmt(s.work)} jobs from: *small* = ${fmt(s.work)} queued; *big* = ${fmt(s.big)} queued; *history* = ${fmt(s.work)} queued + ${fmt(s.completed)} completed + ${fmt(s.dead)} dead + ${fmt(s.scheduled)} scheduled rows (seeded with SQL).`,
    '',
    '| system | small (jobs/s) | big (jobs/s) | history (jobs/s) | big ÷ small | history ÷ small | RSS small (MiB) | RSS growth big (MiB) | RSS growth history (MiB) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [system, value] of Object.entries(report.backlog.results)) {
    const r = value as { summary: Row; stores: Record<string, { median: Row }> };
    const m = r.summary;
    lines.push(`| ${report.systems[system]?.label ?? system} | ${fmt(m.smallJobsPerSec)} | ${fmt(m.bigJobsPerSec)} | ${fmt(m.historyJobsPerSec)} | ${fmt(m.bigVsSmall, 2)} | ${fmt(m.historyVsSmall, 2)} | ${fmt(r.stores.small?.median.rssPeakMiB, 1)} | ${fmt(m.rssGrowthBigMiB, 1)} | ${fmt(m.rssGrowthHistoryMiB, 1)} |`);
  }
  return lines.join('\n');
}

function ceilingSection(report: Report): string {
  if (!report.ceiling) return '';
  const lines = [
    '## The raw ceiling',
    '',
    'What each database does alone for rows of a job\'s shape (36-character UUIDv7 ids on SQLite and PostgreSQL, as Spindle stores), 1,000 per transaction (see `workloads/ceiling.ts`). A drained job needs at least two updates (claim, complete), so the drain ceiling is half the update rate. *Commit* is one awaited one-row durable commit (p50 / p99 of 500): the floor under the enqueue → start latency of a job that is durable before it runs. The last two columns are the best measured bulk enqueue and drain of each system on that database as fractions of the insert and drain ceilings.',
    '',
    '| database | insert rows/s | update rows/s | drain ceiling jobs/s | commit p50 / p99 (ms) | best bulk enqueue / insert ceiling | best drain / drain ceiling |',
    '|---|---:|---:|---:|---:|---|---|',
  ];
  const drains = ['drain-c10', 'drain-c50', 'drain-4proc'];
  for (const [store, c] of Object.entries(report.ceiling)) {
    const fractionsOf = (workloads: string[], ceiling: number) =>
      Object.entries(report.systems)
        .filter(([, s]) => s.store === store)
        .map(([name, s]) => {
          const b = best(report, workloads, name);
          return b === undefined ? null : `${s.label} ${fmt((b / ceiling) * 100)} %`;
        })
        .filter(Boolean)
        .join('; ');
    const commit = c.commitP50Ms === undefined ? '—' : `${fmt(c.commitP50Ms, 2)} / ${fmt(c.commitP99Ms, 2)}`;
    lines.push(`| ${store} | ${fmt(c.insertRowsPerSec)} | ${fmt(c.updateRowsPerSec)} | ${fmt(c.drainCeilingJobsPerSec)} | ${commit} | ${fractionsOf(['enqueue-bulk'], c.insertRowsPerSec)} | ${fractionsOf(drains, c.drainCeilingJobsPerSec)} |`);
  }
  return lines.join('\n');
}

export function renderSvg(report: Report): string {
  const series = ['enqueue-bulk', 'drain-c50', 'drain-4proc'].filter((w) => report.results[w]);
  const systems = Object.keys(report.systems);
  const barH = 14;
  const gap = 6;
  const left = 190;
  const width = 760;
  const colors = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#64748b'];
  let y = 30;
  const parts: string[] = [];
  for (const w of series) {
    const values = systems.map((s) => headline(report, w, s) ?? 0);
    const max = Math.max(...values, 1);
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(report.workloads[w]!.title)}</text>`);
    y += 10;
    systems.forEach((s, i) => {
      const v = values[i]!;
      const len = ((width - left - 90) * v) / max;
      parts.push(`<text x="${left - 8}" y="${y + barH - 3}" text-anchor="end">${escapeXml(report.systems[s]!.label)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="${colors[i % colors.length]}"/>`);
      parts.push(`<text x="${(left + len + 6).toFixed(1)}" y="${y + barH - 3}">${v ? fmt(v) : 'n/a'} jobs/s</text>`);
      y += barH + gap;
    });
    y += 22;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

export function renderReadme(report: Report, resultsPath: string): { readme: string; svg: string } {
  const m = report.machine;
  const systemLines = Object.entries(report.systems).map(([, s]) => {
    const versions = Object.entries(s.versions).map(([k, v]) => `${k} ${v}`).join(', ');
    const settings = Object.entries(s.settings).map(([k, v]) => `  - ${k}: ${v}`).join('\n');
    return `- **${s.label}** (${versions})\n${settings}`;
  });
  const readme = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/run.ts from the results file below; edit bench/lib/report.ts, not this file. -->',
    '',
    'Spindle and its peers run the same workloads on the same machine, with no-op jobs. Figures are',
    `medians of ${report.runs} runs from \`${resultsPath}\` (${report.date.slice(0, 10)}, ${Math.round(report.durationSeconds / 60)} min).`,
    'Reproduce with `npm run bench` (full) or `npm run bench -- --quick` (< 3 min, smaller sizes, not written here).',
    '',
    'HTTP API figures: [HTTP.md](HTTP.md). Topics against Redis Streams, NATS JetStream and RabbitMQ: [TOPICS.md](TOPICS.md). The dashboard with 1,000,000 jobs: [DASHBOARD.md](DASHBOARD.md).',
    '',
    `Machine: ${m.host}, ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}.`,
    '',
    ...(report.remeasured ?? []).map((r) => `Re-measured on ${r.date.slice(0, 16).replace('T', ' ')} UTC (same machine, same settings): ${r.workloads.join(', ')} for ${r.systems.join(', ')}.`),
    ...(report.remeasured?.length ? [''] : []),
    '![throughput](chart.svg)',
    '',
    '## Targets',
    '',
    targets(report),
    '',
    '## Results',
    '',
    Object.keys(report.workloads).map((id) => workloadTable(report, id)).join('\n\n'),
    '',
    backlogSection(report),
    '',
    ceilingSection(report),
    '',
    '## Systems and settings',
    '',
    systemLines.join('\n'),
    '',
    '## Method',
    '',
    '- Enqueue: bulk through each system\'s batch API in chunks of 1,000; single: one awaited call at a time.',
    '- Drain: jobs enqueued first (untimed); worker processes started together; the clock stops when the store reports no pending job (polled every 10 ms).',
    '- Latency: each job carries the time taken just before its enqueue call; the worker records its handler start (same machine clock, `performance.timeOrigin + performance.now()`). Jobs are sent open-loop on a fixed schedule.',
    '- Worker processes are separate Node processes (`lib/worker-host.ts`); RSS is sampled every 100 ms.',
    '- Redis runs without persistence on this machine, so BullMQ\'s acknowledgements are not durable while Spindle\'s are (SQLite `synchronous=FULL`, PostgreSQL ordinary commits).',
    '',
  ].join('\n');
  return { readme, svg: renderSvg(report) };
}
