/**
 * Pure rendering of the topics views (issue 8 point 6): the topic list, one topic's partitions,
 * its consumer groups' lag per partition (committed offset, high water, lag, members and
 * generation), the seek form of a group, and the recent-messages peek. API JSON in, SafeHtml out.
 *
 * Invariants:
 * - Every value from the API (topic and group names, member ids, message keys, values and
 *   headers) goes through `html`; every link and hx-* URL through `url`. Message values are shown
 *   as truncated JSON text (`VALUE_PREVIEW` characters), never as markup.
 * - The seek form is rendered by the caller only for keys holding `admin` (the API's seek needs
 *   it on the topic); it confirms in the browser (`hx-confirm`) before it posts, and lives outside
 *   the groups section that refreshes itself every 5 s.
 * - Lag cells carry `data-group`, `data-partition`, `data-committed`, `data-high-water`, `data-lag`
 *   (tests and scripts read numbers there, not from formatted text).
 */
import { html, url, type SafeHtml } from './html.js';
import { fmtTime, jsonPreview, notice } from './jobs-common.js';
import { card, timeCell } from './ops-common.js';
import { fmtAge, fmtNum } from './queue-data.js';

export interface TopicJson {
  name: string;
  partitions: number;
  retention: { maxAgeMs: number | null; maxBytes: number | null };
  createdAt: string;
  offsets: Array<{ partition: number; startOffset: number; highWater: number }>;
}

export interface GroupJson {
  topic: string;
  group: string;
  generation: number;
  members: Array<{ memberId: string; expiresAt: string; partitions: number[] }>;
  offsets: Array<{ partition: number; committed: number; highWater: number; lag: number }>;
  lag: number;
}

export interface MessageJson {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string> | null;
  publishedAt: string;
}

export interface PeekJson {
  messages: MessageJson[];
  startOffset: number;
  highWater: number;
}

/** The peek's page size and value preview length. */
export const PEEK_SIZE = 20;
export const VALUE_PREVIEW = 200;

