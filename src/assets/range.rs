//! Single byte ranges of asset bodies (RFC 9110 §14): what lets a browser seek in a video or
//! resume a download, and what Safari needs before it plays a `<video>` at all.
//!
//! A deliberate difference from Cloudflare's asset worker, which answers every `Range` request
//! with the whole body (200; it only drops `Cache-Control`, as Flotilla does too). Here a single
//! satisfiable range of a 200 answer becomes a 206 with just those bytes; the rest keeps
//! Cloudflare's behaviour. What is served whole, as RFC 9110 allows a server to: multiple
//! ranges, a malformed header, a unit other than `bytes`, an empty body, and an `If-Range`
//! that is not exactly this asset's strong ETag (assets carry no `Last-Modified`, so a date
//! never matches).

/// How to answer a request for an asset whose planned status is 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole body, with the planned status.
    Whole,
    /// 206 with bytes `start..=last` (both within the body).
    Part { start: u64, last: u64 },
    /// 416: the range starts past the end of the body.
    Unsatisfiable,
}

impl ByteRange {
    /// The status to answer with, given the one planned for the whole body.
    pub fn status(self, whole: u16) -> u16 {
        match self {
            ByteRange::Whole => whole,
            ByteRange::Part { .. } => 206,
            ByteRange::Unsatisfiable => 416,
        }
    }

    /// The `Content-Range` header for a `size`-byte body (none for the whole body).
    pub fn content_range(self, size: u64) -> Option<String> {
        match self {
            ByteRange::Whole => None,
            ByteRange::Part { start, last } => Some(format!("bytes {start}-{last}/{size}")),
            ByteRange::Unsatisfiable => Some(format!("bytes */{size}")),
        }
    }
}

/// Decides how to answer `Range: <range>` (with `If-Range: <if_range>` when sent) for a body
/// of `size` bytes whose strong ETag is `etag`.
pub fn byte_range(range: &str, if_range: Option<&str>, etag: &str, size: u64) -> ByteRange {
    if if_range.is_some_and(|v| v.trim() != etag) || size == 0 {
        return ByteRange::Whole;
    }
    let range = range.trim();
    let Some(spec) = range.get(..6).filter(|unit| unit.eq_ignore_ascii_case("bytes=")).map(|_| &range[6..])
    else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else { return ByteRange::Whole };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (first.is_empty(), number(first), last.is_empty(), number(last)) {
        // `bytes=-N`: the last N bytes (all of them when N >= size); N = 0 selects nothing.
        (true, _, false, Some(0)) => ByteRange::Unsatisfiable,
        (true, _, false, Some(n)) => ByteRange::Part { start: size.saturating_sub(n), last: size - 1 },
        // `bytes=A-` and `bytes=A-B`: B past the end means the end.
        (false, Some(start), true, _) | (false, Some(start), false, Some(_)) => {
            let wanted_last = number(last).unwrap_or(u64::MAX);
            if wanted_last < start {
                ByteRange::Whole
            } else if start >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part { start, last: wanted_last.min(size - 1) }
            }
        }
        // Anything else — `bytes=-`, non-digits, a list (`0-1,5-6` leaves a comma in `last`).
        _ => ByteRange::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"abc\"";

    fn part(start: u64, last: u64) -> ByteRange {
        ByteRange::Part { start, last }
    }

    #[test]
    fn single_ranges_follow_rfc_9110() {
        let cases = [
            ("bytes=0-0", part(0, 0)),
            ("bytes=0-99", part(0, 99)),
            ("bytes=10-", part(10, 99)),
            ("bytes=0-", part(0, 99)),
            ("bytes=50-1000", part(50, 99)),
            ("bytes=99-99", part(99, 99)),
            ("bytes=-1", part(99, 99)),
            ("bytes=-30", part(70, 99)),
            ("bytes=-500", part(0, 99)),
            ("Bytes=1-2", part(1, 2)),
            (" bytes=1-2 ", part(1, 2)),
            ("bytes= 1 - 2", part(1, 2)),
            ("bytes=5-99999999999999999999999", part(5, 99)),
            ("bytes=100-", ByteRange::Unsatisfiable),
            ("bytes=100-200", ByteRange::Unsatisfiable),
            ("bytes=99999999999999999999999-", ByteRange::Unsatisfiable),
            ("bytes=-0", ByteRange::Unsatisfiable),
            // served whole: malformed, reversed, multiple, other units
            ("bytes=5-4", ByteRange::Whole),
            ("bytes=-", ByteRange::Whole),
            ("bytes=", ByteRange::Whole),
            ("bytes=a-b", ByteRange::Whole),
            ("bytes=+1-2", ByteRange::Whole),
            ("bytes=1-2,4-5", ByteRange::Whole),
            ("bytes=-1,0-0", ByteRange::Whole),
            ("items=0-1", ByteRange::Whole),
            ("bytes 0-1", ByteRange::Whole),
            ("", ByteRange::Whole),
            ("ü", ByteRange::Whole),
            ("byteü=0-1", ByteRange::Whole),
        ];
        for (header, want) in cases {
            assert_eq!(byte_range(header, None, TAG, 100), want, "{header}");
        }
    }

    #[test]
    fn if_range_keeps_the_range_only_for_this_strong_etag() {
        assert_eq!(byte_range("bytes=1-2", Some("\"abc\""), TAG, 10), part(1, 2));
        assert_eq!(byte_range("bytes=1-2", Some(" \"abc\" "), TAG, 10), part(1, 2));
        for other in ["\"abd\"", "W/\"abc\"", "Wed, 21 Oct 2015 07:28:00 GMT", ""] {
            assert_eq!(byte_range("bytes=1-2", Some(other), TAG, 10), ByteRange::Whole, "{other}");
        }
    }

    #[test]
    fn an_empty_body_is_served_whole() {
        assert_eq!(byte_range("bytes=0-", None, TAG, 0), ByteRange::Whole);
        assert_eq!(byte_range("bytes=-1", None, TAG, 0), ByteRange::Whole);
    }

    #[test]
    fn statuses_and_content_range() {
        assert_eq!(ByteRange::Whole.status(200), 200);
        assert_eq!(part(0, 1).status(200), 206);
        assert_eq!(ByteRange::Unsatisfiable.status(200), 416);
        assert_eq!(ByteRange::Whole.content_range(5), None);
        assert_eq!(part(2, 4).content_range(5).as_deref(), Some("bytes 2-4/5"));
        assert_eq!(ByteRange::Unsatisfiable.content_range(5).as_deref(), Some("bytes */5"));
    }
}
