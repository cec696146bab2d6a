//! Small visitor-facing pages the platform itself renders (404, 5xx): HTML by default, JSON
//! when the client prefers it. They never name anything internal.

/// True when the `Accept` header prefers JSON over HTML.
pub fn wants_json(accept: Option<&str>) -> bool {
    let a = accept.unwrap_or("").to_ascii_lowercase();
    a.contains("application/json") && !a.contains("text/html")
}

/// (content type, body) of a platform page with `status`.
pub fn platform_page(status: u16, accept: Option<&str>, request_id: &str) -> (&'static str, String) {
    let (code, title, text) = match status {
        400 => ("bad_request", "Bad request", "This address is not valid."),
        401 => (
            "preview_protected",
            "Protected preview",
            "This preview is protected. Open it through a preview link from the project's owner.",
        ),
        404 => ("not_found", "Not found", "There is nothing deployed at this address."),
        502 => ("bad_gateway", "Bad gateway", "The site's server code did not produce a valid response."),
        503 => ("unavailable", "Unavailable", "This site is temporarily unavailable."),
        _ => ("internal_error", "Something went wrong", "The site could not serve this request."),
    };
    if wants_json(accept) {
        let body = serde_json::json!({
            "success": false, "error": code, "message": text, "requestId": request_id,
        });
        return ("application/json", body.to_string());
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>{status} {title}</title><style>body{{font:16px \
         system-ui,sans-serif;margin:15vh auto;max-width:32rem;padding:0 1rem;color:#222}}h1{{font-size:1.5rem}}\
         small{{color:#888}}</style></head><body><h1>{status} · {title}</h1><p>{text}</p><small>Request \
         {request_id}</small></body></html>"
    );
    ("text/html; charset=utf-8", html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert!(wants_json(Some("application/json")));
        assert!(!wants_json(Some("text/html,application/json")));
        assert!(!wants_json(None));
        let (ct, body) = platform_page(404, Some("application/json"), "r1");
        assert_eq!(ct, "application/json");
        assert!(body.contains("\"not_found\""));
        let (ct, body) = platform_page(404, None, "r1");
        assert!(ct.starts_with("text/html"));
        assert!(body.contains("404"));
        // Request ids are ours (hex), but the page must stay inert whatever it is given.
        let (_, body) = platform_page(500, None, "abc");
        assert!(!body.contains("<script"));
    }
}
