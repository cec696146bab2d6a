-- Environments (issue 30, README "Environments"): env vars, secrets and resource-binding
-- overrides scoped to where they apply, and the per-project bypass token for protected previews.
--
-- project_env: scope is 'all', 'production', 'preview' or 'alias:<name>'; kind is 'var',
-- 'secret' (value sealed like project_secrets) or 'kv' / 'sql' / 'bucket' (value: a resource id
-- the project's server code gets under `name` on preview URLs instead of its deployment's own).
CREATE TABLE project_env (
  project_id TEXT NOT NULL,
  scope      TEXT NOT NULL,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('var', 'secret', 'kv', 'sql', 'bucket')),
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, scope, name)
);
-- env_refs: JSON {target: digest} of the resolved env each target gets (`production`, `preview`,
-- `alias:<name>`), copied into the routing record; the resolved envs are in BLOBS under
-- envs/<projectId>/<digest>.json. bypass_hash: SHA-256 hex of the bypass token, NULL for none.
ALTER TABLE projects ADD COLUMN env_refs TEXT;
ALTER TABLE projects ADD COLUMN bypass_hash TEXT;
