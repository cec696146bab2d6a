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
    Mcp,
    /// RFC 9728 protected-resource metadata for the MCP endpoint.
    ProtectedResource,
    Health,
    OpenApi,
    Docs,
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
    /// Nothing on the platform host matched.
    NotFound,
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

/// Decides the target of a request. `host` is the raw Host header, `path` the raw
/// (percent-encoded) URL pathname, `query` the raw search string including `?` (or empty).
pub fn route_request(host: &str, path: &str, query: &str, platform_domain: &str) -> Target {
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
        let (key, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if key.is_empty() {
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
        "/mcp" => Target::Mcp,
        "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp" => {
            Target::ProtectedResource
        }
        _ => match path.strip_prefix("/__api") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                Target::Api { path: if rest.is_empty() { "/".into() } else { rest.to_string() } }
            }
            _ => Target::NotFound,
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
    fn platform_host_surfaces() {
        let cases = [
            ("example.dev", "/", Target::ServiceInfo),
            ("localhost:8787", "/health", Target::Health),
            ("127.0.0.1:1", "/openapi.json", Target::OpenApi),
            ("[::1]:8787", "/docs", Target::Docs),
            ("flotilla.acme.workers.dev", "/mcp", Target::Mcp),
            ("EXAMPLE.DEV", "/__api/projects", Target::Api { path: "/projects".into() }),
            ("example.dev", "/__api", Target::Api { path: "/".into() }),
            ("example.dev", "/__apix", Target::NotFound),
            ("example.dev", "/nope", Target::NotFound),
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
    fn normalize_host_cases() {
        assert_eq!(normalize_host("Example.DEV:443"), "example.dev");
        assert_eq!(normalize_host("[::1]:8787"), "[::1]");
        assert_eq!(normalize_host("localhost"), "localhost");
    }
}
