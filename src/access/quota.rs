//! Quotas and size limits (pure): their values from vars (with SPEC.md §8's defaults), fixed
//! windows, and the 429/413 errors that name the limit. The counters live in D1
//! (`usage_counters`, see `platform::store::d1_access`).

use crate::error::ApiError;

/// A rate: at most `limit` units of `metric` per `window_secs`, per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub metric: &'static str,
    /// Human name of the unit, for messages ("deploys", "upload bytes").
    pub unit: &'static str,
    pub limit: u64,
    pub window_secs: u64,
}

impl Rate {
    /// Start of the fixed window holding `now_ms`.
    pub fn window_start(&self, now_ms: u64) -> u64 {
        let w = self.window_secs.max(1) * 1000;
        now_ms - now_ms % w
    }

    /// Whole seconds until the window holding `now_ms` ends (at least 1).
    pub fn retry_after(&self, now_ms: u64) -> u32 {
        let end = self.window_start(now_ms) + self.window_secs.max(1) * 1000;
        end.saturating_sub(now_ms).div_ceil(1000).clamp(1, u32::MAX as u64) as u32
    }

    /// The 429 for `subject` ("this token", "this project").
    pub fn exceeded(&self, subject: &str, now_ms: u64) -> ApiError {
        ApiError::TooManyRequests {
            retry_after_secs: self.retry_after(now_ms),
            reason: format!(
                "Quota exceeded: {subject} may use {} {} per {}",
                self.limit,
                self.unit,
                window_name(self.window_secs)
            ),
        }
    }
}

fn window_name(secs: u64) -> String {
    match secs {
        3600 => "hour".into(),
        86400 => "day".into(),
        s => format!("{s} s"),
    }
}

/// Every quota and limit the operator can set (wrangler.toml `[vars]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Live projects a token may have created (`QUOTA_PROJECTS_PER_TOKEN`).
    pub projects_per_token: u64,
    /// Deploys per window, per token and per project (`QUOTA_DEPLOYS`, `QUOTA_DEPLOYS_WINDOW_SECS`).
    pub deploys: Rate,
    /// Bytes sent for upload per window, per token and per project (`QUOTA_UPLOAD_BYTES`,
    /// `QUOTA_UPLOAD_WINDOW_SECS`); counted when a session is opened, for the files it needs.
    pub upload_bytes: Rate,
    /// Files in one deployment (`MAX_FILES_PER_DEPLOYMENT`, default 20,000; at most the hard
    /// 100,000, Cloudflare's Workers Paid static-asset limit).
    pub max_files: u64,
    /// Bytes of one file (`MAX_FILE_BYTES`; at most the hard 100 MiB: KV holds up to 25 MiB,
    /// BLOBS the rest).
    pub max_file_bytes: u64,
    /// Sum of file sizes in one deployment (`MAX_DEPLOYMENT_BYTES`).
    pub max_deployment_bytes: u64,
    /// Server code bytes and modules (`MAX_SERVER_CODE_BYTES`, `MAX_SERVER_MODULES`).
    pub max_server_code_bytes: u64,
    pub max_server_modules: u64,
    /// Custom domains a token may have attached (`MAX_DOMAINS_PER_ACCOUNT`), and of those at
    /// most `pending_domains_per_account` unverified at once (`MAX_PENDING_DOMAINS_PER_ACCOUNT`).
    pub domains_per_account: u64,
    pub pending_domains_per_account: u64,
}

pub const MIB: u64 = 1024 * 1024;

