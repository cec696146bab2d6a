//! The rules of the KV binding tenant code gets (issue 27), pure: which tenant keys are valid,
//! how they map into the platform's `TENANT_KV` namespace (`<namespaceId>:<key>`), list and
//! bulk-get options, and Cloudflare's error texts (taken from the local runtime, which copies
//! them). Everything a tenant sends goes through here before a binding is called, so no key,
//! prefix or cursor can reach another namespace's keys: every stored name the binding touches
//! starts with the caller's prefix, and list results are filtered and stripped by it.
//!
//! What the underlying binding checks itself (value size, metadata size, TTL and expiration,
//! `cacheTtl`) is passed through: its messages are already Cloudflare's, and a stream's length
//! is only known while it is written.

/// Cloudflare's key limit, in UTF-8 bytes, for the stored (prefixed) name.
pub const STORED_KEY_MAX: usize = 512;
/// `list({limit})` at most (and the default).
pub const LIST_LIMIT_MAX: u32 = 1000;
/// Keys in one bulk `get([...])`.
pub const BULK_MAX: usize = 100;

/// An error as the tenant's code sees it: a JS `TypeError` or `Error` with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError {
    pub type_error: bool,
    pub message: String,
}

impl KvError {
    fn type_error(message: impl Into<String>) -> KvError {
        KvError { type_error: true, message: message.into() }
    }
    fn error(message: impl Into<String>) -> KvError {
        KvError { type_error: false, message: message.into() }
    }
}

/// The operation, as Cloudflare names it in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    GetBulk,
    Put,
    Delete,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get | Op::List => "GET",
            Op::GetBulk => "GET_BULK",
            Op::Put => "PUT",
            Op::Delete => "DELETE",
        }
    }
}

/// One namespace's view of `TENANT_KV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantNamespace {
    prefix: String,
}

impl TenantNamespace {
    /// `id` must be a resource id (32 hex digits, `domain::is_resource_id`); anything else
    /// gets no namespace at all, so a malformed id cannot become a prefix of another's.
    pub fn new(id: &str) -> Option<TenantNamespace> {
        crate::domain::is_resource_id(id).then(|| TenantNamespace { prefix: format!("{id}:") })
    }

    /// The prefix every stored name of this namespace starts with (also what deleting the
    /// namespace lists and removes).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest tenant key: Cloudflare's 512 bytes less the prefix (the stored name must fit).
    pub fn key_max(&self) -> usize {
        STORED_KEY_MAX - self.prefix.len()
    }

    /// The stored name of a tenant key, or the error Cloudflare gives for that key.
    pub fn key(&self, op: Op, key: &str) -> Result<String, KvError> {
        if key.is_empty() {
            return Err(KvError::type_error("Key name cannot be empty."));
        }
        if key == "." || key == ".." {
            return Err(KvError::type_error(format!("\"{key}\" is not allowed as a key name.")));
        }
        if key.len() > self.key_max() {
            return Err(KvError::error(format!(
                "KV {} failed: 414 UTF-8 encoded length of {} exceeds key length limit of {}.",
                op.name(),
                key.len(),
                self.key_max()
            )));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// The tenant's name of a stored one; `None` for a name outside this namespace (never
    /// shown to the tenant).
    pub fn tenant_name<'a>(&self, stored: &'a str) -> Option<&'a str> {
        stored.strip_prefix(self.prefix.as_str())
    }

    /// The stored names of a bulk get, in order (at most 100, each a valid key).
    pub fn bulk_keys(&self, keys: &[String]) -> Result<Vec<String>, KvError> {
        if keys.len() > BULK_MAX {
            return Err(KvError::error(format!(
                "KV GET_BULK failed: 400 You can request a maximum of {BULK_MAX} keys"
            )));
        }
        keys.iter().map(|k| self.key(Op::GetBulk, k)).collect()
    }

    /// The options for the underlying `list`: the tenant's prefix inside ours (a prefix that
    /// is too long simply matches nothing), its limit checked, its cursor passed on (a cursor
    /// only says where to start; the prefix still bounds what comes back).
    pub fn list(
        &self,
        prefix: Option<&str>,
        limit: Option<f64>,
        cursor: Option<&str>,
    ) -> Result<ListRequest, KvError> {
        let limit = match limit {
            None => LIST_LIMIT_MAX,
            Some(n) if n.is_nan() || n < 0.0 || n.fract() != 0.0 => {
                return Err(KvError::error(format!(
                    "KV GET failed: 400 Invalid key_count_limit of {n}. Please specify an integer greater than 0."
                )))
            }
            Some(n) if n > LIST_LIMIT_MAX as f64 => {
                return Err(KvError::error(format!(
                    "KV GET failed: 400 Invalid key_count_limit of {n}. Please specify an integer less than {LIST_LIMIT_MAX}."
                )))
            }
            Some(0.0) => LIST_LIMIT_MAX,
            Some(n) => n as u32,
        };
        Ok(ListRequest {
            prefix: format!("{}{}", self.prefix, prefix.unwrap_or_default()),
            limit,
            cursor: cursor.filter(|c| !c.is_empty()).map(str::to_string),
        })
    }
}

/// What the platform asks the underlying `list` for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// The value types `get` accepts (`"text"` by default); a bulk get takes only text and json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Json,
    ArrayBuffer,
    Stream,
}

