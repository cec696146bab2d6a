//! The Cache API of tenant code (`caches.default`, `caches.open(name)`), pure: which cache of
//! the platform a tenant's cache is, and which `match`/`put`/`delete` calls reach it. Tenant
//! isolates started by the Worker Loader have a `caches` object whose every call fails ("No
//! Cache was configured"); src/js/tenant/cache.js replaces it with one that forwards to our
//! `TenantCache` entrypoint (src/js/main.mjs), whose props name the project. That entrypoint
//! uses the platform's own Cache API under the name made here, so one project can never read
//! another's entries, whatever URL or cache name it asks for.
//!
//! Cloudflare's rules, with its messages: `put` refuses a non-GET request, a 206 response and
//! `Vary: *` (TypeError); a response that says `Cache-Control: no-store` or `private`, or sets a
//! cookie without allowing it to be cached, is silently not stored; `match` and `delete` only
//! see GET requests unless `ignoreMethod` is set. Expiry follows the response's Cache-Control
//! (the platform cache applies it).

/// Longest cache name `caches.open(name)` accepts (UTF-8 bytes).
pub const CACHE_NAME_MAX: usize = 256;

/// The platform cache that holds `project_id`'s cache `name` (`None`: `caches.default`).
/// Named caches and the default one can never share a name (`:n:` versus `:default`), and
/// every name starts with the project's own prefix.
pub fn cache_name(project_id: &str, name: Option<&str>) -> Result<String, String> {
    if project_id.is_empty() || project_id.contains(':') {
        return Err("cache binding without a project".into());
    }
    match name {
        None => Ok(format!("tenant:{project_id}:default")),
        Some(n) if n.len() > CACHE_NAME_MAX => {
            Err(format!("Cache name is too long (at most {CACHE_NAME_MAX} bytes)."))
        }
        Some(n) => Ok(format!("tenant:{project_id}:n:{n}")),
    }
}

/// Whether `match`/`delete` with a request of `method` can find anything.
pub fn matches_method(method: &str, ignore_method: bool) -> bool {
    ignore_method || method.eq_ignore_ascii_case("GET")
}

/// What `put` does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Store,
    /// Accepted (no error) but not stored, as Cloudflare does.
    Skip,
}

/// `put(request, response)`: store, skip, or the TypeError message Cloudflare throws.
pub fn put_rule(
    method: &str,
    status: u16,
    cache_control: Option<&str>,
    vary: Option<&str>,
    sets_cookie: bool,
) -> Result<Put, String> {
    if !method.eq_ignore_ascii_case("GET") {
        return Err("Cannot cache response to non-GET request.".into());
    }
    if status == 206 {
        return Err("Cannot cache response to a range request (206 Partial Content).".into());
    }
    if vary.is_some_and(|v| v.split(',').any(|t| t.trim() == "*")) {
        return Err("Cannot cache response with 'Vary: *' header.".into());
    }
    let directives: Vec<String> =
        cache_control.unwrap_or("").split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    let has = |name: &str| directives.iter().any(|d| d == name || d.starts_with(&format!("{name}=")));
    // `private=set-cookie` / `no-cache=set-cookie` allow the rest of the response to be cached.
    let cookie_allowed = directives
        .iter()
        .any(|d| (d.starts_with("private=") || d.starts_with("no-cache=")) && d.contains("set-cookie"));
    if has("no-store") || directives.iter().any(|d| d == "private") {
        return Ok(Put::Skip);
    }
    if sets_cookie && !cookie_allowed {
        return Ok(Put::Skip);
    }
    Ok(Put::Store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_inside_the_project() {
        assert_eq!(cache_name("p1", None).unwrap(), "tenant:p1:default");
        assert_eq!(cache_name("p1", Some("default")).unwrap(), "tenant:p1:n:default");
        assert_eq!(cache_name("p1", Some("")).unwrap(), "tenant:p1:n:");
        // A name that looks like another project's cannot leave the prefix.
        let sneaky = cache_name("p1", Some(":tenant:p2:default")).unwrap();
        assert!(sneaky.starts_with("tenant:p1:n:"), "{sneaky}");
        assert_ne!(cache_name("p1", None), cache_name("p2", None));
        assert!(cache_name("", None).is_err());
        assert!(cache_name("p1:x", None).is_err());
        assert!(cache_name("p1", Some(&"a".repeat(CACHE_NAME_MAX))).is_ok());
        assert!(cache_name("p1", Some(&"a".repeat(CACHE_NAME_MAX + 1))).is_err());
    }

    #[test]
    fn only_get_requests_match_unless_told() {
        assert!(matches_method("GET", false));
        assert!(matches_method("get", false));
        assert!(!matches_method("POST", false));
        assert!(!matches_method("HEAD", false));
        assert!(matches_method("POST", true));
    }

    #[test]
    fn put_follows_cloudflare() {
        assert_eq!(put_rule("GET", 200, Some("max-age=60"), None, false), Ok(Put::Store));
        assert_eq!(put_rule("GET", 404, None, Some("Accept-Encoding"), false), Ok(Put::Store));
        assert_eq!(
            put_rule("POST", 200, None, None, false).unwrap_err(),
            "Cannot cache response to non-GET request."
        );
        assert!(put_rule("GET", 206, None, None, false).unwrap_err().contains("206"));
        assert!(put_rule("GET", 200, None, Some("accept, *"), false).unwrap_err().contains("Vary: *"));
        assert_eq!(put_rule("GET", 200, Some("public, No-Store"), None, false), Ok(Put::Skip));
        assert_eq!(put_rule("GET", 200, Some("private"), None, false), Ok(Put::Skip));
        assert_eq!(put_rule("GET", 200, Some("max-age=60"), None, true), Ok(Put::Skip));
        assert_eq!(put_rule("GET", 200, Some("max-age=60, private=Set-Cookie"), None, true), Ok(Put::Store));
        assert_eq!(put_rule("GET", 200, Some("no-cache=\"set-cookie\""), None, true), Ok(Put::Store));
    }
}