impl Quotas {
    /// Reads the vars through `var`; a missing or unreadable value keeps the default, and the
    /// hard caps the code enforces anyway cannot be raised.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Quotas {
        let n = |name: &str, default: u64| {
            var(name).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(default)
        };
        let capped = |name: &str, cap: u64| n(name, cap).min(cap);
        Quotas {
            projects_per_token: n("QUOTA_PROJECTS_PER_TOKEN", 100),
            deploys: Rate {
                metric: "deploys",
                unit: "deploys",
                limit: n("QUOTA_DEPLOYS", 60),
                window_secs: n("QUOTA_DEPLOYS_WINDOW_SECS", 3600).max(1),
            },
            upload_bytes: Rate {
                metric: "upload_bytes",
                unit: "upload bytes",
                limit: n("QUOTA_UPLOAD_BYTES", 10 * 1024 * MIB),
                window_secs: n("QUOTA_UPLOAD_WINDOW_SECS", 86400).max(1),
            },
            max_files: n("MAX_FILES_PER_DEPLOYMENT", crate::deploy::DEFAULT_MAX_FILES as u64)
                .min(crate::deploy::MAX_FILES as u64),
            max_file_bytes: capped("MAX_FILE_BYTES", crate::deploy::MAX_FILE_BYTES),
            max_deployment_bytes: n("MAX_DEPLOYMENT_BYTES", 2 * 1024 * MIB),
            max_server_code_bytes: capped("MAX_SERVER_CODE_BYTES", crate::deploy::MAX_BUNDLE_BYTES as u64),
            max_server_modules: capped("MAX_SERVER_MODULES", crate::deploy::MAX_MODULES as u64),
            domains_per_account: n("MAX_DOMAINS_PER_ACCOUNT", 100),
            pending_domains_per_account: n("MAX_PENDING_DOMAINS_PER_ACCOUNT", 20),
        }
    }

    /// Whether a token that has `total` custom domains attached, `pending` of them unverified,
    /// may attach one more. Like the project quota these count what exists, so the 429 frees up
    /// when a domain is deleted, verified or expires, not with time.
    pub fn check_domain_caps(&self, total: u64, pending: u64) -> Result<(), ApiError> {
        let over = |reason: String| Err(ApiError::TooManyRequests { retry_after_secs: 3600, reason });
        if total >= self.domains_per_account {
            return over(format!(
                "Quota exceeded: this token may have {} custom domains (MAX_DOMAINS_PER_ACCOUNT); \
                 delete one first",
                self.domains_per_account
            ));
        }
        if pending >= self.pending_domains_per_account {
            return over(format!(
                "Quota exceeded: this token may have {} pending (unverified) custom domains at once \
                 (MAX_PENDING_DOMAINS_PER_ACCOUNT); verify or delete one first",
                self.pending_domains_per_account
            ));
        }
        Ok(())
    }

    /// The per-deployment size limits for a manifest of `files` files, `total` bytes and largest
    /// file `largest`: a 413 naming the limit.
    pub fn check_manifest(&self, files: u64, total: u64, largest: u64) -> Result<(), ApiError> {
        let too_large = |what: &str, limit: u64| Err(ApiError::PayloadTooLarge { what: what.into(), limit });
        if files > self.max_files {
            return too_large("Files per deployment", self.max_files);
        }
        if largest > self.max_file_bytes {
            return too_large("File size in bytes", self.max_file_bytes);
        }
        if total > self.max_deployment_bytes {
            return too_large("Deployment size in bytes", self.max_deployment_bytes);
        }
        Ok(())
    }

    pub fn check_server_code(&self, modules: u64, bytes: u64) -> Result<(), ApiError> {
        if modules > self.max_server_modules {
            return Err(ApiError::PayloadTooLarge {
                what: "Server code modules".into(),
                limit: self.max_server_modules,
            });
        }
        if bytes > self.max_server_code_bytes {
            return Err(ApiError::PayloadTooLarge {
                what: "Server code size in bytes".into(),
                limit: self.max_server_code_bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| owned.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let q = Quotas::from_vars(vars(&[]));
        assert_eq!(q.max_files, 20_000);
        assert_eq!(q.max_file_bytes, 100 * MIB);
        assert_eq!(q.max_server_code_bytes, 10 * MIB);
        assert_eq!(q.max_server_modules, 100);
        assert_eq!(q.deploys.window_secs, 3600);
        assert_eq!(q.upload_bytes.window_secs, 86400);
    }

    #[test]
    fn vars_lower_limits_but_cannot_raise_hard_caps() {
        let q = Quotas::from_vars(vars(&[
            ("MAX_FILES_PER_DEPLOYMENT", "10"),
            ("MAX_FILE_BYTES", "999999999999"),
            ("QUOTA_DEPLOYS", "2"),
            ("QUOTA_DEPLOYS_WINDOW_SECS", "0"),
            ("QUOTA_UPLOAD_BYTES", "lots"),
        ]));
        assert_eq!(q.max_files, 10);
        assert_eq!(q.max_file_bytes, 100 * MIB);
        assert_eq!(q.deploys.limit, 2);
        // The file limit may be raised to Cloudflare's paid 100,000, never past it.
        let raised = |v: &str| Quotas::from_vars(vars(&[("MAX_FILES_PER_DEPLOYMENT", v)])).max_files;
        assert_eq!(raised("100000"), 100_000);
        assert_eq!(raised("50000"), 50_000);
        assert_eq!(raised("1000000"), 100_000);
        assert_eq!(q.deploys.window_secs, 1);
        assert_eq!(q.upload_bytes.limit, 10 * 1024 * MIB);
    }

    #[test]
    fn domain_caps_name_the_limit_that_was_hit() {
        let q = Quotas::from_vars(vars(&[]));
        assert_eq!((q.domains_per_account, q.pending_domains_per_account), (100, 20));
        let q = Quotas::from_vars(vars(&[
            ("MAX_DOMAINS_PER_ACCOUNT", "5"),
            ("MAX_PENDING_DOMAINS_PER_ACCOUNT", "2"),
        ]));
        assert!(q.check_domain_caps(0, 0).is_ok());
        assert!(q.check_domain_caps(4, 1).is_ok(), "the fifth, second pending, is fine");
        let pending = q.check_domain_caps(3, 2).unwrap_err();
        assert_eq!(pending.status(), 429);
        assert!(pending.message().contains("2 pending"), "{}", pending.message());
        assert!(pending.message().contains("MAX_PENDING_DOMAINS_PER_ACCOUNT"));
        let total = q.check_domain_caps(5, 0).unwrap_err();
        assert_eq!(total.status(), 429);
        assert!(total.message().contains("5 custom domains"), "{}", total.message());
        assert!(total.message().contains("MAX_DOMAINS_PER_ACCOUNT"));
        assert!(q.check_domain_caps(9, 9).unwrap_err().message().contains("5 custom domains"));
        assert_eq!(total.headers(), vec![("retry-after", "3600".to_string())]);
    }

    #[test]
    fn windows_and_retry_after() {
        let r = Rate { metric: "deploys", unit: "deploys", limit: 3, window_secs: 3600 };
        assert_eq!(r.window_start(7_200_000 + 5), 7_200_000);
        assert_eq!(r.retry_after(7_200_000), 3600);
        assert_eq!(r.retry_after(7_200_000 + 3_599_999), 1);
        assert_eq!(r.retry_after(7_200_000 + 1_800_500), 1800);
        let e = r.exceeded("this project", 7_200_000);
        assert_eq!(e.status(), 429);
        assert_eq!(e.headers(), vec![("retry-after", "3600".to_string())]);
        assert!(e.message().contains("3 deploys per hour"), "{}", e.message());
    }

    #[test]
    fn size_limits_name_themselves() {
        let q =
            Quotas::from_vars(vars(&[("MAX_FILES_PER_DEPLOYMENT", "2"), ("MAX_DEPLOYMENT_BYTES", "100")]));
        assert!(q.check_manifest(2, 100, 50).is_ok());
        let e = q.check_manifest(3, 1, 1).unwrap_err();
        assert_eq!((e.status(), e.message()), (413, "Files per deployment exceeds the limit of 2".into()));
        assert_eq!(q.check_manifest(1, 101, 1).unwrap_err().status(), 413);
        assert!(q.check_manifest(1, 1, 26 * MIB).is_ok(), "files over 25 MiB go to BLOBS");
        assert_eq!(q.check_manifest(1, 1, 100 * MIB + 1).unwrap_err().status(), 413);
        assert!(q.check_server_code(101, 1).is_err());
        assert!(q.check_server_code(1, 11 * MIB).is_err());
        assert!(q.check_server_code(100, 10 * MIB).is_ok());
    }
}
