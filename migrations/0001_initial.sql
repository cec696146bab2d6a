-- Flotilla schema v1: the source of truth (SPEC.md §1). Times are epoch milliseconds.

CREATE TABLE projects (
  id                   TEXT PRIMARY KEY,              -- UUID v4
  slug                 TEXT NOT NULL UNIQUE,          -- DNS label; stays reserved after delete
  name                 TEXT NOT NULL,
  enabled              INTEGER NOT NULL DEFAULT 1,
  outbound             TEXT NOT NULL DEFAULT 'block' CHECK (outbound IN ('allow', 'block')),
  active_deployment_id TEXT,
  has_server_code      INTEGER NOT NULL DEFAULT 0,
  assets_count         INTEGER NOT NULL DEFAULT 0,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL,
  deleted_at           INTEGER                        -- set on delete; row kept until cascade ends
);
-- Newest-first keyset pagination over live projects.
CREATE INDEX projects_live_by_created ON projects (created_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE deployments (
  id                TEXT PRIMARY KEY,                 -- UUID v4
  project_id        TEXT NOT NULL REFERENCES projects (id),
  status            TEXT NOT NULL CHECK (status IN
                      ('queued', 'in_progress', 'completed', 'failed', 'superseded', 'rolled_back')),
  current_step      TEXT,
  progress          INTEGER NOT NULL DEFAULT 0,       -- 0..100
  upload_session_id TEXT,
  config            TEXT NOT NULL DEFAULT '{}',       -- validated asset config + rules (JSON)
  has_server_code   INTEGER NOT NULL DEFAULT 0,
  stats             TEXT NOT NULL DEFAULT '{}',       -- deployedAssets, newAssets, skippedAssets, bytes
  error             TEXT,
  attempts          INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  finished_at       INTEGER
);
CREATE INDEX deployments_by_project ON deployments (project_id, created_at DESC);

-- One row per workflow step, updated in place as the step runs.
CREATE TABLE deployment_steps (
  deployment_id TEXT NOT NULL REFERENCES deployments (id),
  step          TEXT NOT NULL CHECK (step IN ('validate', 'stage', 'verify', 'activate', 'cleanup')),
  status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
  started_at    INTEGER,
  finished_at   INTEGER,
  error         TEXT,
  PRIMARY KEY (deployment_id, step)
);

CREATE TABLE deployment_logs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT NOT NULL REFERENCES deployments (id),
  at            INTEGER NOT NULL,
  level         TEXT NOT NULL,
  step          TEXT,
  message       TEXT NOT NULL
);
CREATE INDEX deployment_logs_by_deployment ON deployment_logs (deployment_id, id);

CREATE TABLE domains (
  hostname   TEXT PRIMARY KEY,                        -- unique across projects
  project_id TEXT NOT NULL REFERENCES projects (id),
  created_at INTEGER NOT NULL
);
CREATE INDEX domains_by_project ON domains (project_id);

-- Three-phase upload sessions. The manifest itself lives in R2 (it can exceed D1's row size);
-- progress is one row per missing hash so concurrent bucket uploads never lose updates.
CREATE TABLE upload_sessions (
  id            TEXT PRIMARY KEY,
  project_id    TEXT NOT NULL REFERENCES projects (id),
  manifest_key  TEXT NOT NULL,
  file_count    INTEGER NOT NULL,                  -- paths in the manifest
  unique_count  INTEGER NOT NULL,                  -- distinct hashes
  missing_count INTEGER NOT NULL,                  -- distinct hashes the project did not store
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX upload_sessions_by_project ON upload_sessions (project_id);

CREATE TABLE upload_session_files (
  session_id   TEXT NOT NULL REFERENCES upload_sessions (id),
  hash         TEXT NOT NULL,
  size         INTEGER NOT NULL,
  content_type TEXT,                               -- of the first path with this hash (KV metadata)
  uploaded_at  INTEGER,
  PRIMARY KEY (session_id, hash)
);

-- Which content hashes a project stores in ASSETS_KV (batched "what is missing" lookups).
CREATE TABLE project_assets (
  project_id  TEXT NOT NULL REFERENCES projects (id),
  hash        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (project_id, hash)
);

CREATE TABLE audit_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  request_id TEXT,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  project_id TEXT,
  detail     TEXT
);
CREATE INDEX audit_log_by_project ON audit_log (project_id, at);
