-- Kept logs of server code (issue 29): one row per invocation, written after the response by
-- the InvocationTail entrypoint (src/js/main.mjs) from the Worker Loader's tail events, cut to
-- bounded records by src/observe/logs.rs. Request headers are never stored.
-- at: when the invocation started (ms). level: info | warn | error (the worst of the run).
-- detail: JSON {logs, exceptions, droppedLines}. bytes: what the row costs, for the per-project cap.
-- The cron deletes rows older than LOG_RETENTION_DAYS, and a project's oldest rows beyond
-- LOG_MAX_BYTES_PER_PROJECT, in bounded batches.
CREATE TABLE invocation_logs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id    TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  at            INTEGER NOT NULL,
  outcome       TEXT NOT NULL,
  method        TEXT NOT NULL,
  url           TEXT NOT NULL,
  status        INTEGER,
  wall_ms       INTEGER NOT NULL,
  cpu_ms        INTEGER NOT NULL,
  level         TEXT NOT NULL,
  detail        TEXT NOT NULL,
  bytes         INTEGER NOT NULL
);
CREATE INDEX invocation_logs_by_project ON invocation_logs (project_id, id);
CREATE INDEX invocation_logs_by_time ON invocation_logs (at);
