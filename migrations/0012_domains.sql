-- Custom-domain squatting limits: the per-token caps count a principal's domains (all, and the
-- pending ones) on every attach, and the cron finds pending domains past their window by age.
CREATE INDEX domains_by_creator ON domains (created_by, status);
CREATE INDEX domains_pending_by_age ON domains (created_at) WHERE status = 'pending';
