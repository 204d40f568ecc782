/**
 * The server's one alert engine (it replaces the DLQ-only alerter of push/dlq-alerts.ts):
 * evaluates the configured rules (rules.ts) every `intervalMs` and publishes their transitions
 * on the event log as `alert.firing` / `alert.resolved` (SSE, WebSocket, webhooks). For the rule
 * named `dlq-not-empty` it also publishes the older `dlq.alert.fired` / `dlq.alert.cleared`
 * (data `{ depth }`), which the dashboard's DLQ banner and existing subscribers follow.
 *
 * How: a tick reads what the rules need ONCE through the client — DLQ depths (dlq_depth),
 * counts by queue and state (backlog = queued jobs; also which queues have a due job), the
 * oldest due job per queue that has one and a matching oldest_queued_age rule, the per-minute
 * counters over the longest failure_rate window — then evaluates every rule (evaluate.ts).
 * DLQ depths alone are also re-read after `job.dead`/`.replayed`/`.removed`/`.retried`/
 * `.updated` events (debounced) and by `GET /alerts`, as before: the DLQ state stays current.
 *
 * Invariants:
 * - Ticks never overlap: a check asked for while one runs waits for it, and shares it when
 *   that one reads at least what was asked for.
 * - States and the last HISTORY_SIZE transitions are in memory (per process, lost on restart).
 * - A failed read is reported through `onError` and changes no state.
 */
import type { Client } from '@spindle/core';
import type { EventLog, WireEvent } from '../push/event-log.js';
import { oldestQueuedAgeMs } from '../http/queue-age.js';
import { evaluateRules, type AlertInputs, type AlertTransition, type RuleQueueState } from './evaluate.js';
import { BUILTIN_RULE_NAME, ruleMatches, type AlertKind, type AlertRule, type ResolvedAlerts } from './rules.js';

const DEBOUNCE_MS = 50;
const MINUTE = 60_000;
/** How many alert transitions `snapshot()` keeps (oldest dropped first). */
export const HISTORY_SIZE = 200;
const DLQ_TRIGGERS = new Set(['job.dead', 'job.replayed', 'job.removed', 'job.retried', 'job.updated']);
const ALL_KINDS: ReadonlySet<AlertKind> = new Set(['dlq_depth', 'backlog', 'oldest_queued_age', 'failure_rate']);
const DLQ_ONLY: ReadonlySet<AlertKind> = new Set(['dlq_depth']);

export interface AlertSnapshot {
  rules: AlertRule[];
  /** When the rules were last evaluated (null before the first read). */
  checkedAt: string | null;
  /** Per rule and queue, sorted by rule order then queue. */
  states: RuleQueueState[];
  /** The most recent transitions, newest first. */
  history: AlertTransition[];
}

export class AlertEngine {
  private states = new Map<string, RuleQueueState>();
  private readonly history: AlertTransition[] = [];
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private checking: { kinds: ReadonlySet<AlertKind>; done: Promise<void> } | null = null;
  private stopped = false;
  private checkedAt: string | null = null;

