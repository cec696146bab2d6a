//! wrangler's R2 calls (pure): buckets as `/r2/buckets` answers them, the object key of a
//! `/r2/buckets/:b/objects/<key>` call checked by the binding's own rules (src/storage/bucket.rs),
//! and the HTTP headers `wrangler r2 object put` sends that become the object's httpMetadata.

use serde_json::{json, Value};

use crate::domain::ResourceRow;
use crate::error::ApiError;
use crate::storage::bucket::{Op, TenantBucket};

/// R2's "The specified bucket does not exist." (wrangler provisions a bucket on exactly this).
pub const CF_BUCKET_NOT_FOUND: u32 = 10006;
/// R2's "The specified key does not exist."
pub const CF_OBJECT_NOT_FOUND: u32 = 10007;

/// The request headers that become an object's httpMetadata (what wrangler sends).
pub const OBJECT_HEADERS: [&str; 6] = [
    "content-type",
    "content-language",
    "content-disposition",
    "content-encoding",
    "cache-control",
    "expires",
];

/// A bucket as `GET /r2/buckets[/:name]` answers it.
pub fn cf_bucket(r: &ResourceRow) -> Value {
    json!({ "name": r.title, "creation_date": crate::domain::iso8601(r.created_at.max(0) as u64),
            "location": "", "storage_class": "Standard" })
}

/// The stored key of an object named in a data call, or a 400 with R2's text.
pub fn object_key(bucket: &TenantBucket, op: Op, key: &str) -> Result<String, ApiError> {
    bucket.key(op, key).map_err(|e| ApiError::bad("key", e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_object_keys() {
        let row = ResourceRow {
            id: "0123456789abcdef0123456789abcdef".into(),
            kind: crate::domain::KIND_BUCKET.into(),
            title: "files".into(),
            created_by: "root".into(),
            created_at: 0,
        };
        assert_eq!(cf_bucket(&row)["name"], "files");
        assert_eq!(cf_bucket(&row)["creation_date"], "1970-01-01T00:00:00.000Z");
        let b = TenantBucket::new(&row.id).unwrap();
        assert_eq!(object_key(&b, Op::Put, "a/b.txt").unwrap(), format!("buckets/{}/a/b.txt", row.id));
        let e = object_key(&b, Op::Get, &"k".repeat(984)).unwrap_err();
        assert_eq!(e.field(), "key");
        assert_eq!(e.status(), 400);
    }
}
