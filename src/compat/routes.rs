//! The `/client/v4` route table: method + path (below `/client/v4`) -> `CfRoute`. Anything else
//! is `Unsupported`, answered with a Cloudflare-shaped error that names the call. `cf_policy`
//! says what each route needs, with the scopes `/__api` uses for the same operation.

use crate::access::{Need, Scope};

/// Worker-scoped routes carry the script name (the project slug); the account id is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfRoute {
    VerifyToken,
    /// `GET /user` (`wrangler whoami`): a Flotilla token has no user profile.
    User,
    ListAccounts,
    /// `GET /memberships`: the caller's one membership, of the one account.
    Memberships,
    AccountSubdomain,
    GetService(String),
    DeleteService(String),
    GetWorker(String),
    ScriptSettings(String),
    ScriptSubdomain(String),
    PutScript(String),
    /// `POST /scripts/:name/versions`: what `wrangler deploy` sends for an existing Worker (then
    /// `CreateDeployment` makes it live).
    UploadVersion(String),
    PatchScriptSettings(String),
    AssetsUploadSession(String),
    AssetsUpload,
    ListSecrets(String),
    PutSecret(String),
    /// (script, secret name)
    DeleteSecret(String, String),
    ListDeployments(String),
    CreateDeployment(String),
    ListVersions(String),
    /// (script, version id)
    GetVersion(String, String),
    References(String),
    TailsByConsumer(String),
    /// `POST /scripts/:name/tails` (`wrangler tail`): a session and its socket URL.
    CreateTail(String),
    /// (script, tail id): the `trace-v1` WebSocket (`GET …/tails/:id/socket?secret=`).
    TailSocket(String, String),
    DeleteTail(String, String),
    KvNamespaces,
    CreateKvNamespace,
    /// (namespace id, key) for the three `/values/:key` calls.
    KvGetValue(String, String),
    KvPutValue(String, String),
    KvDeleteValue(String, String),
    KvListKeys(String),
    KvBulkPut(String),
    KvBulkDelete(String),
    /// `GET|POST /r2/buckets`, `GET /r2/buckets/:name` (wrangler's provisioning, `r2 bucket
    /// create|list`).
    R2Buckets,
    CreateR2Bucket,
    GetR2Bucket(String),
    /// (bucket name, object key) for `wrangler r2 object get|put|delete <bucket>/<key>`.
    R2GetObject(String, String),
    R2PutObject(String, String),
    R2DeleteObject(String, String),
    /// `/d1/database...` (wrangler's `d1_databases` and `wrangler d1 ...`): list, create, get by
    /// id or name, delete, query, import (`execute --file`). Export is a route only to answer
    /// "not supported" naming the wrangler command (not in `CF_ROUTES`: no operation to document).
    D1List,
    D1Create,
    D1Get(String),
    D1Delete(String),
    D1Query(String),
    D1Import(String),
    /// `PUT /d1-import/:token`: the upload URL `import` (action `init`) hands out; the signed
    /// token names the database and the file's MD5 (wrangler sends no credentials there).
    D1ImportUpload(String),
    D1Export(String),
    /// The edge-preview calls of remote development (`wrangler dev --remote`, remote bindings,
    /// OpenNext's R2 cache population): a route only to answer "not offered" without the retries
    /// a 501 gets and without wrangler's authentication hint (not in `CF_ROUTES`).
    RemotePreview,
    Unsupported {
        method: String,
        path: String,
    },
}

