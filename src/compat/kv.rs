//! wrangler's KV data calls (`wrangler kv key|bulk ... --remote`, under
//! `/storage/kv/namespaces/:id/...`) mapped onto the tenant KV rules, pure: every key goes
//! through `storage::kv::TenantNamespace` (the same prefixing and checks as the binding), and
//! the answers are Cloudflare's shapes as wrangler 4.164 parses them (`result_info.cursor` for
//! key lists, `{successful_key_count, unsuccessful_keys}` for a bulk write).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::storage::kv::{KvError, ListRequest, Op, TenantNamespace};

/// Entries in one bulk write or delete. Cloudflare takes 10,000, but each entry is one
/// `TENANT_KV` call here and an invocation may make 1,000; wrangler sends 1,000 at a time.
pub const BULK_WRITE_MAX: usize = 1_000;

fn key_error(e: KvError) -> ApiError {
    ApiError::bad("key", e.message)
}

/// The stored name of a key in a URL (`/values/:key`, already percent-decoded).
pub fn value_key(ns: &TenantNamespace, op: Op, key: &str) -> Result<String, ApiError> {
    ns.key(op, key).map_err(key_error)
}

/// One entry of a bulk write, ready for the binding: the stored name and the value's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkPut {
    pub key: String,
    pub value: Vec<u8>,
    pub expiration: Option<u64>,
    pub expiration_ttl: Option<u64>,
    pub metadata: Option<Value>,
}

fn opt_u64(e: &Value, field: &str, i: usize) -> Result<Option<u64>, ApiError> {
    match e.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("[{i}].{field}"), "must be a non-negative integer")),
    }
}

fn bulk_array(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::bad("body", "must be a JSON array"))?;
    let Value::Array(items) = v else { return Err(ApiError::bad("body", "must be a JSON array")) };
    if items.len() > BULK_WRITE_MAX {
        return Err(ApiError::bad("body", format!("at most {BULK_WRITE_MAX} entries per request")));
    }
    Ok(items)
}

/// `PUT .../bulk`: `[{key, value, base64?, expiration?, expiration_ttl?, metadata?}]`. Every
/// entry is checked before anything is written.
pub fn parse_bulk_put(ns: &TenantNamespace, body: &[u8]) -> Result<Vec<BulkPut>, ApiError> {
    let mut out = Vec::new();
    for (i, e) in bulk_array(body)?.iter().enumerate() {
        let key = e
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(format!("[{i}].key"), "is required"))?;
        let key = ns.key(Op::Put, key).map_err(|k| ApiError::bad(format!("[{i}].key"), k.message))?;
        let text = e
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(format!("[{i}].value"), "must be a string"))?;
        let value = match e.get("base64") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => text.as_bytes().to_vec(),
            Some(Value::Bool(true)) => STANDARD
                .decode(text)
                .map_err(|_| ApiError::bad(format!("[{i}].value"), "is not valid base64"))?,
            Some(_) => return Err(ApiError::bad(format!("[{i}].base64"), "must be a boolean")),
        };
        let metadata = match e.get("metadata") {
            None | Some(Value::Null) => None,
            Some(m) => Some(m.clone()),
        };
        out.push(BulkPut {
            key,
            value,
            expiration: opt_u64(e, "expiration", i)?,
            expiration_ttl: opt_u64(e, "expiration_ttl", i)?,
            metadata,
        });
    }
    Ok(out)
}

/// `DELETE .../bulk`: a JSON array of key names -> their stored names.
pub fn parse_bulk_delete(ns: &TenantNamespace, body: &[u8]) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for (i, k) in bulk_array(body)?.iter().enumerate() {
        let k = k.as_str().ok_or_else(|| ApiError::bad(format!("[{i}]"), "must be a key name (string)"))?;
        out.push(ns.key(Op::Delete, k).map_err(|e| ApiError::bad(format!("[{i}]"), e.message))?);
    }
    Ok(out)
}

/// `?expiration=&expiration_ttl=` of a single write.
pub fn parse_expiry(pairs: &[(String, String)]) -> Result<(Option<u64>, Option<u64>), ApiError> {
    let get = |k: &str| -> Result<Option<u64>, ApiError> {
        match pairs.iter().find(|(n, _)| n == k) {
            None => Ok(None),
            Some((_, v)) => {
                v.parse().map(Some).map_err(|_| ApiError::bad(k, "must be a non-negative integer"))
            }
        }
    };
    Ok((get("expiration")?, get("expiration_ttl")?))
}

/// `GET .../keys?prefix=&cursor=&limit=` -> what the binding's `list` gets (inside the prefix).
pub fn parse_keys_query(ns: &TenantNamespace, pairs: &[(String, String)]) -> Result<ListRequest, ApiError> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None | Some("") => None,
        Some(l) => Some(l.parse::<f64>().map_err(|_| ApiError::bad("limit", "must be an integer"))?),
    };
    ns.list(get("prefix"), limit, get("cursor")).map_err(|e| ApiError::bad("limit", e.message))
}

/// One key of a list as the binding returned it (stored name).
pub struct ListedKey {
    pub name: String,
    pub expiration: Option<u64>,
    pub metadata: Option<Value>,
}

