-- Spindle on PostgreSQL, schema version 10: topics (DESIGN §7): partitioned message logs and
-- their consumer groups. `{{schema}}` is replaced by the quoted schema name.
--
-- A partition's row is its writers' lock: a publish locks the rows of its partitions (ascending)
-- and assigns offsets from `next_offset`, so offsets are dense and in commit order. The row also
-- carries the oldest retained offset and the bytes retained (key + value + headers of its
-- messages, kept up to date by publish and prune under the same lock).
-- Messages keep value and headers as the JSON text the core serialized (verbatim, no reparse),
-- and published_at as given (the injected time, else the database clock read under the
-- partition lock). `seek_time` is max(published_at, the partition's previous seek_time, kept on
-- its row): non-decreasing in offset even when the clock (or an injected time) goes back, so a
-- seek by time is a binary search of primary-key probes and needs no index.
-- An idempotency key is unique per topic (partial unique index); publishers of one key are
-- serialised by a transaction-level advisory lock on it (topics.ts), the index is the backstop.
-- A consumer group's row is its lock: every membership change, commit and seek locks it first.
-- It holds the current generation with the sorted live members and partition count it was made
-- of (the assignment is a function of both). Offsets are materialised per partition from the
-- group's creation (and for partitions added later).

CREATE TABLE {{schema}}.topics (
  name         text        COLLATE "C" PRIMARY KEY,
  partitions   integer     NOT NULL CHECK (partitions > 0),
  max_age_ms   bigint,                   -- retention by age; NULL: none
  max_bytes    bigint,                   -- retention by bytes per partition; NULL: none
  created_at   timestamptz NOT NULL
);

CREATE TABLE {{schema}}.topic_partitions (
  topic         text        COLLATE "C" NOT NULL,
  partition     integer     NOT NULL,
  start_offset  bigint      NOT NULL DEFAULT 0,   -- oldest retained offset
  next_offset   bigint      NOT NULL DEFAULT 0,   -- the highWater: next offset to assign
  bytes         bigint      NOT NULL DEFAULT 0,   -- bytes of the retained messages
  seek_time     timestamptz,                      -- the newest message's seek_time (NULL: none yet)
  PRIMARY KEY (topic, partition),
  CHECK (start_offset <= next_offset)
);

CREATE TABLE {{schema}}.topic_messages (
  topic            text        COLLATE "C" NOT NULL,
  partition        integer     NOT NULL,
  "offset"         bigint      NOT NULL,
  bytes            integer     NOT NULL,   -- key + value + headers, UTF-8
  published_at     timestamptz NOT NULL,
  seek_time        timestamptz NOT NULL,
  key              text,
  idempotency_key  text        COLLATE "C",
  headers          text,
  value            text        NOT NULL,
  PRIMARY KEY (topic, partition, "offset")
);
CREATE UNIQUE INDEX topic_messages_idem_idx ON {{schema}}.topic_messages (topic, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE {{schema}}.consumer_groups (
  topic        text        COLLATE "C" NOT NULL,
  name         text        COLLATE "C" NOT NULL,
  generation   bigint      NOT NULL,
  members      text[]      COLLATE "C" NOT NULL,   -- live member ids of the generation, sorted
  partitions   integer     NOT NULL,               -- the topic's partition count in the generation
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (topic, name)
);

CREATE TABLE {{schema}}.group_members (
  topic        text        COLLATE "C" NOT NULL,
  group_name   text        COLLATE "C" NOT NULL,
  member_id    text        COLLATE "C" NOT NULL,
  expires_at   timestamptz NOT NULL,
  joined_at    timestamptz NOT NULL,
  PRIMARY KEY (topic, group_name, member_id)
);

CREATE TABLE {{schema}}.group_offsets (
  topic         text        COLLATE "C" NOT NULL,
  group_name    text        COLLATE "C" NOT NULL,
  partition     integer     NOT NULL,
  committed     bigint      NOT NULL,   -- the next offset the group reads
  committed_at  timestamptz NOT NULL,
  PRIMARY KEY (topic, group_name, partition)
);