/// Every supported (method, path template) pair; openapi.json documents exactly these (a native
/// test keeps them in step), and each template matches its route.
pub const CF_ROUTES: &[(&str, &str)] = &[
    ("GET", "/user/tokens/verify"),
    ("GET", "/user"),
    ("GET", "/accounts"),
    ("GET", "/memberships"),
    ("GET", "/accounts/{account}/workers/subdomain"),
    ("GET", "/accounts/{account}/workers/services/{name}"),
    ("DELETE", "/accounts/{account}/workers/services/{name}"),
    ("GET", "/accounts/{account}/workers/workers/{name}"),
    ("PUT", "/accounts/{account}/workers/scripts/{name}"),
    ("DELETE", "/accounts/{account}/workers/scripts/{name}"),
    ("POST", "/accounts/{account}/workers/scripts/{name}/versions"),
    ("PATCH", "/accounts/{account}/workers/scripts/{name}/script-settings"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/settings"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/subdomain"),
    ("POST", "/accounts/{account}/workers/scripts/{name}/subdomain"),
    ("POST", "/accounts/{account}/workers/scripts/{name}/assets-upload-session"),
    ("POST", "/accounts/{account}/workers/assets/upload"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/secrets"),
    ("PUT", "/accounts/{account}/workers/scripts/{name}/secrets"),
    ("DELETE", "/accounts/{account}/workers/scripts/{name}/secrets/{secret}"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/deployments"),
    ("POST", "/accounts/{account}/workers/scripts/{name}/deployments"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/versions"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/versions/{version}"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/references"),
    ("GET", "/accounts/{account}/workers/tails/by-consumer/{name}"),
    ("POST", "/accounts/{account}/workers/scripts/{name}/tails"),
    ("GET", "/accounts/{account}/workers/scripts/{name}/tails/{tail}/socket"),
    ("DELETE", "/accounts/{account}/workers/scripts/{name}/tails/{tail}"),
    ("GET", "/accounts/{account}/storage/kv/namespaces"),
    ("POST", "/accounts/{account}/storage/kv/namespaces"),
    ("GET", "/accounts/{account}/storage/kv/namespaces/{namespace}/values/{key}"),
    ("PUT", "/accounts/{account}/storage/kv/namespaces/{namespace}/values/{key}"),
    ("DELETE", "/accounts/{account}/storage/kv/namespaces/{namespace}/values/{key}"),
    ("GET", "/accounts/{account}/storage/kv/namespaces/{namespace}/keys"),
    ("PUT", "/accounts/{account}/storage/kv/namespaces/{namespace}/bulk"),
    ("DELETE", "/accounts/{account}/storage/kv/namespaces/{namespace}/bulk"),
    ("GET", "/accounts/{account}/r2/buckets"),
    ("POST", "/accounts/{account}/r2/buckets"),
    ("GET", "/accounts/{account}/r2/buckets/{bucket}"),
    ("GET", "/accounts/{account}/r2/buckets/{bucket}/objects/{key}"),
    ("PUT", "/accounts/{account}/r2/buckets/{bucket}/objects/{key}"),
    ("DELETE", "/accounts/{account}/r2/buckets/{bucket}/objects/{key}"),
    ("GET", "/accounts/{account}/d1/database"),
    ("POST", "/accounts/{account}/d1/database"),
    ("GET", "/accounts/{account}/d1/database/{database}"),
    ("DELETE", "/accounts/{account}/d1/database/{database}"),
    ("POST", "/accounts/{account}/d1/database/{database}/query"),
    ("POST", "/accounts/{account}/d1/database/{database}/import"),
    ("PUT", "/d1-import/{token}"),
];

/// The route's requirement (as `access::policy` is for `/__api`) and its audit action.
pub fn cf_policy(route: &CfRoute) -> (Need, Option<&'static str>) {
    use CfRoute::*;
    use Scope::{Deploy, Manage, Read};
    let p = |k: &String, s: Scope| Need::Worker(k.clone(), s);
    match route {
        VerifyToken | User | ListAccounts | Memberships | AccountSubdomain | KvNamespaces => {
            (Need::Any(Read), None)
        }
        TailSocket(..) => (Need::TailTicket, None),
        TailsByConsumer(k)
        | CreateTail(k)
        | DeleteTail(k, _)
        | References(k)
        | GetService(k)
        | GetWorker(k)
        | ScriptSettings(k)
        | ScriptSubdomain(k)
        | ListSecrets(k)
        | ListDeployments(k)
        | ListVersions(k)
        | GetVersion(k, _) => (p(k, Read), None),
        // A new name also needs the right to create projects: checked in `project_for_deploy`.
        AssetsUploadSession(k) => (p(k, Deploy), Some("upload.session")),
        PutScript(k) | UploadVersion(k) => (p(k, Deploy), Some("deployment.create")),
        PatchScriptSettings(k) => (p(k, Deploy), None),
        AssetsUpload => (Need::UploadJwt, Some("upload.assets")),
        // As `POST /__api/kv/namespaces`.
        CreateKvNamespace => (Need::Any(Manage), Some("kv.create")),
        // Tenant data: reading needs read, changing it manage (as deleting the namespace does);
        // which namespaces a token reaches is checked by the handler (`ResourceScope`).
        KvGetValue(..) | KvListKeys(_) => (Need::Any(Read), None),
        KvPutValue(..) | KvDeleteValue(..) | KvBulkPut(_) | KvBulkDelete(_) => {
            (Need::Any(Manage), Some("kv.write"))
        }
        // As `/__api/buckets`; which buckets a caller names is its own (the handler checks).
        R2Buckets | GetR2Bucket(_) | R2GetObject(..) => (Need::Any(Read), None),
        CreateR2Bucket => (Need::Any(Manage), Some("bucket.create")),
        R2PutObject(..) | R2DeleteObject(..) => (Need::Any(Manage), Some("bucket.write")),
        // As `/__api/sql/databases`; running SQL may change data, so it needs manage (as KV
        // writes do); which databases a token reaches is checked by the handler.
        D1List | D1Get(_) => (Need::Any(Read), None),
        D1Create => (Need::Any(Manage), Some("sql.create")),
        D1Delete(_) => (Need::Any(Manage), Some("sql.delete")),
        D1Query(_) => (Need::Any(Manage), Some("sql.query")),
        // `execute --file`: as a query, it may change data.
        D1Import(_) => (Need::Any(Manage), Some("sql.query")),
        D1ImportUpload(_) => (Need::UploadJwt, None),
        D1Export(_) => (Need::Any(Read), None),
        PutSecret(k) => (p(k, Manage), Some("secret.put")),
        DeleteSecret(k, _) => (p(k, Manage), Some("secret.delete")),
        CreateDeployment(k) => (p(k, Deploy), Some("project.rollback")),
        DeleteService(k) => (p(k, Manage), Some("project.delete")),
        RemotePreview | Unsupported { .. } => (Need::Any(Read), None),
    }
}

/// Percent-decodes a path segment (wrangler encodes secret names); invalid escapes stay as is.
fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| seg.to_string())
}

/// Matches a request below `/client/v4` (`path` without the query string).
pub fn match_cf(method: &str, path: &str) -> CfRoute {
    use CfRoute::*;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let s = |i: usize| decode(segs[i]);
    let route = match (method, segs.as_slice()) {
        ("GET", ["user", "tokens", "verify"]) => Some(VerifyToken),
        ("GET", ["user"]) => Some(User),
        ("GET", ["accounts"]) => Some(ListAccounts),
        ("GET", ["memberships"]) => Some(Memberships),
        ("GET", ["accounts", _, "workers", "subdomain", "edge-preview"])
        | ("GET", ["accounts", _, "workers", "scripts", _, "subdomain", "edge-preview"])
        | ("POST", ["accounts", _, "workers", "scripts", _, "edge-preview"])
        | ("GET", ["zones", _, "workers", "edge-preview"]) => Some(RemotePreview),
        ("GET", ["accounts", _, "workers", "subdomain"]) => Some(AccountSubdomain),
        ("GET", ["accounts", _, "workers", "services", _]) => Some(GetService(s(4))),
        ("DELETE", ["accounts", _, "workers", "services", _]) => Some(DeleteService(s(4))),
        ("DELETE", ["accounts", _, "workers", "scripts", _]) => Some(DeleteService(s(4))),
        ("GET", ["accounts", _, "workers", "workers", _]) => Some(GetWorker(s(4))),
        ("PUT", ["accounts", _, "workers", "scripts", _]) => Some(PutScript(s(4))),
        ("GET", ["accounts", _, "workers", "scripts", _, "settings"]) => Some(ScriptSettings(s(4))),
        ("GET" | "POST", ["accounts", _, "workers", "scripts", _, "subdomain"]) => {
            Some(ScriptSubdomain(s(4)))
        }
        ("POST", ["accounts", _, "workers", "scripts", _, "assets-upload-session"]) => {
            Some(AssetsUploadSession(s(4)))
        }
        ("POST", ["accounts", _, "workers", "assets", "upload"]) => Some(AssetsUpload),
        ("GET", ["accounts", _, "workers", "scripts", _, "secrets"]) => Some(ListSecrets(s(4))),
        ("PUT", ["accounts", _, "workers", "scripts", _, "secrets"]) => Some(PutSecret(s(4))),
        ("DELETE", ["accounts", _, "workers", "scripts", _, "secrets", _]) => Some(DeleteSecret(s(4), s(6))),
        ("GET", ["accounts", _, "workers", "scripts", _, "deployments"]) => Some(ListDeployments(s(4))),
        ("POST", ["accounts", _, "workers", "scripts", _, "deployments"]) => Some(CreateDeployment(s(4))),
        ("GET", ["accounts", _, "workers", "scripts", _, "versions"]) => Some(ListVersions(s(4))),
        ("POST", ["accounts", _, "workers", "scripts", _, "versions"]) => Some(UploadVersion(s(4))),
        ("PATCH", ["accounts", _, "workers", "scripts", _, "script-settings"]) => {
            Some(PatchScriptSettings(s(4)))
        }
        ("GET", ["accounts", _, "workers", "scripts", _, "versions", _]) => Some(GetVersion(s(4), s(6))),
        ("GET", ["accounts", _, "workers", "scripts", _, "references"]) => Some(References(s(4))),
        ("GET", ["accounts", _, "workers", "tails", "by-consumer", _]) => Some(TailsByConsumer(s(5))),
        ("POST", ["accounts", _, "workers", "scripts", _, "tails"]) => Some(CreateTail(s(4))),
        ("GET", ["accounts", _, "workers", "scripts", _, "tails", _, "socket"]) => {
            Some(TailSocket(s(4), s(6)))
        }
        ("DELETE", ["accounts", _, "workers", "scripts", _, "tails", _]) => Some(DeleteTail(s(4), s(6))),
        ("GET", ["accounts", _, "storage", "kv", "namespaces"]) => Some(KvNamespaces),
        ("POST", ["accounts", _, "storage", "kv", "namespaces"]) => Some(CreateKvNamespace),
        ("GET", ["accounts", _, "storage", "kv", "namespaces", _, "values", _]) => {
            Some(KvGetValue(s(5), s(7)))
        }
        ("PUT", ["accounts", _, "storage", "kv", "namespaces", _, "values", _]) => {
            Some(KvPutValue(s(5), s(7)))
        }
        ("DELETE", ["accounts", _, "storage", "kv", "namespaces", _, "values", _]) => {
            Some(KvDeleteValue(s(5), s(7)))
        }
        ("GET", ["accounts", _, "storage", "kv", "namespaces", _, "keys"]) => Some(KvListKeys(s(5))),
        ("PUT", ["accounts", _, "storage", "kv", "namespaces", _, "bulk"]) => Some(KvBulkPut(s(5))),
        ("DELETE", ["accounts", _, "storage", "kv", "namespaces", _, "bulk"]) => Some(KvBulkDelete(s(5))),
        ("GET", ["accounts", _, "r2", "buckets"]) => Some(R2Buckets),
        ("POST", ["accounts", _, "r2", "buckets"]) => Some(CreateR2Bucket),
        ("GET", ["accounts", _, "r2", "buckets", _]) => Some(GetR2Bucket(s(4))),
        // The key is the rest of the path, slashes and all (wrangler does not encode it).
        (m @ ("GET" | "PUT" | "DELETE"), ["accounts", _, "r2", "buckets", _, "objects", rest @ ..])
            if !rest.is_empty() =>
        {
            let key = decode(&rest.join("/"));
            Some(match m {
                "GET" => R2GetObject(s(4), key),
                "PUT" => R2PutObject(s(4), key),
                _ => R2DeleteObject(s(4), key),
            })
        }
        ("GET", ["accounts", _, "d1", "database"]) => Some(D1List),
        ("POST", ["accounts", _, "d1", "database"]) => Some(D1Create),
        ("GET", ["accounts", _, "d1", "database", _]) => Some(D1Get(s(4))),
        ("DELETE", ["accounts", _, "d1", "database", _]) => Some(D1Delete(s(4))),
        ("POST", ["accounts", _, "d1", "database", _, "query"]) => Some(D1Query(s(4))),
        ("POST", ["accounts", _, "d1", "database", _, "import"]) => Some(D1Import(s(4))),
        ("POST", ["accounts", _, "d1", "database", _, "export"]) => Some(D1Export(s(4))),
        ("PUT", ["d1-import", _]) => Some(D1ImportUpload(s(1))),
        _ => None,
    };
    route.unwrap_or_else(|| Unsupported { method: method.to_string(), path: path.to_string() })
}

impl CfRoute {
    /// The KV namespace id a data route is about, if any.
    pub fn kv_namespace(&self) -> Option<&str> {
        use CfRoute::*;
        match self {
            KvGetValue(n, _)
            | KvPutValue(n, _)
            | KvDeleteValue(n, _)
            | KvListKeys(n)
            | KvBulkPut(n)
            | KvBulkDelete(n) => Some(n),
            _ => None,
        }
    }

    /// The bucket name an R2 route is about, if any.
    pub fn r2_bucket(&self) -> Option<&str> {
        use CfRoute::*;
        match self {
            GetR2Bucket(b) | R2GetObject(b, _) | R2PutObject(b, _) | R2DeleteObject(b, _) => Some(b),
            _ => None,
        }
    }

    /// Whether this is a `/d1/database` route (its 404 is D1's code 7404).
    pub fn is_d1(&self) -> bool {
        use CfRoute::*;
        matches!(
            self,
            D1List
                | D1Create
                | D1Get(_)
                | D1Delete(_)
                | D1Query(_)
                | D1Import(_)
                | D1ImportUpload(_)
                | D1Export(_)
        )
    }

    /// The script (project slug) a route is about, if any.
    pub fn script(&self) -> Option<&str> {
        use CfRoute::*;
        match self {
            GetService(n)
            | DeleteService(n)
            | GetWorker(n)
            | ScriptSettings(n)
            | ScriptSubdomain(n)
            | PutScript(n)
            | UploadVersion(n)
            | PatchScriptSettings(n)
            | AssetsUploadSession(n)
            | ListSecrets(n)
            | PutSecret(n)
            | DeleteSecret(n, _)
            | ListDeployments(n)
            | CreateDeployment(n)
            | ListVersions(n)
            | GetVersion(n, _)
            | References(n)
            | CreateTail(n)
            | TailSocket(n, _)
            | DeleteTail(n, _)
            | TailsByConsumer(n) => Some(n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str) -> String {
        template
            .replace("{account}", "acc")
            .replace("{name}", "site")
            .replace("{secret}", "KEY")
            .replace("{version}", "v1")
            .replace("{namespace}", "0123456789abcdef0123456789abcdef")
            .replace("{key}", "k")
            .replace("{database}", "app")
            .replace("{token}", "t.o.k")
            .replace("{tail}", "t1")
    }

    #[test]
    fn every_template_matches_a_route() {
        for (m, t) in CF_ROUTES {
            let r = match_cf(m, &fill(t));
            assert!(!matches!(r, CfRoute::Unsupported { .. }), "{m} {t}");
        }
    }

    /// openapi.json documents exactly the supported `/client/v4` operations.
    #[test]
    fn openapi_and_the_cf_route_table_agree() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            let Some(rest) = path.strip_prefix("/client/v4") else { continue };
            for m in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                    documented.insert((m.to_ascii_uppercase(), rest.to_string()));
                }
            }
        }
        let table: std::collections::BTreeSet<(String, String)> =
            CF_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        assert_eq!(documented, table);
    }

    #[test]
    fn policy_matches_the_native_operations() {
        let name = || "site".to_string();
        let cases = [
            (CfRoute::PutScript(name()), Need::Worker(name(), Scope::Deploy), Some("deployment.create")),
            (CfRoute::UploadVersion(name()), Need::Worker(name(), Scope::Deploy), Some("deployment.create")),
            (CfRoute::AssetsUpload, Need::UploadJwt, Some("upload.assets")),
            (CfRoute::PutSecret(name()), Need::Worker(name(), Scope::Manage), Some("secret.put")),
            (CfRoute::DeleteService(name()), Need::Worker(name(), Scope::Manage), Some("project.delete")),
            (
                CfRoute::CreateDeployment(name()),
                Need::Worker(name(), Scope::Deploy),
                Some("project.rollback"),
            ),
            (CfRoute::ListSecrets(name()), Need::Worker(name(), Scope::Read), None),
            (CfRoute::CreateTail(name()), Need::Worker(name(), Scope::Read), None),
            (CfRoute::TailSocket(name(), "t".into()), Need::TailTicket, None),
            (CfRoute::CreateKvNamespace, Need::Any(Scope::Manage), Some("kv.create")),
            // Unsupported calls still authenticate first: a wrong token gets the auth error.
            (CfRoute::Unsupported { method: "GET".into(), path: "/x".into() }, Need::Any(Scope::Read), None),
        ];
        for (route, need, action) in cases {
            assert_eq!(cf_policy(&route), (need, action), "{route:?}");
        }
        for (m, t) in CF_ROUTES {
            let (need, _) = cf_policy(&match_cf(m, &fill(t)));
            assert_ne!(need, Need::Nothing, "{m} {t}");
        }
    }

    #[test]
    fn names_and_params() {
        assert_eq!(match_cf("GET", "/accounts/a/workers/services/site"), CfRoute::GetService("site".into()));
        assert_eq!(
            match_cf("DELETE", "/accounts/a/workers/scripts/site/secrets/MY%5FKEY"),
            CfRoute::DeleteSecret("site".into(), "MY_KEY".into())
        );
        assert_eq!(
            match_cf("GET", "/accounts/a/workers/scripts/site/versions/abc/"),
            CfRoute::GetVersion("site".into(), "abc".into())
        );
        assert_eq!(match_cf("POST", "/accounts/a/workers/assets/upload"), CfRoute::AssetsUpload);
        assert_eq!(match_cf("PUT", "/accounts/a/workers/scripts/x").script(), Some("x"));
        // wrangler encodes the key as one segment (`encodeURIComponent`): `/` and `%` survive.
        assert_eq!(
            match_cf("GET", "/accounts/a/storage/kv/namespaces/n/values/a%2Fb%25c"),
            CfRoute::KvGetValue("n".into(), "a/b%c".into())
        );
    }

    #[test]
    fn every_edge_preview_call_is_remote_preview() {
        for (m, p) in [
            ("GET", "/accounts/a/workers/subdomain/edge-preview"),
            ("GET", "/accounts/a/workers/scripts/open-next-cache-populate/subdomain/edge-preview"),
            ("POST", "/accounts/a/workers/scripts/site/edge-preview"),
            ("GET", "/zones/z/workers/edge-preview"),
        ] {
            assert_eq!(match_cf(m, p), CfRoute::RemotePreview, "{m} {p}");
        }
        // Not a prefix match: the subdomain call itself is still the account's subdomain.
        assert_eq!(match_cf("GET", "/accounts/a/workers/subdomain"), CfRoute::AccountSubdomain);
        assert_eq!(match_cf("GET", "/user"), CfRoute::User);
        assert_eq!(match_cf("GET", "/memberships"), CfRoute::Memberships);
    }

    #[test]
    fn unknown_is_unsupported_never_a_panic() {
        for (m, p) in [
            ("POST", "/accounts/a/d1/database/x/raw"),
            ("PATCH", "/accounts/a/workers/scripts/x/settings"),
            ("GET", ""),
            ("GET", "/"),
            ("GET", "/accounts/a/workers/scripts/x/secrets/%"),
            ("GET", "/accounts/a/workers/scripts/x/secrets/%4"),
        ] {
            let r = match_cf(m, p);
            if p.contains("secrets/%") {
                continue; // GET on a secret is not a route; what matters is no panic
            }
            assert!(matches!(r, CfRoute::Unsupported { .. }), "{m} {p}");
        }
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("a%"), "a%");
        assert_eq!(decode("%ff"), "%ff");
    }
}
