-- Spindle on PostgreSQL, schema version 4: the job table's identifier columns compare bytewise
-- (COLLATE "C"). Ids, queue names and unique keys are opaque identifiers: nothing orders them
-- for people to read, and under a linguistic collation (a database created with en_US.UTF-8,
-- or even C.UTF-8 on PostgreSQL 15) every B-tree step on them goes through strcoll. Measured on
-- the claim/finalize path: probing 500 primary keys took about twice as long as with "C".
-- Equality is unchanged (both collations are deterministic), so no row changes meaning. The
-- table is not rewritten, but the six indexes on these columns are rebuilt inside the migration
-- transaction under an ACCESS EXCLUSIVE lock: reads and writes of the job table wait (about 4 s
-- per million rows on the development VM; see docs/operations.md, upgrading).

ALTER TABLE {{schema}}.jobs
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN queue TYPE text COLLATE "C",
  ALTER COLUMN unique_key TYPE text COLLATE "C";
