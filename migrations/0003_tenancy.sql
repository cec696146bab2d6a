-- Tenancy and access (SPEC.md §2, §3, §8): verified custom domains, scoped API tokens, the audit
-- trail, quota counters and protected previews. Times are epoch milliseconds.

-- Custom domains: `pending` until the TXT proof `_flotilla-challenge.<hostname>` is found.
ALTER TABLE domains ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';  -- pending | active
ALTER TABLE domains ADD COLUMN verification TEXT NOT NULL DEFAULT '';   -- the TXT value to publish
ALTER TABLE domains ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN verified_at INTEGER;
ALTER TABLE domains ADD COLUMN checked_at INTEGER;                      -- last verify attempt
ALTER TABLE domains ADD COLUMN last_error TEXT;                         -- why the last attempt failed
ALTER TABLE domains ADD COLUMN saas_id TEXT;                            -- Cloudflare for SaaS custom_hostname id
ALTER TABLE domains ADD COLUMN ssl_status TEXT;                         -- as reported by Cloudflare for SaaS
ALTER TABLE domains ADD COLUMN created_by TEXT NOT NULL DEFAULT 'root'; -- principal

-- Scoped API tokens. Only a SHA-256 of the secret is stored; the secret is shown once.
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,                -- tok_<hex>; appears in the audit trail
  name         TEXT NOT NULL,
  secret_hash  TEXT NOT NULL UNIQUE,            -- lowercase hex SHA-256 of the whole secret
  hint         TEXT NOT NULL,                   -- first characters of the secret, for recognition
  projects     TEXT NOT NULL,                   -- JSON: "*" or an array of project ids
  scopes       TEXT NOT NULL,                   -- JSON array of read|deploy|manage|admin
  created_by   TEXT NOT NULL,                   -- principal that minted it
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_tokens_by_created ON api_tokens (created_at DESC, id DESC);

-- The audit trail gains the HTTP outcome of each mutating call.
ALTER TABLE audit_log ADD COLUMN status INTEGER;                        -- HTTP status answered
ALTER TABLE audit_log ADD COLUMN outcome TEXT;                          -- ok | the error code
CREATE INDEX audit_log_newest ON audit_log (id DESC);
CREATE INDEX audit_log_by_project_id ON audit_log (project_id, id DESC);

-- Fixed-window quota counters: (subject, metric, window start) -> amount used.
CREATE TABLE usage_counters (
  subject      TEXT NOT NULL,                   -- token:<id> | project:<id> | root
  metric       TEXT NOT NULL,                   -- deploys | upload_bytes | ...
  window_start INTEGER NOT NULL,
  amount       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (subject, metric, window_start)
);

-- Who opened an upload session: only that principal may finish it.
ALTER TABLE upload_sessions ADD COLUMN principal TEXT NOT NULL DEFAULT 'root';
-- Who created a deployment.
ALTER TABLE deployments ADD COLUMN created_by TEXT NOT NULL DEFAULT 'root';
-- Protected previews: public | link (signed, expiring preview links).
ALTER TABLE projects ADD COLUMN preview_access TEXT NOT NULL DEFAULT 'public';
