//! Static-asset serving decisions (pure): html_handling, not_found_handling, _redirects,
//! _headers, content types. No bindings; the platform layer loads a manifest and calls in.
