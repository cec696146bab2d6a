//! The rules of the R2 binding tenant code gets (issue 27), pure: which tenant keys are valid,
//! how they map into the platform's `BLOBS` bucket (`buckets/<bucketId>/<key>`, built by
//! `keys::tenant_bucket_prefix`), list and bulk-delete options, and R2's error texts (taken
//! from the local runtime, which copies them: `<op>: <message> (<code>)`). Everything a tenant
//! sends goes through here before the binding is called, so no key, prefix, `startAfter`,
//! cursor or delimiter can reach another bucket's objects (or the platform's own documents):
//! every stored key the binding touches starts with the caller's prefix, and list results
//! (objects and `delimitedPrefixes`) are filtered and stripped by it.
//!
//! What the underlying binding checks itself (checksums, ranges, conditions, part numbers, the
//! multipart minimum size) is passed through: its messages are already R2's.

use crate::keys::tenant_bucket_prefix;

/// R2's key limit, in UTF-8 bytes, for the stored (prefixed) key.
pub const STORED_KEY_MAX: usize = 1024;
/// `list({limit})` at most (and the default).
pub const LIST_LIMIT_MAX: u32 = 1000;
/// Keys one `delete([...])` takes at most (R2's limit for a bulk delete).
pub const DELETE_MAX: usize = 1000;
/// R2's limit on an object's metadata: the custom metadata's names and values, in UTF-8 bytes.
pub const METADATA_MAX: usize = 8192;

/// An error as the tenant's code sees it: a JS `TypeError` or `Error` with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketError {
    pub type_error: bool,
    pub message: String,
}

impl BucketError {
    /// R2's own shape: `<op>: <message> (<code>)`.
    fn r2(op: Op, message: &str, code: u32) -> BucketError {
        BucketError { type_error: false, message: format!("{}: {message} ({code})", op.name()) }
    }
    fn type_error(message: impl Into<String>) -> BucketError {
        BucketError { type_error: true, message: message.into() }
    }
}

/// The operation, as R2 names it in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Head,
    Put,
    Delete,
    List,
    CreateMultipart,
    UploadPart,
    CompleteMultipart,
    AbortMultipart,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Head => "head",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::List => "list",
            Op::CreateMultipart => "createMultipartUpload",
            Op::UploadPart => "uploadPart",
            Op::CompleteMultipart => "completeMultipartUpload",
            Op::AbortMultipart => "abortMultipartUpload",
        }
    }
}

/// What tenant code passes to `list()` (already read off its options object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListInput<'a> {
    pub prefix: Option<&'a str>,
    pub delimiter: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub limit: Option<f64>,
}

/// What the platform asks the underlying `list` for; `None` from [`TenantBucket::list`] means
/// the answer is empty without asking (a prefix longer than any key can be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub cursor: Option<String>,
    pub start_after: Option<String>,
    pub limit: u32,
}

/// One bucket's view of `BLOBS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantBucket {
    prefix: String,
}

impl TenantBucket {
    /// `id` must be a resource id (32 hex digits, `domain::is_resource_id`); anything else
    /// gets no bucket at all, so a malformed id cannot become a prefix of another's.
    pub fn new(id: &str) -> Option<TenantBucket> {
        crate::domain::is_resource_id(id).then(|| TenantBucket { prefix: tenant_bucket_prefix(id) })
    }

    /// The prefix every stored key of this bucket starts with (also what deleting the bucket
    /// lists and removes).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest tenant key: R2's 1024 bytes less the prefix (the stored key must fit).
    pub fn key_max(&self) -> usize {
        STORED_KEY_MAX - self.prefix.len()
    }

    /// The stored key of a tenant key, or the error R2 gives for that key. Empty keys are
    /// refused too (the stored key would be the bucket's prefix itself).
    pub fn key(&self, op: Op, key: &str) -> Result<String, BucketError> {
        if key.is_empty() || key.len() > self.key_max() {
            return Err(BucketError::r2(op, "The specified object name is not valid.", 10020));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// The tenant's key of a stored one; `None` for a key outside this bucket (never shown to
    /// the tenant).
    pub fn tenant_key<'a>(&self, stored: &'a str) -> Option<&'a str> {
        stored.strip_prefix(self.prefix.as_str())
    }

