-- Gradual rollouts (issue 30, README "Gradual rollouts"): the project's current or last
-- rollout as JSON (src/lifecycle/rollout.rs `Rollout`: deploymentId, fromDeploymentId, steps,
-- step, status running|paused|completed|aborted, times, max5xxRatio, reason). NULL: none ever.
-- Written only by the project row's generation swap, like active_deployment_id, so the
-- routing record (which carries {to, percent}) is published from it the same way.
ALTER TABLE projects ADD COLUMN rollout TEXT;
