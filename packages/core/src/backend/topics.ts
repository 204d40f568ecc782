/**
 * Topics (DESIGN §7, issue 7): the Backend's part of the message log — topics with partitions,
 * messages at dense offsets, consumer groups with members, generations and committed offsets.
 * The core validates every input (names, sizes, ranges) before a backend sees it; backends keep
 * the semantics below, held to the conformance suite (packages/conformance/src/backend/topics.ts).
 *
 * Semantics every backend keeps:
 * - Offsets are per partition, 0-based and dense: a partition's messages are exactly the offsets
 *   [startOffset, highWater). A publish assigns the next offsets of its partition in the order
 *   the publishes commit (writers of one partition are serialised), in input order within a call.
 *   `highWater` is the next offset to be assigned; `startOffset` the oldest one retained.
 * - An idempotency key is unique per topic: publishing a message whose key is already stored
 *   stores nothing and answers the stored message's partition and offset (`duplicate: true`).
 * - A consumer group is created by its first join. It reads every message of the topic from its
 *   start position (`earliest`: each partition's startOffset; `latest`: each partition's
 *   highWater at creation — recorded as committed offsets then, so "latest" does not drift).
 * - Membership: a member is live until `sessionMs` after its last join or heartbeat. Any change of
 *   the live members (a join of a new member, a leave, an expiry noticed by any call on the group)
 *   makes a new generation (+1). A generation's assignment is a pure function of its sorted live
 *   member ids and the partition count: partition p goes to member index p mod memberCount.
 * - A commit (`offset` = the next offset the group will read) is accepted only from a live member,
 *   for a partition assigned to it in the group's current generation, and never moves an offset
 *   back or past the highWater; otherwise it is refused with a reason and changes nothing.
 */

/** Topic names: like queue names (identifier rules of validate.ts). */
export interface TopicRetention {
  /** Delete messages older than this (ms); null: no age limit. */
  maxAgeMs: number | null;
  /**
   * Keep at most this many bytes per partition, counting each message's key + value + headers
   * (UTF-8 text as stored); the oldest go first. null: no limit.
   */
  maxBytes: number | null;
}

export interface CreateTopicParams {
  name: string;
  partitions: number;
  retention: TopicRetention;
  now?: Date;
}

/** `created: false` when the topic existed: nothing changed (use growTopic for partitions). */
export interface CreateTopicResult {
  created: boolean;
  topic: TopicInfo;
}

export interface GrowTopicParams {
  name: string;
  /** New partition count, greater than the current one (existing partitions keep their messages). */
  partitions: number;
}

export interface PartitionInfo {
  partition: number;
  startOffset: number;
  highWater: number;
}

export interface TopicInfo {
  name: string;
  partitions: number;
  retention: TopicRetention;
  createdAt: Date;
  /** Per partition, in partition order. */
  offsets: PartitionInfo[];
}

/** One message to store; the core chose its partition and serialized value and headers (JSON text). */
export interface MessageInsert {
  partition: number;
  key: string | null;
  value: string;
  headers: string | null;
  idempotencyKey: string | null;
}

export interface PublishParams {
  topic: string;
  messages: MessageInsert[];
  now?: Date;
}

/** Per message, in input order. */
export interface PublishOutcome {
  partition: number;
  offset: number;
  /** The idempotency key was already stored: this names the stored message. */
  duplicate: boolean;
}

export interface StoredMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  /** Parsed JSON value and headers. */
  value: unknown;
  headers: Record<string, string> | null;
  publishedAt: Date;
}

export interface FetchParams {
  topic: string;
  partition: number;
  /** First offset to read: startOffset ≤ offset ≤ highWater, else OffsetOutOfRangeError. */
  offset: number;
  limit: number;
}

export interface FetchResult {
  messages: StoredMessage[];
  startOffset: number;
  highWater: number;
}

export interface GroupMemberParams {
  topic: string;
  group: string;
  memberId: string;
  now?: Date;
}

