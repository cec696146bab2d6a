//! Access control (pure): who is calling (the root admin or a scoped API token), what each
//! management route needs, whether the caller has it, and the token-minting rules. The D1 side
//! (token lookup, audit rows, quota counters) lives in `platform::store::d1_access`.

pub mod quota;
mod routes;
mod token;

pub use routes::*;
pub use token::*;

use crate::error::ApiError;

/// What a token may do. Each scope includes the ones below it: `admin` > `manage` > `deploy` >
/// `read` (a token that may deploy can also watch its deployments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Deploy,
    Manage,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Deploy, Scope::Manage, Scope::Admin];

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Deploy => "deploy",
            Scope::Manage => "manage",
            Scope::Admin => "admin",
        }
    }
}

/// Which projects a token reaches: all of them (`"*"`) or a fixed set of project ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projects {
    All,
    Only(Vec<String>),
}

impl Projects {
    pub fn contains(&self, project_id: &str) -> bool {
        match self {
            Projects::All => true,
            Projects::Only(ids) => ids.iter().any(|i| i == project_id),
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Projects::All => serde_json::json!("*"),
            Projects::Only(ids) => serde_json::json!(ids),
        }
    }
    /// The stored form (`api_tokens.projects`) read back; anything unreadable reaches nothing.
    pub fn from_stored(s: &str) -> Projects {
        match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::String(star)) if star == "*" => Projects::All,
            Ok(serde_json::Value::Array(a)) => {
                Projects::Only(a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            }
            _ => Projects::Only(vec![]),
        }
    }
}

/// An authenticated scoped token's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token_id: String,
    pub projects: Projects,
    pub scopes: Vec<Scope>,
    /// Epoch ms, when the token stops working (a token cannot mint one that outlives it): the
    /// earliest expiry along its chain, so an ancestor's limit binds even if a row disagrees.
    pub expires_at: Option<i64>,
    /// How many tokens minted this one's chain (0: minted by the root). Bounds how deep a
    /// token may mint, so every chain fits the one bounded query that checks it.
    pub ancestors: usize,
}

/// Who is making a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Not authenticated (a context before `api::handle` has checked the token): may do nothing.
    Anonymous,
    /// The `API_TOKEN` secret: the operator, allowed everything.
    Root,
    Token(Grant),
}

pub const ROOT_ID: &str = "root";

impl Principal {
    /// The id recorded in the audit trail, upload sessions and deployments.
    pub fn id(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Root => ROOT_ID,
            Principal::Token(g) => &g.token_id,
        }
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        match self {
            Principal::Anonymous => false,
            Principal::Root => true,
            Principal::Token(g) => g.scopes.iter().any(|s| *s >= scope),
        }
    }

    pub fn projects(&self) -> Projects {
        match self {
            Principal::Anonymous => Projects::Only(vec![]),
            Principal::Root => Projects::All,
            Principal::Token(g) => g.projects.clone(),
        }
    }

    pub fn reaches(&self, project_id: &str) -> bool {
        self.projects().contains(project_id)
    }

    /// The scope check: 403 naming the missing scope.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            reason: format!("This token lacks the `{}` scope this call needs", scope.as_str()),
        })
    }

    /// The project check: 403 naming the project as the caller wrote it.
    pub fn require_project(&self, project_id: &str, as_written: &str) -> Result<(), ApiError> {
        if self.reaches(project_id) {
            return Ok(());
        }
        Err(ApiError::Forbidden { reason: format!("This token is not granted project `{as_written}`") })
    }

    /// Calls that act on every project (creating one) need a token for `"*"`.
    pub fn require_all_projects(&self) -> Result<(), ApiError> {
        if self.projects() == Projects::All {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            reason: "This token is limited to some projects; creating projects needs a token for \"*\""
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(projects: Projects, scopes: &[Scope]) -> Principal {
        Principal::Token(Grant {
            token_id: "tok_1".into(),
            projects,
            scopes: scopes.to_vec(),
            expires_at: None,
            ancestors: 0,
        })
    }

    #[test]
    fn scopes_include_the_ones_below() {
        let deployer = token(Projects::All, &[Scope::Deploy]);
        assert!(deployer.has_scope(Scope::Read));
        assert!(deployer.has_scope(Scope::Deploy));
        assert!(!deployer.has_scope(Scope::Manage));
        assert!(!deployer.has_scope(Scope::Admin));
        let e = deployer.require_scope(Scope::Manage).unwrap_err();
        assert_eq!(e.status(), 403);
        assert!(e.message().contains("`manage`"), "{}", e.message());
        assert!(Principal::Root.has_scope(Scope::Admin));
        assert!(!Principal::Anonymous.has_scope(Scope::Read));
        assert!(!Principal::Anonymous.reaches("p"));
    }

    #[test]
    fn project_sets() {
        let a = token(Projects::Only(vec!["pa".into()]), &[Scope::Admin]);
        assert!(a.reaches("pa"));
        assert!(!a.reaches("pb"));
        assert!(a.require_project("pb", "blog-b").unwrap_err().message().contains("blog-b"));
        assert!(a.require_all_projects().is_err());
        assert!(token(Projects::All, &[Scope::Read]).require_all_projects().is_ok());
        assert!(Principal::Root.require_all_projects().is_ok());
    }

    #[test]
    fn stored_projects_round_trip_and_fail_closed() {
        assert_eq!(Projects::from_stored("\"*\""), Projects::All);
        assert_eq!(Projects::from_stored(r#"["a","b"]"#), Projects::Only(vec!["a".into(), "b".into()]));
        assert_eq!(Projects::from_stored("garbage"), Projects::Only(vec![]));
        assert_eq!(Projects::from_stored("\"a\""), Projects::Only(vec![]));
        assert_eq!(Projects::from_stored(&Projects::All.to_json().to_string()), Projects::All);
    }
}
