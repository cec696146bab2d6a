-- Where the cron's bounded walks resume (e.g. the host-record reconciliation): one row per
-- walk, absent when the walk starts over from the beginning.
CREATE TABLE IF NOT EXISTS sweep_cursors (
  name TEXT PRIMARY KEY,
  cursor TEXT NOT NULL
);

-- A project `wrangler deploy` created for a new Worker name, until its first script upload is
-- accepted: if that upload is refused, the project (with no deployment) is deleted and its purge
-- removes the row itself rather than keeping a tombstone, so the name stays free.
ALTER TABLE projects ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0;
