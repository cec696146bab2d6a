//! Host and path classification: platform host vs `<slug>.<domain>` vs path mode vs custom
//! domain (SPEC.md §2).

/// Which project (and optionally which exact deployment) a visitor asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRef {
    /// A project id or slug, as written in the URL (lowercased).
    pub key: String,
    /// `<depId-prefix>` from a preview URL (`<prefix>--<slug>` or `<slug>@<prefix>`).
    pub deployment_prefix: Option<String>,
}

impl ProjectRef {
    fn plain(key: &str) -> ProjectRef {
        ProjectRef { key: key.to_ascii_lowercase(), deployment_prefix: None }
    }
}

/// What a request is for, decided from its host and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/__api/...` on the platform host; `path` keeps the `/__api` prefix stripped.
    Api {
        path: String,
    },
    /// `/client/v4/...` on the platform host (the wrangler-compatible API); prefix stripped.
    ClientV4 {
        path: String,
    },
    Mcp,
    /// RFC 9728 protected-resource metadata for the MCP endpoint.
    ProtectedResource,
    Health,
    OpenApi,
    Docs,
    /// `/__dashboard` and its assets (`path` is the whole path): platform host only.
    Dashboard {
        path: String,
    },
    /// `GET /` on the platform host: service info.
    ServiceInfo,
    /// A project's site. `prefix` is the path-mode prefix (`/__project/<ref>`), empty in
    /// subdomain/custom-domain mode; `path` is the request path with the prefix removed.
    Project {
        project: ProjectRef,
        prefix: String,
        path: String,
    },
    /// A custom hostname to look up; `path` is the whole request path.
    CustomDomain {
        host: String,
        path: String,
    },
    /// A redirect the router itself decides (e.g. `/__project/x` -> `/__project/x/`).
    Redirect {
        location: String,
    },
    /// A path-mode request whose raw target hides dot segments or separators behind
    /// percent-encoding (or a literal backslash): refused (400), never resolved.
    BadPath,
    /// Nothing on the platform host matched (also path mode where it is off).
    NotFound,
}

/// Where path mode (`/__project/<ref>/...` on the platform host) answers (var `PATH_MODE`).
/// Path mode puts every tenant on one origin, so by default it answers only on local hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMode {
    /// Only on `localhost`, `127.0.0.1` and `[::1]` (the default).
    Local,
    /// On every platform host, including the real domain (shared origin: not recommended).
    Enabled,
}

impl PathMode {
    /// Parses the `PATH_MODE` var: `"enabled"` turns it on everywhere; anything else
    /// (unset, `"local"`, a typo) keeps the safe default.
    pub fn parse(var: Option<&str>) -> PathMode {
        match var.map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "enabled" => PathMode::Enabled,
            _ => PathMode::Local,
        }
    }

    /// Whether path mode answers on `host` (a Host header value; port and case ignored).
    pub fn answers_on(self, host: &str) -> bool {
        self == PathMode::Enabled || is_local_host(&normalize_host(host))
    }
}

/// Whether `GET /health` asks for the operator's detailed answer (`?detail=1`, or any value
/// but `0`/`false`): the public answer reads no storage and names nothing; the detailed one
/// checks every binding and is for the admin token only. `query` is the raw search string.
pub fn health_detail_requested(query: &str) -> bool {
    query.trim_start_matches('?').split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        k == "detail" && v != "0" && v != "false"
    })
}