    /// The stored keys of `delete(key | keys[])`, in order: at most 1000, each valid.
    pub fn delete_keys(&self, keys: &[String]) -> Result<Vec<String>, BucketError> {
        if keys.len() > DELETE_MAX {
            return Err(BucketError::r2(
                Op::Delete,
                &format!("You can delete at most {DELETE_MAX} objects in one call."),
                10040,
            ));
        }
        keys.iter().map(|k| self.key(Op::Delete, k)).collect()
    }

    /// The options for the underlying `list`: the tenant's prefix and `startAfter` inside ours,
    /// its limit checked (1..=1000, R2's text otherwise), its cursor and delimiter passed on (a
    /// cursor only says where to start and a delimiter only how to group: the prefix still
    /// bounds what comes back, and the results are filtered by it). `Ok(None)`: a prefix too
    /// long for any key, so nothing matches.
    pub fn list(&self, input: &ListInput<'_>) -> Result<Option<ListRequest>, BucketError> {
        let limit = match input.limit {
            None => LIST_LIMIT_MAX,
            Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= LIST_LIMIT_MAX as f64 => n as u32,
            Some(_) => {
                return Err(BucketError::r2(
                    Op::List,
                    "MaxKeys params must be positive integer <= 1000.",
                    10022,
                ))
            }
        };
        let prefix = format!("{}{}", self.prefix, input.prefix.unwrap_or_default());
        if prefix.len() > STORED_KEY_MAX {
            return Ok(None);
        }
        // Prefixed like a key, so it is only ever a position inside our range. One longer than
        // any stored key is cut to 1024 bytes: no key of at most 1024 bytes sorts between the
        // cut and the whole, so the listing is the same.
        let start_after = input.start_after.filter(|s| !s.is_empty()).map(|s| {
            let mut stored = format!("{}{s}", self.prefix);
            if stored.len() > STORED_KEY_MAX {
                let mut cut = STORED_KEY_MAX;
                while !stored.is_char_boundary(cut) {
                    cut -= 1;
                }
                stored.truncate(cut);
            }
            stored
        });
        Ok(Some(ListRequest {
            prefix,
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(str::to_string),
            cursor: input.cursor.filter(|c| !c.is_empty()).map(str::to_string),
            start_after,
            limit,
        }))
    }

    /// A `delimitedPrefixes` entry or object key of a list answer, as the tenant sees it.
    /// Both start with the list prefix (ours + the tenant's); anything else is dropped.
    pub fn listed<'a>(&self, stored: &'a str) -> Option<&'a str> {
        self.tenant_key(stored)
    }
}

/// R2's refusal of custom metadata over [`METADATA_MAX`] (names plus values, UTF-8 bytes).
pub fn check_metadata<'a>(
    op: Op,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), BucketError> {
    let size: usize = pairs.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > METADATA_MAX {
        return Err(BucketError::r2(
            op,
            "Your metadata headers exceed the maximum allowed metadata size.",
            10012,
        ));
    }
    Ok(())
}

/// The part number of `uploadPart` must be an integer 1..=10000, as R2 checks.
pub fn part_number(n: f64) -> Result<u16, BucketError> {
    if n.fract() == 0.0 && (1.0..=10_000.0).contains(&n) {
        Ok(n as u16)
    } else {
        Err(BucketError::type_error("Part number must be between 1 and 10000 (inclusive)."))
    }
}

/// Bucket names: R2's rule (3-63 of `a-z`, `0-9`, `-`, starting and ending with a letter or
/// digit), so a name wrangler accepts is one we accept. Unique per creator among live buckets.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `POST /__api/buckets {name}` (`strict`: no other field) and R2's `POST /r2/buckets {name,
/// ...}` (wrangler may send `locationHint`, `storageClass`: ignored): the name, checked.
pub fn parse_create_bucket(body: &[u8], strict: bool) -> Result<String, crate::error::ApiError> {
    use crate::error::ApiError;
    let o = crate::domain::JsonObject::parse(body, false)?;
    if strict {
        o.only(&["name"])?;
    }
    let name = o.opt_str("name")?.unwrap_or_default().to_string();
    if !valid_bucket_name(&name) {
        return Err(ApiError::bad(
            "name",
            "must be 3-63 characters of a-z, 0-9 and -, starting and ending with a letter or digit",
        ));
    }
    Ok(name)
}

