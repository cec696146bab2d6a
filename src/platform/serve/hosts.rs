//! Which project a visitor's custom host routes to: ROUTES_KV `host:<name>` (isolate-cached),
//! D1 on a miss. The hostname rules are `crate::domain`'s.

use worker::Env;

use crate::domain::{wildcard_of, Hostname, HostnameRules};
use crate::error::ApiResult;
use crate::platform::bindings::{self, var_or};
use crate::platform::http;
use crate::platform::serve::cache;
use crate::platform::serve::cache::Fresh;
use crate::platform::store::d1_domains::D1Domains;
use crate::platform::store::kv::KvRoutes;
use crate::routing::HostRecord;

/// The project id a visitor's custom host routes to: ROUTES_KV first (the exact name, then
/// its one-level wildcard when the operator allows wildcards), D1 on a miss (re-publishing
/// the record it finds). Only `active` domains of live projects ever route. The freshness is
/// the cached answer's (`None` when it was just read from storage).
pub async fn project_for_host(env: &Env, host: &str) -> ApiResult<(Option<String>, Option<Fresh>)> {
    // A host no tenant could ever attach (an IP literal, `localhost`, a name under the platform
    // domain, junk) costs no storage read.
    let settings = bindings::settings(env);
    let rules = HostnameRules { platform_domain: settings.platform_domain.clone(), allow_wildcards: false };
    let Ok(host) = Hostname::parse(host, &rules) else { return Ok((None, None)) };
    let host = host.as_str();
    let now = bindings::now_ms();
    let epoch = match cache::host(&settings, host, now) {
        cache::Lookup::Hit((owner, until_ms)) => {
            return Ok((owner, Some(Fresh { until_ms, epoch: cache::host_epoch() })))
        }
        cache::Lookup::Miss(epoch) => epoch,
    };
    let owner = lookup_host_owner(env, host).await?;
    cache::put_host(&settings, epoch, host, owner.clone(), now);
    Ok((owner, None))
}

async fn lookup_host_owner(env: &Env, host: &str) -> ApiResult<Option<String>> {
    let routes = KvRoutes::new(env)?;
    let wildcard = (var_or(env, bindings::ALLOW_WILDCARD_DOMAINS, "false") == "true")
        .then(|| wildcard_of(host))
        .flatten();
    if let Some(r) = routes.host(host).await? {
        return Ok(Some(r.project_id));
    }
    if let Some(w) = &wildcard {
        if let Some(r) = routes.host(w).await? {
            return Ok(Some(r.project_id));
        }
    }
    let mut candidates = vec![host];
    candidates.extend(wildcard.as_deref());
    let Some((hostname, project_id)) = D1Domains::new(env)?.active_owner(&candidates).await? else {
        return Ok(None);
    };
    let rec = HostRecord { project_id: project_id.clone() };
    if let Err(e) = routes.put_host(&hostname, &rec).await {
        http::log(
            "warn",
            "serve",
            serde_json::json!({ "msg": "host record not re-published", "error": e.log_detail() }),
        );
    }
    Ok(Some(project_id))
}
