-- Which principal created a project (`root` or a token id): the per-token project quota counts
-- the live projects a token created.
ALTER TABLE projects ADD COLUMN created_by TEXT NOT NULL DEFAULT 'root';
CREATE INDEX projects_by_creator ON projects (created_by) WHERE deleted_at IS NULL;
