-- The visitor path looks a preview deployment up by id prefix (`<dep8>--<slug>`,
-- src/routing/preview_lookup.sql) among a project's ready deployments. Anyone can send such a
-- host, so the lookup must be one index seek, not a scan of the project's deployments. A
-- partial index over exactly the ready statuses (lifecycle::Status::READY): the query repeats
-- this condition word for word, which is how SQLite knows the index applies.
CREATE INDEX deployments_ready_by_project ON deployments (project_id, id)
  WHERE status IN ('completed', 'superseded', 'rolled_back');
