//! Worker names on `/client/v4`: a name is a project slug, nothing else. Which project a
//! `:name` resolves to, and which names may create one (the first `wrangler deploy`).

use crate::domain::{ProjectRow, Slug};
use crate::error::ApiError;

/// The project `name` resolves to on the wrangler surface, given what the id-or-slug lookup
/// (`D1Projects::get`) found for it: kept only when its slug is the name. A Worker named after
/// a project's id therefore names no project; it must never deploy into, read or delete that
/// one. (Ids and slugs never collide: no slug is UUID-shaped.)
pub fn worker_project(found: Option<ProjectRow>, name: &str) -> Option<ProjectRow> {
    found.filter(|p| p.slug == name.to_ascii_lowercase())
}

/// The slug a first deploy creates for the Worker `name`: the name itself, or a 400 naming the
/// rule it breaks. Never rewritten: wrangler keeps using the name it was given, so a rewritten
/// slug would strand every later call.
pub fn worker_slug(name: &str) -> Result<Slug, ApiError> {
    Slug::parse(name).map_err(|e| {
        ApiError::bad(
            "name",
            format!("the Worker name `{name}` is used as the project slug, and it {e}; rename the Worker"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, slug: &str) -> ProjectRow {
        ProjectRow {
            id: id.into(),
            slug: slug.into(),
            name: slug.into(),
            enabled: 1,
            outbound: "block".into(),
            active_deployment_id: None,
            has_server_code: 0,
            assets_count: 0,
            created_at: 0,
            updated_at: 0,
            auto_activate: 1,
            preview_access: "public".into(),
            skew_protection: 1,
            skew_pin_secs: 86_400,
            skew_depth: 5,
            rollout: None,
        }
    }

    const ID: &str = "0b6f2c1e-4d2a-4f3b-9c1d-2e3f4a5b6c7d";

    #[test]
    fn names_resolve_by_slug_only() {
        let p = || Some(row(ID, "blog"));
        assert_eq!(worker_project(p(), "blog").map(|p| p.id), Some(ID.to_string()));
        assert_eq!(worker_project(p(), "Blog").map(|p| p.id), Some(ID.to_string()));
        // Found by its id: not this Worker's project.
        assert_eq!(worker_project(p(), ID), None);
        assert_eq!(worker_project(p(), &ID.to_ascii_uppercase()), None);
        assert_eq!(worker_project(None, "blog"), None);
    }

    #[test]
    fn only_slugs_create_projects() {
        assert_eq!(worker_slug("my-worker").unwrap().as_str(), "my-worker");
        for (name, why) in [
            (ID, "project id"),
            ("0B6F2C1E-4D2A-4F3B-9C1D-2E3F4A5B6C7D", "project id"),
            ("ab--x", "`--`"),
            ("My_Worker", "a-z"),
            ("-x", "start or end"),
        ] {
            let e = worker_slug(name).unwrap_err();
            assert_eq!(e.status(), 400, "{name}");
            assert_eq!(e.field(), "name", "{name}");
            let m = e.message();
            assert!(m.contains(name) && m.contains(why) && m.contains("rename the Worker"), "{m}");
        }
    }
}