/// `localhost`, `127.0.0.1` or `[::1]` (already normalised: no port, lowercase).
pub fn is_local_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Decodes `%XX` escapes once (invalid escapes stay as they are). Bytes, so it never panics
/// on non-UTF-8 results.
fn percent_decode_once(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// True when a raw path-mode target (everything after `/__project/`) is safe to route: no
/// dot segment (`.`/`..`) appears at any decoding depth, with `/` and `\` (raw or decoded
/// from `%2F`/`%5C`) both counting as separators. A raw target that only decodes to one
/// (`%2E%2E`, `.%2E`, `..%2F`, `%5C..%5C`, `%252e%252e`) is how a request under one tenant's
/// prefix would climb into another's, so it is refused, not resolved. An encoded separator
/// without dots (`/bin%2F`, a file name) cannot leave the prefix and stays allowed: the
/// Cloudflare asset semantics give it a meaning.
pub fn path_mode_target_is_safe(raw: &str) -> bool {
    let mut cur = raw.as_bytes().to_vec();
    // Doubled (and deeper) encodings: decode until nothing changes (bounded).
    for _ in 0..4 {
        if cur.split(|&c| c == b'/' || c == b'\\').any(|seg| seg == b"." || seg == b"..") {
            return false;
        }
        let next = percent_decode_once(&cur);
        if next == cur {
            return true;
        }
        cur = next;
    }
    // Still decoding after four rounds: nobody writes URLs like that by accident.
    false
}

/// A path-mode project reference (`<slug-or-id>` or `<slug-or-id>@<deployment-or-alias>`)
/// contains only letters, digits, `-`, `_` and one `@`.
fn is_valid_ref(key: &str) -> bool {
    key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'@')
        && key.bytes().filter(|&c| c == b'@').count() <= 1
}

/// Strips the port and lowercases a Host header value; handles `[::1]:8787`.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    if let Some(rest) = h.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return format!("[{}]", &rest[..end]);
        }
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => h,
    }
}

fn is_platform_host(host: &str, platform_domain: &str) -> bool {
    host == platform_domain
        || host == "localhost"
        || host == "127.0.0.1"
        || host == "[::1]"
        || host.ends_with(".workers.dev")
}

/// Parses a project label (`<slug-or-id>`, `<prefix>--<slug>` in a host label).
fn label_ref(label: &str) -> ProjectRef {
    match label.split_once("--") {
        Some((prefix, key)) if !prefix.is_empty() && !key.is_empty() => {
            ProjectRef { key: key.to_string(), deployment_prefix: Some(prefix.to_string()) }
        }
        _ => ProjectRef::plain(label),
    }
}

/// Decides the target of a request with path mode on local hosts only (the default).
pub fn route_request(host: &str, path: &str, query: &str, platform_domain: &str) -> Target {
    route_request_with(host, path, query, platform_domain, PathMode::Local)
}

