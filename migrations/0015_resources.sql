-- Tenant storage resources (issue 27): KV namespaces now; SQL databases and buckets later use
-- the same rows with another `kind`. Access follows projects (src/domain/resource.rs
-- `ResourceScope`): the root sees all; a scoped token sees what it created and what is bound to
-- a project it can reach.
--
-- title: unique among the live resources of one kind created by one principal (wrangler resolves
-- names per account; two tenants using the same title never share a resource).
-- deleted_at: set by DELETE; the row stays so the id is never reused and the data removal can be
-- resumed from it.
-- purged_at: set once DELETE has removed the last of its data (KV: every `<id>:` key of TENANT_KV);
-- until then another DELETE continues the removal.
CREATE TABLE resources (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('kv', 'sql', 'bucket')),
  title       TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER,
  purged_at   INTEGER
);
CREATE UNIQUE INDEX resources_title ON resources (kind, created_by, title) WHERE deleted_at IS NULL;
CREATE INDEX resources_by_kind ON resources (kind, created_at) WHERE deleted_at IS NULL;

-- Which deployment binds which resource under which env name. A preview or rollback serves an
-- old deployment, so its rows are what it binds; the project column lets access checks and the
-- "bound to a project you can reach" rule avoid a join through deployments.
CREATE TABLE resource_bindings (
  deployment_id TEXT NOT NULL,
  name          TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  project_id    TEXT NOT NULL,
  PRIMARY KEY (deployment_id, name)
);
CREATE INDEX resource_bindings_by_resource ON resource_bindings (resource_id, project_id);
