-- The wrangler-compatible API (/client/v4): wrangler names assets by its own hash (BLAKE3 over
-- base64 + extension, 32 hex); each verified upload records which SHA-256 content address it
-- was stored under, so a redeploy finds what the project already has and uploads nothing.
CREATE TABLE wrangler_assets (
  project_id  TEXT NOT NULL REFERENCES projects (id),
  hash        TEXT NOT NULL,                       -- wrangler's hash
  sha256      TEXT NOT NULL,                       -- the body's key in ASSETS_KV / project_assets
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (project_id, hash)
);

-- Project secrets (wrangler `secret put`, `secret_text` bindings): AES-256-GCM under a key
-- derived from the SECRETS_KEY platform secret, bound to project and name. Never returned.
CREATE TABLE project_secrets (
  project_id  TEXT NOT NULL REFERENCES projects (id),
  name        TEXT NOT NULL,
  ciphertext  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (project_id, name)
);
