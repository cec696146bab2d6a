SELECT id FROM deployments
WHERE project_id = ?1 AND id >= ?2 AND id < ?3
  AND status IN ('completed', 'superseded', 'rolled_back')
LIMIT 2
