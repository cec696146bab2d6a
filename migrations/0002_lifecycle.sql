-- Lifecycle v2: what a project serves is one compare-and-swap on its row (generation), with
-- ordered activation, staged deploys, aliases, retention and asset GC. Times are epoch ms.
PRAGMA defer_foreign_keys = true;

ALTER TABLE projects ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;       -- bumped by every swap
ALTER TABLE projects ADD COLUMN routed_generation INTEGER NOT NULL DEFAULT 0; -- confirmed in ROUTES_KV
ALTER TABLE projects ADD COLUMN activated_seq INTEGER NOT NULL DEFAULT 0;    -- highest seq ever live
ALTER TABLE projects ADD COLUMN deploy_seq INTEGER NOT NULL DEFAULT 0;       -- last seq handed out
ALTER TABLE projects ADD COLUMN auto_activate INTEGER NOT NULL DEFAULT 1;    -- 0 = locked publishing
ALTER TABLE projects ADD COLUMN swap_token TEXT;                             -- marks the last swap
ALTER TABLE projects ADD COLUMN purge_requested_at INTEGER;                  -- delete asked for a purge
ALTER TABLE projects ADD COLUMN purged_at INTEGER;                           -- purge finished
ALTER TABLE projects ADD COLUMN gc_at INTEGER;                               -- last retention/GC run
CREATE INDEX projects_lagging ON projects (id) WHERE routed_generation < generation;

-- deployments gains 'expired', a per-project sequence and first-activation time. SQLite cannot
-- alter a CHECK constraint, so the table is rebuilt, and with it the two tables that reference
-- it (dropping a referenced parent would count as a foreign-key violation at commit).
CREATE TABLE deployments_v2 (
  id                TEXT PRIMARY KEY,
  project_id        TEXT NOT NULL REFERENCES projects (id),
  seq               INTEGER NOT NULL DEFAULT 0,       -- creation order within the project
  status            TEXT NOT NULL CHECK (status IN
                      ('queued', 'in_progress', 'completed', 'failed', 'superseded', 'rolled_back', 'expired')),
  current_step      TEXT,
  progress          INTEGER NOT NULL DEFAULT 0,
  upload_session_id TEXT,
  config            TEXT NOT NULL DEFAULT '{}',
  has_server_code   INTEGER NOT NULL DEFAULT 0,
  stats             TEXT NOT NULL DEFAULT '{}',
  error             TEXT,                             -- a sentence for users (never raw binding text)
  error_code        TEXT,                             -- its stable machine code
  attempts          INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  finished_at       INTEGER,
  activated_at      INTEGER,                          -- first time it went live
  collected_at      INTEGER                           -- expired and its manifest/bundle deleted
);
INSERT INTO deployments_v2 (id, project_id, seq, status, current_step, progress, upload_session_id, config,
  has_server_code, stats, error, attempts, created_at, updated_at, finished_at, activated_at)
SELECT d.id, d.project_id,
  (SELECT COUNT(*) FROM deployments e WHERE e.project_id = d.project_id
     AND (e.created_at < d.created_at OR (e.created_at = d.created_at AND e.id <= d.id))),
  d.status, d.current_step, d.progress, d.upload_session_id, d.config, d.has_server_code, d.stats, d.error,
  d.attempts, d.created_at, d.updated_at, d.finished_at,
  CASE WHEN d.status IN ('completed', 'superseded') THEN d.finished_at END
FROM deployments d;

CREATE TABLE deployment_steps_v2 (
  deployment_id TEXT NOT NULL REFERENCES deployments_v2 (id),
  step          TEXT NOT NULL CHECK (step IN ('validate', 'stage', 'verify', 'activate', 'cleanup')),
  status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
  started_at    INTEGER,
  finished_at   INTEGER,
  error         TEXT,
  error_code    TEXT,
  PRIMARY KEY (deployment_id, step)
);
INSERT INTO deployment_steps_v2 (deployment_id, step, status, started_at, finished_at, error)
SELECT deployment_id, step, status, started_at, finished_at, error FROM deployment_steps;

CREATE TABLE deployment_logs_v2 (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT NOT NULL REFERENCES deployments_v2 (id),
  at            INTEGER NOT NULL,
  level         TEXT NOT NULL,
  step          TEXT,
  message       TEXT NOT NULL
);
INSERT INTO deployment_logs_v2 (id, deployment_id, at, level, step, message)
SELECT id, deployment_id, at, level, step, message FROM deployment_logs;

DROP TABLE deployment_logs;
DROP TABLE deployment_steps;
DROP TABLE deployments;
-- Renaming the parent rewrites the children's REFERENCES clauses to the final name.
ALTER TABLE deployments_v2 RENAME TO deployments;
ALTER TABLE deployment_steps_v2 RENAME TO deployment_steps;
ALTER TABLE deployment_logs_v2 RENAME TO deployment_logs;
CREATE INDEX deployments_by_project ON deployments (project_id, seq DESC);
CREATE INDEX deployments_pending ON deployments (updated_at) WHERE status IN ('queued', 'in_progress');
CREATE INDEX deployment_logs_by_deployment ON deployment_logs (deployment_id, id);

UPDATE projects SET
  deploy_seq = (SELECT COUNT(*) FROM deployments WHERE project_id = projects.id),
  activated_seq = COALESCE((SELECT seq FROM deployments WHERE id = projects.active_deployment_id), 0);

-- Named, movable pointers (`staging`, `pr-42`), served at <alias>--<slug>.<domain>.
CREATE TABLE aliases (
  project_id    TEXT NOT NULL REFERENCES projects (id),
  name          TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (project_id, name)
);
CREATE INDEX aliases_by_deployment ON aliases (deployment_id);

-- GC: when a sweep first found the body unreferenced by every kept deployment and live upload.
ALTER TABLE project_assets ADD COLUMN unreferenced_since INTEGER;
