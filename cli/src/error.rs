//! Every way a command can fail, and the exit code CI can rely on: 0 ok, 1 failure, 2 usage,
//! 3 authentication/authorisation.

use serde_json::{json, Value};

use crate::client::Failure;
use crate::config::ConfigError;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_AUTH: i32 = 3;

/// One invalid line of a `_redirects`/`_headers` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CliError {
    Usage(String),
    Config(ConfigError),
    Api(Failure),
    /// Rule files that the server would refuse; nothing was uploaded.
    Rules(Vec<RuleProblem>),
    /// Local trouble (reading files) or a deployment that ended badly.
    Failed(String),
}

impl From<Failure> for CliError {
    fn from(f: Failure) -> Self {
        CliError::Api(f)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(e)
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Config(ConfigError::MissingToken) => EXIT_AUTH,
            CliError::Config(_) => EXIT_USAGE,
            CliError::Api(f) if f.is_auth() => EXIT_AUTH,
            CliError::Api(_) | CliError::Rules(_) | CliError::Failed(_) => EXIT_FAILURE,
        }
    }

    /// What a person reads on stderr (no stack trace, never the token).
    pub fn human(&self) -> String {
        match self {
            CliError::Usage(m) => format!("error: {m}\n(see --help)"),
            CliError::Config(e) => format!("error: {e}"),
            CliError::Api(f) => {
                let mut s = match f.status {
                    Some(st) => format!("error: {} ({st} {})", f.message, f.code),
                    None => format!("error: {}", f.message),
                };
                if let Some(errs) = f.details.as_ref().and_then(|d| d.get("errors")).and_then(Value::as_array)
                {
                    for e in errs {
                        s.push_str(&format!("\n  {}", compact(e)));
                    }
                }
                if let Some(rid) = &f.request_id {
                    s.push_str(&format!("\nrequest id: {rid}"));
                }
                s
            }
            CliError::Rules(problems) => {
                let mut s = String::from("error: invalid rule files (nothing was uploaded):");
                for p in problems {
                    s.push_str(&format!("\n  {}:{}: {}", p.file, p.line, p.message));
                }
                s
            }
            CliError::Failed(m) => format!("error: {m}"),
        }
    }

    /// The `--json` form on stdout, shaped like the server's envelope.
    pub fn to_json(&self) -> Value {
        let (code, message) = match self {
            CliError::Usage(m) => ("usage".to_string(), m.clone()),
            CliError::Config(e) => ("config".to_string(), e.to_string()),
            CliError::Api(f) => (f.code.clone(), f.message.clone()),
            CliError::Rules(_) => {
                ("invalid_rules".to_string(), "invalid rule files; nothing was uploaded".into())
            }
            CliError::Failed(m) => ("failed".to_string(), m.clone()),
        };
        let mut v =
            json!({ "success": false, "error": code, "message": message, "exitCode": self.exit_code() });
        if let CliError::Api(f) = self {
            v["status"] = json!(f.status);
            v["requestId"] = json!(f.request_id);
            if let Some(d) = &f.details {
                v["details"] = (**d).clone();
            }
        }
        if let CliError::Rules(problems) = self {
            v["errors"] = problems
                .iter()
                .map(|p| json!({ "file": p.file, "line": p.line, "message": p.message }))
                .collect();
        }
        v
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match (o.get("line"), o.get("message")) {
            (Some(l), Some(Value::String(m))) => format!("line {l}: {m}"),
            _ => v.to_string(),
        },
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: Option<u16>) -> CliError {
        CliError::Api(Failure {
            status,
            code: "x".into(),
            message: "Something".into(),
            request_id: Some("rid-7".into()),
            details: None,
        })
    }

    #[test]
    fn exit_codes_table() {
        let cases = [
            (CliError::Usage("u".into()), 2),
            (CliError::Config(ConfigError::MissingUrl), 2),
            (CliError::Config(ConfigError::BadUrl("x".into())), 2),
            (CliError::Config(ConfigError::MissingToken), 3),
            (api(Some(401)), 3),
            (api(Some(403)), 3),
            (api(Some(404)), 1),
            (api(Some(429)), 1),
            (api(Some(500)), 1),
            (api(None), 1),
            (CliError::Rules(vec![]), 1),
            (CliError::Failed("f".into()), 1),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e:?}");
            assert_eq!(e.to_json()["exitCode"], code);
        }
    }

    #[test]
    fn messages_carry_the_request_id_and_rule_lines() {
        let h = api(Some(404)).human();
        assert!(h.contains("Something") && h.contains("rid-7"), "{h}");
        assert_eq!(api(Some(404)).to_json()["requestId"], "rid-7");
        let r =
            CliError::Rules(vec![RuleProblem { file: "_redirects".into(), line: 3, message: "bad".into() }]);
        assert!(r.human().contains("_redirects:3: bad"), "{}", r.human());
        assert_eq!(r.to_json()["errors"][0]["line"], 3);
    }
}