export interface JoinGroupParams extends GroupMemberParams {
  /** The member is live until this long after its last join or heartbeat. */
  sessionMs: number;
  /** Where a group created by this join starts reading (ignored for an existing group). */
  start: 'earliest' | 'latest';
}

/** What a member owns now. `partitions` is empty when the member is not live (it must join again). */
export interface GroupAssignment {
  generation: number;
  /** Live member ids, sorted: the assignment's input. */
  members: string[];
  /** Partitions assigned to the asking member in this generation. */
  partitions: number[];
}

export interface CommitParams extends GroupMemberParams {
  generation: number;
  offsets: Array<{ partition: number; offset: number }>;
}

/**
 * `ok` (also when the offset equals the committed one); `stale_generation`: the generation is not
 * the current one; `not_assigned`: the member is not live or does not own the partition in it;
 * `backwards`: below the committed offset; `beyond_high_water`: above the partition's highWater.
 */
export type CommitOutcome = 'ok' | 'stale_generation' | 'not_assigned' | 'backwards' | 'beyond_high_water';

export interface GroupOffset {
  partition: number;
  /** The next offset the group reads. */
  committed: number;
  highWater: number;
  /** highWater − committed (messages published and not yet committed by the group). */
  lag: number;
}

export interface GroupInfo {
  topic: string;
  group: string;
  generation: number;
  members: Array<{ memberId: string; expiresAt: Date; partitions: number[] }>;
  offsets: GroupOffset[];
}

/** Where a seek moves a group: per partition offsets, each partition's start or end, or a time. */
export type SeekTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offsets'; offsets: Array<{ partition: number; offset: number }> }
  /** The first offset published at or after this time (the highWater when none). */
  | { kind: 'time'; at: Date };

export interface SeekParams {
  topic: string;
  group: string;
  to: SeekTarget;
  /** Like every group write, a seek first expires members whose session ended by `now`. */
  now?: Date;
}

export interface TopicStore {
  createTopic(params: CreateTopicParams): Promise<CreateTopicResult>;
  growTopic(params: GrowTopicParams): Promise<TopicInfo>;
  /** null when there is no such topic. */
  getTopic(name: string): Promise<TopicInfo | null>;
  listTopics(): Promise<TopicInfo[]>;
  /** TopicNotFoundError for an unknown topic; a partition out of range is a ValidationError. */
  publish(params: PublishParams): Promise<PublishOutcome[]>;
  /** TopicNotFoundError, ValidationError (partition), OffsetOutOfRangeError (offset). */
  fetchMessages(params: FetchParams): Promise<FetchResult>;
  joinGroup(params: JoinGroupParams): Promise<GroupAssignment>;
  /** Extends the member's session when live; answers the current assignment either way. */
  heartbeatGroup(params: JoinGroupParams): Promise<GroupAssignment>;
  /** The member leaves (a new generation when it was live). */
  leaveGroup(params: GroupMemberParams): Promise<void>;
  commitOffsets(params: CommitParams): Promise<CommitOutcome[]>;
  /** null when the group does not exist. */
  getGroup(params: { topic: string; group: string; now?: Date }): Promise<GroupInfo | null>;
  listGroups(topic: string): Promise<GroupInfo[]>;
  /** Moves every partition's committed offset (clamped to [startOffset, highWater]); a new generation. */
  seekGroup(params: SeekParams): Promise<GroupOffset[]>;
  /** Leader-only: deletes messages beyond each topic's retention; returns how many. */
  pruneTopics(params: { now?: Date; limit: number }): Promise<number>;
}

/**
 * The one assignment rule both backends keep: the partitions of `memberId` in a generation of
 * `members` (sorted live member ids) over `partitions` partitions — p goes to members[p mod n].
 * Empty when the member is not among them.
 */
export function assignedPartitions(members: readonly string[], memberId: string, partitions: number): number[] {
  const index = members.indexOf(memberId);
  const owned: number[] = [];
  if (index < 0) return owned;
  for (let p = index; p < partitions; p += members.length) owned.push(p);
  return owned;
}
