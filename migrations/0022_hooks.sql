-- Webhooks and log drains (issue 29 items 5 and 6): per-project receivers, the deliveries log
-- with every attempt's response code, and each drain's bounded backlog of NDJSON lines.

-- One receiver. kind: 'webhook' | 'drain'. topics: JSON array of events (webhook) or sources
-- (drain). secret: the whsec_ signing secret, sealed with SECRETS_KEY (shown once at creation).
-- sampling: share of invocation log lines a drain takes. dropped: lines the drain's backlog
-- dropped, oldest first, when it was full. flush_at: when the drain's pending flush job was
-- queued (NULL: none). last_status: the receiver's last answer (0: no answer).
CREATE TABLE hooks (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  url TEXT NOT NULL,
  topics TEXT NOT NULL,
  secret TEXT NOT NULL,
  sampling REAL NOT NULL DEFAULT 1,
  dropped INTEGER NOT NULL DEFAULT 0,
  flush_at INTEGER,
  last_status INTEGER,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
CREATE INDEX hooks_by_project ON hooks (project_id, kind);

-- One event sent to one webhook. status: 'pending' | 'succeeded' | 'failed'.
CREATE TABLE hook_deliveries (
  id TEXT PRIMARY KEY,
  hook_id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX hook_deliveries_by_hook ON hook_deliveries (hook_id, created_at);

-- Every send of a delivery. response_status NULL: no answer (network error, timeout).
CREATE TABLE hook_attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  response_status INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- Lines waiting for a drain, oldest first by id.
CREATE TABLE drain_backlog (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hook_id TEXT NOT NULL,
  line TEXT NOT NULL
);
CREATE INDEX drain_backlog_by_hook ON drain_backlog (hook_id, id);