/// A bucket as `/__api/buckets` shows it (R2's `name` and `creation_date`, plus ours).
pub fn bucket_json(row: &crate::domain::ResourceRow, bound_projects: &[String]) -> serde_json::Value {
    let at = crate::domain::iso8601(row.created_at.max(0) as u64);
    serde_json::json!({
        "id": row.id,
        "name": row.title,
        "creation_date": at,
        "createdBy": row.created_by,
        "createdAt": at,
        "projects": bound_projects,
    })
}

/// Deleted buckets one cron run continues, longest deleted first, and the objects it removes
/// at most over all of them (one list and one bulk delete per bucket).
pub const BUCKETS_PER_RUN: usize = 5;
pub const BUCKET_OBJECTS_PER_RUN: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_gen::{Gen, NASTY};

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn bucket(id: &str) -> TenantBucket {
        TenantBucket::new(id).unwrap()
    }

    #[test]
    fn keys_get_r2s_errors() {
        let a = bucket(A);
        assert_eq!(a.prefix(), format!("buckets/{A}/"));
        assert_eq!(a.key(Op::Put, "img/1.png").unwrap(), format!("buckets/{A}/img/1.png"));
        assert_eq!(a.key_max(), 1024 - 41);
        assert!(a.key(Op::Get, &"x".repeat(983)).is_ok());
        assert_eq!(
            a.key(Op::Get, &"x".repeat(984)).unwrap_err(),
            BucketError {
                type_error: false,
                message: "get: The specified object name is not valid. (10020)".into()
            }
        );
        assert_eq!(
            a.key(Op::Put, "").unwrap_err().message,
            "put: The specified object name is not valid. (10020)"
        );
        assert_eq!(
            a.key(Op::Head, &"ü".repeat(492)).unwrap_err().message,
            "head: The specified object name is not valid. (10020)"
        );
        assert!(a.key(Op::Get, "../x").is_ok(), "just a key: it stays under the prefix");
        assert_eq!(a.tenant_key(&format!("buckets/{A}/x")), Some("x"));
        assert_eq!(a.tenant_key(&format!("buckets/{B}/x")), None);
        for bad in ["", "x", &A.to_uppercase(), &format!("{A}/"), "../../etc", &A[..31]] {
            assert!(TenantBucket::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn list_delete_and_metadata_options() {
        let a = bucket(A);
        let r = a
            .list(&ListInput {
                prefix: Some("img/"),
                delimiter: Some("/"),
                cursor: Some("c1"),
                start_after: Some("img/3"),
                limit: Some(10.0),
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            ListRequest {
                prefix: format!("buckets/{A}/img/"),
                delimiter: Some("/".into()),
                cursor: Some("c1".into()),
                start_after: Some(format!("buckets/{A}/img/3")),
                limit: 10,
            }
        );
        let plain = a
            .list(&ListInput { cursor: Some(""), delimiter: Some(""), ..Default::default() })
            .unwrap()
            .unwrap();
        assert_eq!((plain.limit, plain.cursor, plain.delimiter), (1000, None, None));
        for bad in [0.0, -1.0, 1.5, 1001.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                a.list(&ListInput { limit: Some(bad), ..Default::default() }).unwrap_err().message,
                "list: MaxKeys params must be positive integer <= 1000. (10022)",
                "{bad}"
            );
        }
        let long = "p".repeat(1000);
        assert_eq!(a.list(&ListInput { prefix: Some(&long), ..Default::default() }).unwrap(), None);
        let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
        assert!(a.delete_keys(&keys).unwrap_err().message.starts_with("delete: You can delete at most 1000"));
        assert_eq!(
            a.delete_keys(&keys[..2]).unwrap(),
            vec![format!("buckets/{A}/k0"), format!("buckets/{A}/k1")]
        );
        assert!(a.delete_keys(&["ok".into(), "".into()]).is_err());
        let big = "v".repeat(8190);
        assert!(check_metadata(Op::Put, [("k", "v"), ("a", "b")]).is_ok());
        assert!(check_metadata(Op::Put, [("ab", big.as_str())]).is_ok());
        assert_eq!(
            check_metadata(Op::CreateMultipart, [("abc", big.as_str())]).unwrap_err().message,
            "createMultipartUpload: Your metadata headers exceed the maximum allowed metadata size. (10012)"
        );
        assert_eq!(part_number(1.0), Ok(1));
        assert_eq!(part_number(10_000.0), Ok(10_000));
        for bad in [0.0, 10_001.0, 1.5, f64::NAN] {
            assert!(part_number(bad).unwrap_err().type_error, "{bad}");
        }
    }

    #[test]
    fn bucket_names_follow_r2() {
        for ok in ["files", "a-1", "abc", &"x".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in ["", "ab", "-ab", "ab-", "Files", "a_b", "a.b", "a/b", "..", &"x".repeat(64), "ü-ok"] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
        assert_eq!(parse_create_bucket(br#"{"name":"files"}"#, true).unwrap(), "files");
        for body in [&br#"{}"#[..], br#"{"name":"../x"}"#, br#"{"name":1}"#, b"files"] {
            assert!(parse_create_bucket(body, false).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let hinted = br#"{"name":"files","locationHint":"weur"}"#;
        assert_eq!(parse_create_bucket(hinted, false).unwrap(), "files");
        assert_eq!(parse_create_bucket(hinted, true).unwrap_err().field(), "locationHint");
    }

    /// Whatever a tenant sends as a key, prefix, `startAfter`, cursor, delimiter or limit:
    /// nothing panics, every stored key and list bound starts with its own bucket's prefix (so
    /// never with another's), and stored keys fit R2's 1024 bytes.
    #[test]
    fn tenant_input_never_escapes_its_prefix() {
        let (a, b) = (bucket(A), bucket(B));
        let mut g = Gen(0x5EED_0027_0000_0002);
        let mut pieces: Vec<&str> = NASTY.to_vec();
        let cross = format!("buckets/{B}/");
        pieces.extend([cross.as_str(), A, "/", "buckets/", "..", "\u{0}", "x", "é"]);
        for _ in 0..30_000 {
            let key = if g.one_in(20) { "y".repeat(g.below(1500) as usize) } else { g.string(&pieces, 40) };
            for op in [Op::Get, Op::Head, Op::Put, Op::Delete, Op::UploadPart] {
                if let Ok(stored) = a.key(op, &key) {
                    assert!(stored.starts_with(a.prefix()) && !stored.starts_with(b.prefix()), "{key:?}");
                    assert!(stored.len() <= STORED_KEY_MAX);
                    assert_eq!(a.tenant_key(&stored), Some(key.as_str()));
                }
            }
            let other = g.string(&pieces, 20);
            let limit = match g.below(4) {
                0 => None,
                1 => Some(g.below(3000) as f64),
                2 => Some(-(g.below(10) as f64) - 0.5),
                _ => Some(f64::from_bits(g.next())),
            };
            let input = ListInput {
                prefix: Some(&key),
                delimiter: Some(&other),
                cursor: Some(&other),
                start_after: Some(if g.one_in(2) { &key } else { &other }),
                limit,
            };
            if let Ok(Some(r)) = a.list(&input) {
                assert!(r.prefix.starts_with(a.prefix()) && !r.prefix.starts_with(b.prefix()));
                assert!(r.prefix.len() <= STORED_KEY_MAX);
                if let Some(s) = &r.start_after {
                    assert!(s.starts_with(a.prefix()) && s.len() <= STORED_KEY_MAX, "{s:?}");
                }
                assert!((1..=LIST_LIMIT_MAX).contains(&r.limit));
            }
            // A listing that (by a bug elsewhere) held another bucket's key never shows it.
            assert_eq!(a.listed(&format!("{}{key}", b.prefix())), None);
        }
    }
}