/// Decides the target of a request. `host` is the raw Host header, `path` the raw
/// (percent-encoded) URL pathname, `query` the raw search string including `?` (or empty).
pub fn route_request_with(
    host: &str,
    path: &str,
    query: &str,
    platform_domain: &str,
    path_mode: PathMode,
) -> Target {
    let host = normalize_host(host);
    let domain = platform_domain.trim().to_ascii_lowercase();

    if !is_platform_host(&host, &domain) {
        for parent in [domain.as_str(), "localhost"] {
            if parent.is_empty() {
                continue;
            }
            if let Some(label) = host.strip_suffix(parent).and_then(|l| l.strip_suffix('.')) {
                // Exactly one label below the platform domain is a project; deeper names are
                // not ours unless attached as custom domains.
                if !label.is_empty() && !label.contains('.') {
                    return Target::Project {
                        project: label_ref(label),
                        prefix: String::new(),
                        path: path.to_string(),
                    };
                }
            }
        }
        return Target::CustomDomain { host, path: path.to_string() };
    }

    if let Some(rest) = path.strip_prefix("/__project/") {
        // Off here: the platform's own origin serves no tenant content (one origin per tenant).
        if !path_mode.answers_on(&host) {
            return Target::NotFound;
        }
        if !path_mode_target_is_safe(rest) {
            return Target::BadPath;
        }
        let (key, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if key.is_empty() || !is_valid_ref(key) {
            return Target::NotFound;
        }
        if tail.is_empty() {
            return Target::Redirect { location: format!("/__project/{key}/{query}") };
        }
        let project = match key.split_once('@') {
            Some((k, p)) if !k.is_empty() && !p.is_empty() => {
                ProjectRef { key: k.to_ascii_lowercase(), deployment_prefix: Some(p.to_ascii_lowercase()) }
            }
            _ => ProjectRef::plain(key),
        };
        return Target::Project { project, prefix: format!("/__project/{key}"), path: tail.to_string() };
    }

    match path {
        "/" => Target::ServiceInfo,
        "/health" => Target::Health,
        "/openapi.json" => Target::OpenApi,
        "/docs" => Target::Docs,
        p if p == "/__dashboard" || p.starts_with("/__dashboard/") => Target::Dashboard { path: p.into() },
        "/mcp" => Target::Mcp,
        "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp" => {
            Target::ProtectedResource
        }
        _ => match path.strip_prefix("/__api") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                Target::Api { path: if rest.is_empty() { "/".into() } else { rest.to_string() } }
            }
            _ => match path.strip_prefix("/client/v4") {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    Target::ClientV4 { path: if rest.is_empty() { "/".into() } else { rest.to_string() } }
                }
                _ => Target::NotFound,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "example.dev";

    fn project(key: &str, prefix: &str, path: &str) -> Target {
        Target::Project { project: ProjectRef::plain(key), prefix: prefix.into(), path: path.into() }
    }

    #[test]
    fn only_an_explicit_detail_asks_for_the_detailed_health_answer() {
        for q in ["?detail=1", "detail=1", "?a=b&detail", "?detail=true", "?x=1&detail=yes"] {
            assert!(health_detail_requested(q), "{q}");
        }
        for q in ["", "?", "?detail=0", "?detail=false", "?details=1", "?xdetail=1", "?a=detail"] {
            assert!(!health_detail_requested(q), "{q}");
        }
    }

    #[test]
    fn platform_host_surfaces() {
        let cases = [
            ("example.dev", "/", Target::ServiceInfo),
            ("localhost:8787", "/health", Target::Health),
            ("127.0.0.1:1", "/openapi.json", Target::OpenApi),
            ("[::1]:8787", "/docs", Target::Docs),
            ("flotilla.acme.workers.dev", "/mcp", Target::Mcp),
            ("EXAMPLE.DEV", "/__api/projects", Target::Api { path: "/projects".into() }),
            ("example.dev", "/__api", Target::Api { path: "/".into() }),
            ("example.dev", "/client/v4/accounts", Target::ClientV4 { path: "/accounts".into() }),
            ("localhost:8787", "/client/v4", Target::ClientV4 { path: "/".into() }),
            ("example.dev", "/client/v40", Target::NotFound),
            ("example.dev", "/__apix", Target::NotFound),
            ("example.dev", "/nope", Target::NotFound),
            ("example.dev", "/__dashboard", Target::Dashboard { path: "/__dashboard".into() }),
            (
                "localhost:8787",
                "/__dashboard/app.js",
                Target::Dashboard { path: "/__dashboard/app.js".into() },
            ),
            ("example.dev", "/__dashboardx", Target::NotFound),
        ];
        for (host, path, want) in cases {
            assert_eq!(route_request(host, path, "", D), want, "{host}{path}");
        }
    }

    #[test]
    fn subdomain_mode_owns_every_path() {
        assert_eq!(
            route_request("blog-x1.example.dev", "/__api/projects", "", D),
            project("blog-x1", "", "/__api/projects")
        );
        assert_eq!(route_request("blog-x1.localhost:8787", "/a/b", "", D), project("blog-x1", "", "/a/b"));
        // The operator dashboard is the platform's, never a tenant origin's: a project may
        // have its own `/__dashboard` page, and must not get the operator's token-holding one.
        assert_eq!(
            route_request("blog-x1.example.dev", "/__dashboard", "", D),
            project("blog-x1", "", "/__dashboard")
        );
        assert_eq!(
            route_request("www.customer.com", "/__dashboard/app.js", "", D),
            Target::CustomDomain { host: "www.customer.com".into(), path: "/__dashboard/app.js".into() }
        );
        assert_eq!(
            route_request("abc123--blog.example.dev", "/", "", D),
            Target::Project {
                project: ProjectRef { key: "blog".into(), deployment_prefix: Some("abc123".into()) },
                prefix: String::new(),
                path: "/".into()
            }
        );
    }

    #[test]
    fn deeper_or_foreign_hosts_are_custom_domains() {
        assert_eq!(
            route_request("a.b.example.dev", "/", "", D),
            Target::CustomDomain { host: "a.b.example.dev".into(), path: "/".into() }
        );
        assert_eq!(
            route_request("www.customer.com", "/x", "", D),
            Target::CustomDomain { host: "www.customer.com".into(), path: "/x".into() }
        );
        // A host that merely ends with the domain text is not a subdomain.
        assert!(matches!(route_request("evilexample.dev", "/", "", D), Target::CustomDomain { .. }));
    }

    #[test]
    fn path_mode() {
        assert_eq!(
            route_request("localhost", "/__project/blog/", "", D),
            project("blog", "/__project/blog", "/")
        );
        assert_eq!(
            route_request("localhost", "/__project/Blog/a/b.html", "", D),
            project("blog", "/__project/Blog", "/a/b.html")
        );
        assert_eq!(
            route_request("localhost", "/__project/blog", "?x=1", D),
            Target::Redirect { location: "/__project/blog/?x=1".into() }
        );
        assert_eq!(route_request("localhost", "/__project/", "", D), Target::NotFound);
        assert_eq!(
            route_request("localhost", "/__project/blog@ab12/x", "", D),
            Target::Project {
                project: ProjectRef { key: "blog".into(), deployment_prefix: Some("ab12".into()) },
                prefix: "/__project/blog@ab12".into(),
                path: "/x".into()
            }
        );
    }

    #[test]
    fn path_mode_is_local_only_unless_enabled() {
        let on_domain = |host: &str, mode| route_request_with(host, "/__project/blog/x", "", D, mode);
        for host in ["example.dev", "EXAMPLE.DEV:443", "flotilla.acme.workers.dev"] {
            assert_eq!(on_domain(host, PathMode::Local), Target::NotFound, "{host}");
            assert_eq!(
                on_domain(host, PathMode::Enabled),
                project("blog", "/__project/blog", "/x"),
                "{host}"
            );
            // The redirect to the slash form is path mode too.
            assert_eq!(route_request(host, "/__project/blog", "", D), Target::NotFound, "{host}");
        }
        for host in ["localhost", "localhost:8787", "127.0.0.1:9", "[::1]:8787"] {
            assert_eq!(on_domain(host, PathMode::Local), project("blog", "/__project/blog", "/x"), "{host}");
        }
        // Subdomain URLs are unaffected by the setting.
        assert_eq!(
            route_request_with("blog.example.dev", "/x", "", D, PathMode::Local),
            project("blog", "", "/x")
        );
        assert_eq!(PathMode::parse(None), PathMode::Local);
        assert_eq!(PathMode::parse(Some("local")), PathMode::Local);
        assert_eq!(PathMode::parse(Some("yes")), PathMode::Local);
        assert_eq!(PathMode::parse(Some(" Enabled ")), PathMode::Enabled);
    }

    /// Every encoded way of climbing out of `/__project/a/` into `b` is refused, whatever
    /// layer (ours, the assets resolver, user code) would decode it later.
    #[test]
    fn encoded_traversal_is_refused() {
        let forms = [
            "/__project/a/%2e%2e/b/secret.txt",
            "/__project/a/%2E%2E/b/secret.txt",
            "/__project/a/%2e%2E/b/secret.txt",
            "/__project/a/.%2E/b/secret.txt",
            "/__project/a/%2E./b/secret.txt",
            "/__project/a/.%2e/b/secret.txt",
            "/__project/a/..%2Fb/secret.txt",
            "/__project/a/..%2fb/secret.txt",
            "/__project/a/%2E%2E%2Fb/secret.txt",
            "/__project/a%2F..%2Fb/secret.txt",
            "/__project/a/x%2F..%2F..%2Fb/secret.txt",
            "/__project/a/..%5Cb/secret.txt",
            "/__project/a/%5C..%5Cb/secret.txt",
            "/__project/a/%5c..%5cb/secret.txt",
            "/__project/a/..\\b/secret.txt",
            "/__project/a/%252e%252e/b/secret.txt",
            "/__project/a/%252E%252E/b/secret.txt",
            "/__project/a/%25252e%25252e/b/secret.txt",
            "/__project/a/..%252Fb/secret.txt",
            "/__project/a/%2e%2e%252fb/secret.txt",
            "/__project/a/../b/secret.txt",
            "/__project/a/./b/secret.txt",
            "/__project/a/%2e/b/secret.txt",
            "/__project/%2e%2e/b/secret.txt",
        ];
        for path in forms {
            let got = route_request("localhost", path, "", D);
            assert_eq!(got, Target::BadPath, "{path}");
        }
        // Ordinary encodings stay fine: an encoded dot inside a name, spaces, a percent sign,
        // an encoded separator without dots (it cannot leave the prefix).
        for (path, tail) in [
            ("/__project/a/bin%2F", "/bin%2F"),
            ("/__project/a/%2Fb%5Csecret.txt", "/%2Fb%5Csecret.txt"),
            ("/__project/a/bin%252F", "/bin%252F"),
            ("/__project/a/file%2Etxt", "/file%2Etxt"),
            ("/__project/a/my%20page/", "/my%20page/"),
            ("/__project/a/100%25.html", "/100%25.html"),
            ("/__project/a/..x/.y/", "/..x/.y/"),
            ("/__project/a/caf%C3%A9", "/caf%C3%A9"),
        ] {
            assert_eq!(route_request("localhost", path, "", D), project("a", "/__project/a", tail), "{path}");
        }
        // A reference with characters no slug, id or alias has is not a project.
        assert_eq!(route_request("localhost", "/__project/a%41/x", "", D), Target::NotFound);
        assert_eq!(route_request("localhost", "/__project/a@b@c/x", "", D), Target::NotFound);
        assert_eq!(route_request("localhost", "/__project/a%2Fb/secret.txt", "", D), Target::NotFound);
        assert_eq!(route_request("localhost", "/__project/a%5Cb/secret.txt", "", D), Target::NotFound);
        assert_eq!(route_request("localhost", "/__project/a@%2e%2e/b/secret.txt", "", D), Target::NotFound);
    }

    #[test]
    fn traversal_check_never_panics() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"%25eEfF2./\\ab\xc3\xa9";
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> =
                (0..len).map(|i| alphabet[((seed >> (i % 50)) as usize) % alphabet.len()]).collect();
            let s = String::from_utf8_lossy(&bytes);
            let _ = path_mode_target_is_safe(&s);
            let _ = route_request("localhost", &format!("/__project/{s}"), "", D);
        }
    }

    /// Every slug `Slug::parse` accepts comes back from the host router as that plain slug
    /// (never a preview or alias of another), and what it refuses is exactly what the router
    /// would read otherwise.
    #[test]
    fn valid_slugs_route_as_themselves() {
        use crate::domain::{is_uuid_shaped, Slug};
        for s in ["a", "blog-x1", "a-b-c", "0123456789abcdef0123456789abcdef", &"z".repeat(63)] {
            let slug = Slug::parse(s).unwrap();
            assert_eq!(route_request(&format!("{slug}.example.dev"), "/", "", D), project(s, "", "/"));
            assert!(!is_uuid_shaped(slug.as_str()));
        }
        // `ab--x` as a host is a preview `ab` of project `x`: refused as a slug.
        let Target::Project { project: p, .. } = route_request("ab--x.example.dev", "/", "", D) else {
            panic!("not a project")
        };
        assert_eq!(p.deployment_prefix.as_deref(), Some("ab"));
        assert!(Slug::parse("ab--x").is_err());
    }

    #[test]
    fn normalize_host_cases() {
        assert_eq!(normalize_host("Example.DEV:443"), "example.dev");
        assert_eq!(normalize_host("[::1]:8787"), "[::1]");
        assert_eq!(normalize_host("localhost"), "localhost");
    }
}