impl ValueType {
    /// Like the runtime: an unknown type name reads as text.
    pub fn parse(s: Option<&str>) -> ValueType {
        match s {
            Some("json") => ValueType::Json,
            Some("arrayBuffer") => ValueType::ArrayBuffer,
            Some("stream") => ValueType::Stream,
            _ => ValueType::Text,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Json => "json",
            ValueType::ArrayBuffer => "arrayBuffer",
            ValueType::Stream => "stream",
        }
    }
    pub fn for_bulk(self) -> Result<ValueType, KvError> {
        match self {
            ValueType::Text | ValueType::Json => Ok(self),
            other => Err(KvError::error(format!(
                "KV GET_BULK failed: 400 \"{}\" is not a valid type. Use \"json\" or \"text\"",
                other.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn ns(id: &str) -> TenantNamespace {
        TenantNamespace::new(id).unwrap()
    }

    #[test]
    fn keys_get_cloudflares_errors() {
        let a = ns(A);
        assert_eq!(a.key(Op::Put, "user:1").unwrap(), format!("{A}:user:1"));
        assert_eq!(a.key(Op::Get, "").unwrap_err(), KvError::type_error("Key name cannot be empty."));
        assert_eq!(a.key(Op::Put, ".").unwrap_err().message, "\".\" is not allowed as a key name.");
        assert_eq!(a.key(Op::Delete, "..").unwrap_err().message, "\"..\" is not allowed as a key name.");
        assert!(a.key(Op::Get, "../x").is_ok(), "only the exact names . and .. are refused");
        assert_eq!(a.key_max(), 479);
        assert!(a.key(Op::Get, &"x".repeat(479)).is_ok());
        assert_eq!(
            a.key(Op::Get, &"x".repeat(480)).unwrap_err(),
            KvError::error("KV GET failed: 414 UTF-8 encoded length of 480 exceeds key length limit of 479.")
        );
        assert_eq!(
            a.key(Op::Delete, &"ü".repeat(300)).unwrap_err().message,
            "KV DELETE failed: 414 UTF-8 encoded length of 600 exceeds key length limit of 479."
        );
        for bad in ["", "x", &A.to_uppercase(), &format!("{A}:"), "../../etc", &A[..31]] {
            assert!(TenantNamespace::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn list_and_bulk_options() {
        let a = ns(A);
        let r = a.list(Some("user:"), Some(10.0), Some("c1")).unwrap();
        assert_eq!(r, ListRequest { prefix: format!("{A}:user:"), limit: 10, cursor: Some("c1".into()) });
        assert_eq!(a.list(None, None, Some("")).unwrap().limit, 1000);
        assert_eq!(a.list(None, Some(1000.0), None).unwrap().limit, 1000);
        assert_eq!(
            a.list(None, Some(1001.0), None).unwrap_err().message,
            "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."
        );
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(a.list(None, Some(bad), None).is_err(), "{bad}");
        }
        let keys: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
        assert_eq!(
            a.bulk_keys(&keys).unwrap_err().message,
            "KV GET_BULK failed: 400 You can request a maximum of 100 keys"
        );
        assert_eq!(a.bulk_keys(&keys[..2]).unwrap(), vec![format!("{A}:k0"), format!("{A}:k1")]);
        assert!(a.bulk_keys(&["ok".into(), ".".into()]).is_err());
        assert_eq!(
            ValueType::parse(Some("arrayBuffer")).for_bulk().unwrap_err().message,
            "KV GET_BULK failed: 400 \"arrayBuffer\" is not a valid type. Use \"json\" or \"text\""
        );
        assert_eq!(ValueType::parse(Some("bogus")), ValueType::Text);
        assert_eq!(a.tenant_name(&format!("{A}:x")), Some("x"));
        assert_eq!(a.tenant_name(&format!("{B}:x")), None);
    }

    /// Whatever a tenant sends as a key, prefix, limit or cursor: nothing panics, every stored
    /// name and list prefix starts with its own namespace's prefix (so never with another's),
    /// and the stored name fits Cloudflare's 512 bytes.
    #[test]
    fn tenant_input_never_escapes_its_prefix() {
        let (a, b) = (ns(A), ns(B));
        let mut g = Gen(0x5EED_0027_0000_0001);
        let mut pieces: Vec<&str> = NASTY.to_vec();
        let cross = format!("{B}:");
        pieces.extend([cross.as_str(), A, ":", "\u{0}", "x"]);
        for _ in 0..30_000 {
            let key = if g.one_in(20) { "y".repeat(g.below(700) as usize) } else { g.string(&pieces, 40) };
            for op in [Op::Get, Op::Put, Op::Delete, Op::GetBulk] {
                if let Ok(stored) = a.key(op, &key) {
                    assert!(stored.starts_with(a.prefix()) && !stored.starts_with(b.prefix()), "{key:?}");
                    assert!(stored.len() <= STORED_KEY_MAX);
                    assert_eq!(a.tenant_name(&stored), Some(key.as_str()));
                }
            }
            let limit = match g.below(4) {
                0 => None,
                1 => Some(g.below(3000) as f64),
                2 => Some(-(g.below(10) as f64) - 0.5),
                _ => Some(f64::from_bits(g.next())),
            };
            if let Ok(r) = a.list(Some(&key), limit, Some(&key)) {
                assert!(r.prefix.starts_with(a.prefix()) && !r.prefix.starts_with(b.prefix()));
                assert!((1..=LIST_LIMIT_MAX).contains(&r.limit));
            }
        }
    }
}
