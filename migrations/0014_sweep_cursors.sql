-- Where the cron's bounded walks resume (e.g. the host-record reconciliation): one row per
-- walk, absent when the walk starts over from the beginning.
CREATE TABLE IF NOT EXISTS sweep_cursors (
  name TEXT PRIMARY KEY,
  cursor TEXT NOT NULL
);
