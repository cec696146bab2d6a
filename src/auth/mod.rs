//! Authentication decisions (pure): the admin bearer token (constant-time compare) and the
//! HS256 upload/completion JWTs of the three-phase upload. Keys and time are passed in.

mod jwt;
pub mod preview;
#[cfg(test)]
mod robustness_tests;

pub use jwt::*;

use crate::domain::constant_time_eq;
use crate::error::ApiError;

/// Extracts the token from an `Authorization` header: `Bearer <t>` or a bare `<t>`.
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let token = match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if h.eq_ignore_ascii_case("bearer") => return None,
        None => h,
    };
    (!token.is_empty()).then_some(token)
}

/// Checks the admin token. The message never says which part was wrong.
pub fn check_admin(header: Option<&str>, expected: &str) -> Result<(), ApiError> {
    let unauthorized = || ApiError::unauthorized("Missing or invalid API token");
    let token = bearer_token(header).ok_or_else(unauthorized)?;
    // An unset secret must never make the empty token valid.
    if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        return Err(unauthorized());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_forms() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(Some("")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn admin_check() {
        assert!(check_admin(Some("Bearer s3cret"), "s3cret").is_ok());
        assert!(check_admin(Some("s3cret"), "s3cret").is_ok());
        for bad in [None, Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret"), Some("")] {
            let e = check_admin(bad, "s3cret").unwrap_err();
            assert_eq!(e.status(), 401);
            assert_eq!(e.message(), "Missing or invalid API token");
        }
        assert!(check_admin(Some("x"), "").is_err(), "unset secret must reject");
    }
}
