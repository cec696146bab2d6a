-- GC and uploads agree on a body through two leases on its row (lifecycle::retention):
-- `deleting_at` is GC's claim (set: the body may be gone, the row counts as missing),
-- `storing_at` an upload's lease (GC claims no row an upload is storing).
ALTER TABLE project_assets ADD COLUMN deleting_at INTEGER;
ALTER TABLE project_assets ADD COLUMN storing_at INTEGER;
