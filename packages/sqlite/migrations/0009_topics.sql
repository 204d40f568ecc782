-- Spindle on SQLite, schema version 9: topics, the message log (core backend/topics.ts,
-- docs/decisions/0017-topics.md). Times are INTEGER epoch milliseconds; values and headers are
-- JSON text serialized and validated by the core.
--
-- A partition's messages are exactly the offsets [start_offset, next_offset) of its row: a
-- publish appends at next_offset, retention deletes from start_offset up (never a hole).
-- `bytes` (key + value + headers, UTF-8) is kept per message and summed per partition, so size
-- retention knows how much to delete without reading the messages it keeps.

CREATE TABLE spindle_topics (
  name                  TEXT    PRIMARY KEY,
  partitions            INTEGER NOT NULL,
  retention_max_age_ms  INTEGER,               -- NULL: no age limit
  retention_max_bytes   INTEGER,               -- per partition; NULL: no size limit
  created_at            INTEGER NOT NULL
);

CREATE TABLE spindle_topic_partitions (
  topic         TEXT    NOT NULL,
  partition     INTEGER NOT NULL,
  start_offset  INTEGER NOT NULL,              -- the oldest offset retained
  next_offset   INTEGER NOT NULL,              -- the highWater: the next offset to assign
  bytes         INTEGER NOT NULL,              -- sum of `bytes` of the retained messages
  PRIMARY KEY (topic, partition)
) WITHOUT ROWID;

-- An ordinary rowid table on purpose: messages can be kilobytes, and a WITHOUT ROWID table
-- copies whole rows into its interior pages. Rows are appended in rowid order; the primary key
-- is the (small) index that reads and retention walk.
-- `seek_time` is max(published_at, seek_time of the partition's previous retained message):
-- non-decreasing in offset even when the clock (or an injected `now`) goes back, so a seek by
-- time is a binary search over offsets and needs no index of its own. The small columns come first, so
-- retention and seeks read them without following a large value's overflow pages.
CREATE TABLE spindle_topic_messages (
  topic            TEXT    NOT NULL,
  partition        INTEGER NOT NULL,
  offset           INTEGER NOT NULL,
  bytes            INTEGER NOT NULL,
  published_at     INTEGER NOT NULL,
  seek_time        INTEGER NOT NULL,
  key              TEXT,
  idempotency_key  TEXT,
  headers          TEXT,
  value            TEXT    NOT NULL,            -- last: a large value spills into overflow pages
  PRIMARY KEY (topic, partition, offset)
);
-- Idempotency keys are unique per topic while their message is retained.
CREATE UNIQUE INDEX spindle_topic_messages_idempotency_idx ON spindle_topic_messages (topic, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Consumer groups (named so, not "groups": tenant groups of jobs are ADR 0015's). `members` is
-- the JSON array of the current generation's member ids, sorted: every write leaves it equal to
-- the ids of the group's rows in spindle_consumer_members.
CREATE TABLE spindle_consumer_groups (
  topic       TEXT    NOT NULL,
  name        TEXT    NOT NULL,
  generation  INTEGER NOT NULL,
  members     TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (topic, name)
) WITHOUT ROWID;

-- A member is live while expires_at > now; writes on the group delete the others first.
CREATE TABLE spindle_consumer_members (
  topic       TEXT    NOT NULL,
  group_name  TEXT    NOT NULL,
  member_id   TEXT    NOT NULL,
  expires_at  INTEGER NOT NULL,
  joined_at   INTEGER NOT NULL,
  PRIMARY KEY (topic, group_name, member_id)
) WITHOUT ROWID;

-- One row per (group, partition): the next offset the group reads.
CREATE TABLE spindle_consumer_offsets (
  topic         TEXT    NOT NULL,
  group_name    TEXT    NOT NULL,
  partition     INTEGER NOT NULL,
  committed     INTEGER NOT NULL,
  committed_at  INTEGER NOT NULL,
  PRIMARY KEY (topic, group_name, partition)
) WITHOUT ROWID;
