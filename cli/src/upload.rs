//! Phase 2 of the upload: sends the session's buckets (only the hashes the server is missing)
//! on up to `concurrency` threads, each request retried per [`crate::retry`]; after repeated
//! server errors the remaining buckets go one at a time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use base64::Engine;
use serde_json::{Map, Value};

use crate::client::{seg, Client, Failure, Req};
use crate::progress::Progress;
use crate::retry::{Idempotency, Outcome, Throttle};

/// Bounds the number of buckets in flight; the bound can drop to one while uploading.
pub struct Gate {
    state: Mutex<(Throttle, usize)>,
    cv: Condvar,
}

impl Gate {
    pub fn new(limit: usize) -> Gate {
        Gate { state: Mutex::new((Throttle::new(limit), 0)), cv: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Throttle, usize)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn acquire(&self) {
        let mut g = self.lock();
        while g.1 >= g.0.limit() {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.1 += 1;
    }

    pub fn release(&self) {
        self.lock().1 -= 1;
        self.cv.notify_all();
    }

    /// Records an attempt; true when this made uploads drop to one stream.
    pub fn record(&self, outcome: Option<Outcome>) -> bool {
        self.lock().0.record(outcome)
    }

    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.lock().0.limit()
    }
}

/// Where each hash's bytes are.
pub type Sources = HashMap<String, (PathBuf, u64)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadResult {
    pub completion_jwt: String,
    pub files: u64,
    pub bytes: u64,
    pub dropped_to_one: bool,
}

fn body_for(bucket: &[String], sources: &Sources) -> Result<(Value, u64), String> {
    let mut m = Map::new();
    let mut bytes = 0;
    for h in bucket {
        let (path, _) = sources.get(h).ok_or_else(|| format!("the server asked for unknown hash {h}"))?;
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // A file that changed since it was hashed would be refused by the server (hash check).
        if crate::walk::sha256_hex(&data) != *h {
            return Err(format!("{} changed while deploying; run the deploy again", path.display()));
        }
        bytes += data.len() as u64;
        m.insert(h.clone(), Value::String(base64::engine::general_purpose::STANDARD.encode(&data)));
    }
    Ok((Value::Object(m), bytes))
}

/// Uploads every bucket. `session_jwt` authorises the uploads; the completion token is the
/// `result.jwt` of whichever upload completes the session.
pub fn upload_buckets(
    client: &Client,
    project: &str,
    session_jwt: &str,
    buckets: &[Vec<String>],
    sources: &Sources,
    concurrency: usize,
    progress: &Progress,
) -> Result<UploadResult, crate::error::CliError> {
    let path = format!("/__api/projects/{}/assets/upload", seg(project));
    let gate = Gate::new(concurrency);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let dropped = AtomicBool::new(false);
    let completion: Mutex<Option<String>> = Mutex::new(None);
    let first_error: Mutex<Option<crate::error::CliError>> = Mutex::new(None);
    let totals = Mutex::new((0u64, 0u64));
    let fail = |e: crate::error::CliError| {
        stop.store(true, Ordering::SeqCst);
        let mut g = first_error.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
    };
    let worker = || loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(bucket) = buckets.get(i) else { return };
        gate.acquire();
        let sent = (|| -> Result<(), crate::error::CliError> {
            let (body, bytes) = body_for(bucket, sources).map_err(crate::error::CliError::Failed)?;
            let req = Req {
                method: "POST",
                path: &path,
                body: Some(&body),
                bearer: Some(session_jwt),
                headers: &[],
                idem: Idempotency::Safe,
            };
            let reply = client.send_observed(&req, &mut |o| {
                if gate.record(o) {
                    dropped.store(true, Ordering::SeqCst);
                    progress.note("server errors: continuing with one upload at a time");
                }
            })?;
            let v = reply.json()?;
            if let Some(jwt) = v.pointer("/result/jwt").and_then(Value::as_str) {
                *completion.lock().unwrap_or_else(|e| e.into_inner()) = Some(jwt.to_string());
            }
            let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
            t.0 += bucket.len() as u64;
            t.1 += bytes;
            progress.advance(bucket.len() as u64, bytes);
            Ok(())
        })();
        gate.release();
        if let Err(e) = sent {
            fail(e);
        }
    };
    let threads = concurrency.clamp(1, 16).min(buckets.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(worker);
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let (files, bytes) = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let completion_jwt = completion.into_inner().unwrap_or_else(|e| e.into_inner()).ok_or_else(|| {
        crate::error::CliError::Api(Failure {
            status: None,
            code: "bad_response".into(),
            message: "every bucket was uploaded but the server sent no completion token".into(),
            request_id: None,
            details: None,
        })
    })?;
    Ok(UploadResult { completion_jwt, files, bytes, dropped_to_one: dropped.load(Ordering::SeqCst) })
}

/// Uploads each raw hash (files too large for a bucket) alone as its raw bytes, streamed from
/// disk, one at a time, in pieces of at most `RAW_PIECE_BYTES` (one request each, well under
/// Cloudflare's request body limit); the progress bar moves with the bytes. Returns the
/// completion token if one of these uploads completed the session.
pub fn upload_raw(
    client: &Client,
    project: &str,
    session_jwt: &str,
    hashes: &[String],
    sources: &Sources,
    progress: &Progress,
) -> Result<(u64, u64, Option<String>), crate::error::CliError> {
    let mut completion = None;
    let (mut files, mut bytes) = (0u64, 0u64);
    for h in hashes {
        let (file, size) = sources.get(h).ok_or_else(|| {
            crate::error::CliError::Failed(format!("the server asked for unknown hash {h}"))
        })?;
        let meta = std::fs::metadata(file)
            .map_err(|e| crate::error::CliError::Failed(format!("{}: {e}", file.display())))?;
        // A file that changed since it was hashed is refused by the server (length or hash).
        if meta.len() != *size {
            return Err(crate::error::CliError::Failed(format!(
                "{} changed while deploying; run the deploy again",
                file.display()
            )));
        }
        let path = format!("/__api/projects/{}/assets/raw/{}", seg(project), seg(h));
        let shown = std::cell::Cell::new(0u64);
        let mut restarted = false;
        let mut start = 0u64;
        let v = loop {
            let len = (*size - start).min(flotilla::deploy::RAW_PIECE_BYTES);
            let range = format!("bytes {start}-{}/{size}", (start + len).saturating_sub(1));
            let headers = [("content-range", range.as_str())];
            let req = Req {
                method: "PUT",
                path: &path,
                body: None,
                bearer: Some(session_jwt),
                // A file sent whole (the server's only form up to 25 MiB) needs no range.
                headers: if len == *size { &[] } else { &headers },
                idem: Idempotency::Safe,
            };
            let sent = |at: u64| {
                if start + at > shown.get() {
                    progress.bytes_sent(start + at - shown.get());
                    shown.set(start + at);
                }
            };
            match client.send_file(&req, file, start, len, &sent) {
                Ok(reply) if start + len == *size => break reply.json()?,
                Ok(_) => start += len,
                // The server holds another position (a piece whose answer was lost): send the
                // file again from its first byte, once.
                Err(f) if f.status == Some(409) && !restarted => {
                    restarted = true;
                    start = 0;
                }
                Err(f) => return Err(f.into()),
            }
        };
        progress.bytes_sent(size.saturating_sub(shown.get()));
        progress.raw_done(*size);
        if let Some(jwt) = v.pointer("/result/jwt").and_then(Value::as_str) {
            completion = Some(jwt.to_string());
        }
        files += 1;
        bytes += size;
    }
    Ok((files, bytes, completion))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn gate_bounds_concurrency_and_drops_to_one() {
        let gate = Arc::new(Gate::new(3));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let run = |n: usize, gate: &Arc<Gate>| {
            peak.store(0, Ordering::SeqCst);
            std::thread::scope(|s| {
                for _ in 0..n {
                    let (gate, active, peak) = (gate.clone(), active.clone(), peak.clone());
                    s.spawn(move || {
                        gate.acquire();
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        active.fetch_sub(1, Ordering::SeqCst);
                        gate.release();
                    });
                }
            });
            peak.load(Ordering::SeqCst)
        };
        let p = run(8, &gate);
        assert!((1..=3).contains(&p), "peak {p}");
        let st = Outcome::Status { code: 503, retry_after: None };
        assert!(!gate.record(Some(st)));
        assert!(gate.record(Some(st)));
        assert_eq!(gate.limit(), 1);
        assert_eq!(run(6, &gate), 1);
    }

    #[test]
    fn raw_upload_refuses_unknown_and_changed_files_before_sending() {
        let dir = std::env::temp_dir().join(format!("flotilla-cli-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big.bin");
        std::fs::write(&f, "0123456789").unwrap();
        let h = crate::walk::sha256_hex(b"0123456789");
        let mut src = Sources::new();
        src.insert(h.clone(), (f.clone(), 9)); // hashed at 9 bytes, now 10
                                               // Nothing listens on this port: either check must fail before any request is made.
        let client = Client::new("http://127.0.0.1:9", "t");
        let progress = Progress::new(false, 1, 10);
        let err = |hashes: &[String]| match upload_raw(&client, "p", "jwt", hashes, &src, &progress) {
            Err(crate::error::CliError::Failed(m)) => m,
            other => panic!("expected a local failure, got {other:?}"),
        };
        assert!(err(&["0".repeat(64)]).contains("unknown hash"));
        assert!(err(std::slice::from_ref(&h)).contains("changed"));
        assert_eq!(upload_raw(&client, "p", "jwt", &[], &src, &progress).unwrap(), (0, 0, None));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bucket_body_checks_hashes_and_unknowns() {
        let dir = std::env::temp_dir().join(format!("flotilla-cli-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.txt");
        std::fs::write(&f, "hello").unwrap();
        let h = crate::walk::sha256_hex(b"hello");
        let mut src = Sources::new();
        src.insert(h.clone(), (f.clone(), 5));
        let (v, n) = body_for(std::slice::from_ref(&h), &src).unwrap();
        assert_eq!((v[&h].as_str(), n), (Some("aGVsbG8="), 5));
        assert!(body_for(&["0".repeat(64)], &src).unwrap_err().contains("unknown hash"));
        std::fs::write(&f, "changed").unwrap();
        assert!(body_for(&[h], &src).unwrap_err().contains("changed"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
