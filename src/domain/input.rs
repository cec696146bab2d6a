//! Request-body parsing that names the offending field in every 400: JSON objects are read
//! field by field instead of through derive errors, which do not say which field was wrong.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A parsed JSON object body.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Parses a body. An empty body is an empty object when `allow_empty`.
    pub fn parse(body: &[u8], allow_empty: bool) -> Result<JsonObject, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return if allow_empty {
                Ok(JsonObject(Map::new()))
            } else {
                Err(ApiError::bad("body", "a JSON object is required"))
            };
        }
        match serde_json::from_slice::<Value>(body)? {
            Value::Object(m) => Ok(JsonObject(m)),
            _ => Err(ApiError::bad("body", "must be a JSON object")),
        }
    }

    pub fn from_map(m: Map<String, Value>) -> JsonObject {
        JsonObject(m)
    }

    /// Rejects fields outside `allowed` (typos must not be silently ignored).
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => {
                Err(ApiError::bad(k.as_str(), format!("unknown field; allowed: {}", allowed.join(", "))))
            }
            None => Ok(()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad(key, "must be a string")),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad(key, "must be a boolean")),
        }
    }

    pub fn opt_object(&self, key: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(ApiError::bad(key, "must be an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_classes() {
        assert!(JsonObject::parse(b"", true).unwrap().is_empty());
        assert!(JsonObject::parse(b"  ", false).is_err());
        let e = JsonObject::parse(b"{bad", true).unwrap_err();
        assert!(matches!(e, ApiError::BadRequest { ref field, .. } if field == "body"));
        let e = JsonObject::parse(b"[1]", true).unwrap_err();
        assert!(matches!(e, ApiError::BadRequest { ref field, .. } if field == "body"));
    }

    #[test]
    fn field_errors_name_the_field() {
        let o = JsonObject::parse(br#"{"name": 5, "enabled": "yes", "x": 1}"#, false).unwrap();
        assert_eq!(o.opt_str("name").unwrap_err().field(), "name");
        assert_eq!(o.opt_bool("enabled").unwrap_err().field(), "enabled");
        assert_eq!(o.only(&["name", "enabled"]).unwrap_err().field(), "x");
        assert_eq!(o.opt_str("missing").unwrap(), None);
    }

    #[test]
    fn null_is_absent() {
        let o = JsonObject::parse(br#"{"name": null}"#, false).unwrap();
        assert_eq!(o.opt_str("name").unwrap(), None);
    }
}