  constructor(
    private readonly client: Client,
    private readonly events: EventLog,
    readonly config: ResolvedAlerts,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.config.rules.length === 0) return;
    if (this.config.rules.some((r) => r.kind === 'dlq_depth')) this.unsubscribe = this.events.subscribe({}, (e) => this.onEvent(e));
    this.timer = setInterval(() => void this.check(), this.config.intervalMs);
    this.timer.unref();
    void this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    await this.checking?.done;
  }

  /** Reads and evaluates now (every rule, or only the DLQ rules with `dlqOnly`); publishes transitions. */
  async check(options: { dlqOnly?: boolean } = {}): Promise<void> {
    const kinds = options.dlqOnly ? DLQ_ONLY : ALL_KINDS;
    for (;;) {
      const running = this.checking;
      if (!running) break;
      await running.done;
      if ([...kinds].every((k) => running.kinds.has(k))) return;
    }
    const done = this.tick(kinds)
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.checking = null;
      });
    this.checking = { kinds, done };
    return done;
  }

  snapshot(): AlertSnapshot {
    const order = new Map(this.config.rules.map((r, i) => [r.name, i]));
    const states = [...this.states.values()].sort((a, b) => order.get(a.rule)! - order.get(b.rule)! || a.queue.localeCompare(b.queue));
    return { rules: this.config.rules, checkedAt: this.checkedAt, states: states.map((s) => ({ ...s })), history: [...this.history].reverse() };
  }

  private onEvent(e: WireEvent): void {
    if (!DLQ_TRIGGERS.has(e.type) || this.pending || this.stopped) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.check({ dlqOnly: true });
    }, DEBOUNCE_MS);
    this.pending.unref();
  }

  private async tick(kinds: ReadonlySet<AlertKind>): Promise<void> {
    if (this.stopped) return;
    const rules = this.config.rules.filter((r) => kinds.has(r.kind));
    if (rules.length === 0) return;
    const inputs = await this.read(rules);
    if (this.stopped) return;
    const { states, transitions } = evaluateRules(rules, inputs, this.states);
    this.states = states;
    this.checkedAt = new Date(inputs.atMs).toISOString();
    for (const t of transitions) this.record(t);
  }

  /** One read of everything `rules` need. */
  private async read(rules: AlertRule[]): Promise<AlertInputs> {
    const has = (k: AlertKind) => rules.filter((r) => r.kind === k);
    const ageRules = has('oldest_queued_age');
    const rateRules = has('failure_rate');
    const needCounts = has('backlog').length > 0 || ageRules.length > 0;
    const dbNow = ageRules.length > 0 || rateRules.length > 0 ? await this.client.now() : null;
    const longest = Math.max(0, ...rateRules.map((r) => r.windowMs ?? 0));
    const [depths, counts, stats] = await Promise.all([
      has('dlq_depth').length > 0 ? this.client.dlq.depth() : null,
      needCounts ? this.client.counts() : null,
      dbNow && rateRules.length > 0 ? this.client.readStats({ from: new Date(Math.floor((dbNow.getTime() - longest) / MINUTE) * MINUTE), to: new Date(Math.floor(dbNow.getTime() / MINUTE) * MINUTE + MINUTE) }) : null,
    ]);
    const inputs: AlertInputs = { atMs: Date.now() };
    if (dbNow) inputs.dbNowMs = dbNow.getTime();
    if (depths) inputs.dlqDepth = new Map(depths.map((d) => [d.queue, d.depth]));
    if (stats) inputs.stats = stats;
    if (counts) {
      inputs.backlog = new Map(Object.entries(counts).map(([q, c]) => [q, c.queued]));
      if (dbNow) {
        const probe = Object.entries(counts).filter(([q, c]) => c.queued > 0 && ageRules.some((r) => ruleMatches(r, q)));
        inputs.oldestQueuedAgeMs = new Map(await Promise.all(probe.map(async ([q]) => [q, await oldestQueuedAgeMs(this.client, q, dbNow)] as const)));
      }
    }
    return inputs;
  }

  private record(t: AlertTransition): void {
    this.history.push(t);
    if (this.history.length > HISTORY_SIZE) this.history.splice(0, this.history.length - HISTORY_SIZE);
    const rule = this.config.rules.find((r) => r.name === t.rule);
    if (t.rule === BUILTIN_RULE_NAME && t.kind === 'dlq_depth') {
      this.events.publish({ type: t.type === 'alert.firing' ? 'dlq.alert.fired' : 'dlq.alert.cleared', at: t.at, queue: t.queue, data: { depth: t.value } });
    }
    this.events.publish({
      type: t.type,
      at: t.at,
      queue: t.queue,
      data: { rule: t.rule, kind: t.kind, value: t.value, threshold: t.threshold, forMs: rule?.forMs ?? 0, ...(rule?.windowMs ? { windowMs: rule.windowMs } : {}) },
    });
  }
}