/// Cloudflare's key list: names without the namespace prefix (a stored name outside it is
/// dropped, never shown), `result_info.cursor` empty once the list is complete.
pub fn render_keys(ns: &TenantNamespace, keys: &[ListedKey], cursor: Option<&str>, complete: bool) -> Value {
    let items: Vec<Value> = keys
        .iter()
        .filter_map(|k| {
            let name = ns.tenant_name(&k.name)?;
            let mut o = json!({ "name": name });
            if let Some(e) = k.expiration {
                o["expiration"] = json!(e);
            }
            if let Some(m) = &k.metadata {
                o["metadata"] = m.clone();
            }
            Some(o)
        })
        .collect();
    let cursor = if complete { "" } else { cursor.unwrap_or("") };
    json!({ "success": true, "errors": [], "messages": [], "result": items,
            "result_info": { "count": items.len(), "cursor": cursor } })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn ns(id: &str) -> TenantNamespace {
        TenantNamespace::new(id).unwrap()
    }

    #[test]
    fn bulk_put_goes_through_the_tenant_rules() {
        let a = ns(A);
        let body = br#"[{"key":"k1","value":"v1"},{"key":"k2","value":"aGk=","base64":true,"expiration_ttl":120,"metadata":{"m":1}}]"#;
        let out = parse_bulk_put(&a, body).unwrap();
        assert_eq!(
            out[0],
            BulkPut {
                key: format!("{A}:k1"),
                value: b"v1".to_vec(),
                expiration: None,
                expiration_ttl: None,
                metadata: None
            }
        );
        assert_eq!(out[1].key, format!("{A}:k2"));
        assert_eq!(out[1].value, b"hi");
        assert_eq!(out[1].expiration_ttl, Some(120));
        assert_eq!(out[1].metadata, Some(json!({"m": 1})));
        // One bad entry refuses the whole request, naming it.
        let e = parse_bulk_put(&a, br#"[{"key":"ok","value":"v"},{"key":"..","value":"v"}]"#).unwrap_err();
        assert!(e.message().contains("[1].key"), "{}", e.message());
        assert!(parse_bulk_put(&a, br#"[{"key":"k","value":1}]"#).is_err());
        assert!(parse_bulk_put(&a, br#"[{"key":"k","value":"%%","base64":true}]"#).is_err());
        assert!(parse_bulk_put(&a, br#"{"key":"k"}"#).is_err());
        let long = format!(r#"[{{"key":"{}","value":"v"}}]"#, "x".repeat(480));
        assert!(parse_bulk_put(&a, long.as_bytes()).unwrap_err().message().contains("479"));
        assert_eq!(
            parse_bulk_delete(&a, br#"["k1","k2"]"#).unwrap(),
            vec![format!("{A}:k1"), format!("{A}:k2")]
        );
        assert!(parse_bulk_delete(&a, br#"[""]"#).is_err());
        assert!(parse_bulk_delete(&a, br#"[{"key":"k"}]"#).is_err());
        let many: Vec<String> = (0..=BULK_WRITE_MAX).map(|i| format!("k{i}")).collect();
        let e = parse_bulk_delete(&a, serde_json::to_string(&many).unwrap().as_bytes()).unwrap_err();
        assert!(e.message().contains("1000"), "{}", e.message());
    }

    /// A key, prefix or cursor naming another namespace never leaves the caller's prefix, and a
    /// listed name outside it is never shown.
    #[test]
    fn another_namespace_is_out_of_reach() {
        let a = ns(A);
        let cross = format!("../{B}:secret");
        assert_eq!(value_key(&a, Op::Get, &cross).unwrap(), format!("{A}:{cross}"));
        let body = format!(r#"[{{"key":"{B}:x","value":"v"}}]"#);
        assert!(parse_bulk_put(&a, body.as_bytes()).unwrap()[0].key.starts_with(&format!("{A}:")));
        let q =
            |p: &[(&str, &str)]| p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let r = parse_keys_query(&a, &q(&[("prefix", &format!("{B}:")), ("limit", "10"), ("cursor", "c")]))
            .unwrap();
        assert_eq!(r.prefix, format!("{A}:{B}:"));
        assert_eq!(r.limit, 10);
        assert!(parse_keys_query(&a, &q(&[("limit", "x")])).is_err());
        assert!(parse_keys_query(&a, &q(&[("limit", "5000")])).is_err());
        let listed = [
            ListedKey { name: format!("{A}:k"), expiration: Some(9), metadata: Some(json!({"a": 1})) },
            ListedKey { name: format!("{B}:theirs"), expiration: None, metadata: None },
        ];
        let v = render_keys(&a, &listed, Some("next"), false);
        assert_eq!(v["result"], json!([{ "name": "k", "expiration": 9, "metadata": {"a": 1} }]));
        assert_eq!(v["result_info"]["cursor"], "next");
        assert_eq!(render_keys(&a, &listed, Some("next"), true)["result_info"]["cursor"], "");
        assert_eq!(parse_expiry(&q(&[("expiration_ttl", "60")])).unwrap(), (None, Some(60)));
        assert!(parse_expiry(&q(&[("expiration", "-1")])).is_err());
    }
}