export function fmtBytes(n: number | null): string {
  if (n === null) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

export function retentionText(r: TopicJson['retention']): string {
  const parts = [r.maxAgeMs !== null ? `max age ${fmtAge(r.maxAgeMs)}` : null, r.maxBytes !== null ? `max ${fmtBytes(r.maxBytes)} per partition` : null].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'keep everything';
}

const retained = (t: TopicJson) => t.offsets.reduce((s, o) => s + (o.highWater - o.startOffset), 0);
const highWater = (t: TopicJson) => t.offsets.reduce((s, o) => s + o.highWater, 0);

/** The topic list; `groups` maps a topic to its groups (null: could not be read). */
export function renderTopicsList(topics: TopicJson[], groups: Map<string, GroupJson[] | null>): SafeHtml {
  if (topics.length === 0) return html`<p class="muted empty">No topics yet: create one with <code>POST /api/v1/topics</code> or <code>spindle topics create</code>.</p>`;
  const rows = topics.map((t) => {
    const gs = groups.get(t.name);
    const lag = gs ? gs.reduce((s, g) => s + g.lag, 0) : null;
    return html`<tr data-topic="${t.name}">
  <td><a href="${url(['/topics', t.name])}">${t.name}</a></td>
  <td class="num">${t.partitions}</td>
  <td class="num">${fmtNum(highWater(t))}</td>
  <td class="num">${fmtNum(retained(t))}</td>
  <td>${retentionText(t.retention)}</td>
  <td>${gs === null || gs === undefined ? html`<span class="muted">—</span>` : gs.length === 0 ? html`<span class="muted">none</span>` : gs.map((g, i) => html`${i ? ', ' : ''}<a href="${url(['/topics', t.name], { group: g.group })}">${g.group}</a>`)}</td>
  <td class="num">${lag === null ? '—' : lag > 0 ? html`<span class="tag tag-warn">${fmtNum(lag)}</span>` : '0'}</td>
  <td>${timeCell(t.createdAt)}</td>
</tr>`;
  });
  return html`<div class="scroll"><table class="grid topics-table">
<thead><tr><th>Topic</th><th class="num">Partitions</th><th class="num">Published (high water)</th><th class="num">Retained</th><th>Retention</th><th>Consumer groups</th><th class="num">Total lag</th><th>Created</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

/** The topic's partitions. */
export function renderPartitions(t: TopicJson): SafeHtml {
  return html`<div class="cards">
  ${card('Partitions', t.partitions)}
  ${card('Published', fmtNum(highWater(t)), { hint: 'sum of high waters' })}
  ${card('Retained', fmtNum(retained(t)), { hint: retentionText(t.retention) })}
</div>
<div class="scroll"><table class="grid partitions-table">
<thead><tr><th class="num">Partition</th><th class="num">Start offset (oldest kept)</th><th class="num">High water (next offset)</th><th class="num">Retained</th><th></th></tr></thead>
<tbody>${t.offsets.map(
    (o) => html`<tr data-partition="${o.partition}" data-start="${o.startOffset}" data-high-water="${o.highWater}">
  <td class="num">${o.partition}</td><td class="num">${fmtNum(o.startOffset)}</td><td class="num">${fmtNum(o.highWater)}</td><td class="num">${fmtNum(o.highWater - o.startOffset)}</td>
  <td><a href="${url(['/topics', t.name], { partition: o.partition })}#peek">Peek</a></td>
</tr>`,
  )}</tbody></table></div>`;
}

/** The seek form (outside the polled groups section, so a refresh never resets what is typed). */
export function renderSeekPanel(topic: TopicJson, groups: GroupJson[], focus: string | undefined): SafeHtml {
  if (groups.length === 0) return html``;
  return html`<section class="panel seek" id="seek">
<div class="panel-head"><h2>Seek a group</h2></div>
<form class="filters seek-form" hx-post="${url(['/ui/actions/topics', topic.name, 'seek'])}" hx-target="#topic-groups" hx-swap="outerHTML" hx-confirm="Move the committed offsets of this group on ${topic.name}? Its members re-read from the new position (a new generation).">
  <label>Group <select name="group">${groups.map((g) => html`<option value="${g.group}"${g.group === focus ? html` selected` : null}>${g.group}</option>`)}</select></label>
  <label>To <select name="mode">
    <option value="earliest">earliest (every partition's start offset)</option>
    <option value="latest">latest (skip everything published so far)</option>
    <option value="offset">an offset of one partition</option>
    <option value="time">the first message at or after a time (UTC)</option>
  </select></label>
  <label>Partition <select name="partition">${topic.offsets.map((o) => html`<option value="${o.partition}">${o.partition}</option>`)}</select></label>
  <label>Offset <input type="number" name="offset" min="0" step="1" placeholder="e.g. 120"></label>
  <label>Time (UTC) <input type="datetime-local" name="time" step="1"></label>
  <button type="submit" class="btn-warn">Seek</button>
</form>
<p class="muted small">An offset is clamped into the partition's retained range; a time moves every partition to its first message at or after it.</p>
</section>`;
}

/** One group: generation, members, and per partition committed / high water / lag. */
function renderGroup(g: GroupJson, focused: boolean): SafeHtml {
  const owner = new Map<number, string>();
  for (const m of g.members) for (const p of m.partitions) owner.set(p, m.memberId);
  return html`<div class="panel group${focused ? ' focused' : ''}" id="${`groups-${g.group}`}" data-group="${g.group}" data-generation="${g.generation}" data-lag="${g.lag}">
<div class="panel-head"><h2>Group <span class="name">${g.group}</span> ${g.lag > 0 ? html`<span class="tag tag-warn">lag ${fmtNum(g.lag)}</span>` : html`<span class="tag tag-ok">caught up</span>`}</h2>
<span class="muted">generation ${g.generation} · ${g.members.length} live ${g.members.length === 1 ? 'member' : 'members'}</span></div>
<div class="scroll"><table class="grid lag-table">
<thead><tr><th class="num">Partition</th><th class="num">Committed (next to read)</th><th class="num">High water</th><th class="num">Lag</th><th>Owner</th></tr></thead>
<tbody>${g.offsets.map(
    (o) => html`<tr class="lag-row" data-group="${g.group}" data-partition="${o.partition}" data-committed="${o.committed}" data-high-water="${o.highWater}" data-lag="${o.lag}">
  <td class="num">${o.partition}</td><td class="num">${fmtNum(o.committed)}</td><td class="num">${fmtNum(o.highWater)}</td>
  <td class="num">${o.lag > 0 ? html`<strong>${fmtNum(o.lag)}</strong>` : '0'}</td>
  <td>${owner.has(o.partition) ? html`<code>${owner.get(o.partition)}</code>` : html`<span class="muted">unassigned</span>`}</td>
</tr>`,
  )}</tbody></table></div>
${
  g.members.length
    ? html`<table class="grid members-table"><thead><tr><th>Member</th><th>Partitions</th><th>Session expires</th></tr></thead><tbody>${g.members.map(
        (m) => html`<tr class="member" data-member="${m.memberId}"><td><code>${m.memberId}</code></td><td>${m.partitions.length ? m.partitions.join(', ') : '—'}</td><td>${timeCell(m.expiresAt, { relativeFirst: true })}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted small">No live member: nobody is reading; the lag grows with each publish.</p>`
}
</div>`;
}

/** The groups section, refreshed every 5 s (topics publish no dashboard ticks). */
export function renderGroups(topic: TopicJson, groups: GroupJson[] | null, error: string | null, focus: string | undefined, extra?: SafeHtml): SafeHtml {
  const body =
    groups === null
      ? notice('error', error ?? 'Could not read the consumer groups.')
      : groups.length === 0
        ? html`<p class="muted empty">No consumer group has joined this topic yet.</p>`
        : groups.map((g) => renderGroup(g, g.group === focus));
  return html`<section id="topic-groups" class="groups" hx-get="${url(['/ui/fragments/topic-groups', topic.name], { group: focus })}" hx-trigger="every 5s" hx-swap="outerHTML">
<h2>Consumer groups and lag</h2>
${extra ?? null}
${body}
</section>`;
}

/** The recent-messages peek of one partition from `offset`. */
export function renderPeek(topic: TopicJson, partition: number, offset: number, peek: PeekJson | null, error: string | null): SafeHtml {
  const part = topic.offsets.find((o) => o.partition === partition);
  const choose = html`<nav class="segmented">${topic.offsets.map((o) => html`<a class="${o.partition === partition ? 'seg active' : 'seg'}" href="${url(['/topics', topic.name], { partition: o.partition })}#peek">p${o.partition}</a>`)}</nav>`;
  if (!peek) return html`<section id="peek" class="panel"><div class="panel-head"><h2>Messages</h2>${choose}</div>${notice('error', error ?? 'Could not read the messages.')}</section>`;
  const older = offset > peek.startOffset ? html`<a rel="prev" href="${url(['/topics', topic.name], { partition, offset: Math.max(peek.startOffset, offset - PEEK_SIZE) })}#peek">← Older</a>` : null;
  const last = peek.messages.at(-1);
  const newer = last && last.offset + 1 < peek.highWater ? html`<a rel="next" href="${url(['/topics', topic.name], { partition, offset: last.offset + 1 })}#peek">Newer →</a>` : null;
  const rows = peek.messages.map(
    (m) => html`<tr class="message" data-offset="${m.offset}">
  <td class="num">${m.offset}</td>
  <td>${m.key === null ? html`<span class="muted">—</span>` : html`<code>${m.key.length > 80 ? `${m.key.slice(0, 79)}…` : m.key}</code>`}</td>
  <td class="payload-preview"><code>${jsonPreview(m.value, VALUE_PREVIEW)}</code></td>
  <td class="small">${m.headers ? html`<code>${jsonPreview(m.headers, 120)}</code>` : html`<span class="muted">—</span>`}</td>
  <td>${fmtTime(m.publishedAt)}</td>
</tr>`,
  );
  return html`<section id="peek" class="panel peek" data-partition="${partition}">
<div class="panel-head"><h2>Messages of partition ${partition}</h2>${choose}</div>
<p class="muted small">Offsets ${part ? `${fmtNum(peek.startOffset)} … ${fmtNum(peek.highWater - 1)} retained` : ''}; showing ${peek.messages.length} from offset ${fmtNum(offset)}. Values are shown as JSON text, cut at ${VALUE_PREVIEW} characters.</p>
<div class="scroll"><table class="grid messages-table">
<thead><tr><th class="num">Offset</th><th>Key</th><th>Value</th><th>Headers</th><th>Published</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="5" class="empty">No message retained in this range.</td></tr>`}</tbody></table></div>
<nav class="paging">${older} ${newer}</nav>
</section>`;
}
