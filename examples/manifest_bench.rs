//! Loads a deployment manifest of 20,000 and 100,000 files the old way (format 1: one JSON
//! object parsed into a map) and the new way (format 2: sorted lines, binary search), and
//! prints load time, memory retained by the loaded manifest, peak memory while loading and
//! the stored size; and the upload session's request body parsed through a JSON tree (before)
//! and straight into the manifest (after). Numbers only, nothing asserted:
//!   cargo run --release --example manifest_bench
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use flotilla::assets::{AssetConfig, HeaderRules, RedirectRules};
use flotilla::deploy::{DeploymentManifest, FileTable};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Format 1 as the serving path parsed it before format 2.
#[derive(serde::Serialize, serde::Deserialize)]
struct Old {
    v: u32,
    #[serde(rename = "projectId")]
    project_id: String,
    #[serde(rename = "deploymentId")]
    deployment_id: String,
    config: AssetConfig,
    redirects: RedirectRules,
    headers: HeaderRules,
    files: BTreeMap<String, (String, String, u64)>,
}

/// (ms per load, bytes retained by the result, peak bytes above the start while loading)
fn measure<T>(f: impl Fn() -> T) -> (f64, usize, usize) {
    let mut best = f64::MAX;
    let (mut kept, mut peak) = (0, 0);
    for _ in 0..5 {
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        kept = LIVE.load(Relaxed) - before;
        peak = PEAK.load(Relaxed) - before;
        drop(v);
    }
    (best, kept, peak)
}

fn main() {
    for n in [20_000usize, 100_000] {
        let files: BTreeMap<String, (String, String, u64)> = (0..n)
            .map(|i| {
                let ct = if i % 3 == 0 { "text/html; charset=utf-8" } else { "text/plain; charset=utf-8" };
                (
                    format!("/f/{}/{i}.txt", i / 1000),
                    (format!("{:064x}", i * 7919), ct.to_string(), 100 + i as u64),
                )
            })
            .collect();
        let old_text = serde_json::to_string(&Old {
            v: 1,
            project_id: "p".into(),
            deployment_id: "d".into(),
            config: AssetConfig::default(),
            redirects: RedirectRules::default(),
            headers: HeaderRules::default(),
            files: files.clone(),
        })
        .unwrap();
        let table = FileTable::build(files.iter().map(|(p, (h, c, s))| (p, h, c, *s))).unwrap();
        let new_text = DeploymentManifest::new(
            "p".into(),
            "d".into(),
            AssetConfig::default(),
            RedirectRules::default(),
            HeaderRules::default(),
            table,
            None,
        )
        .encode()
        .unwrap();
        // The text arrives from KV as a String: the copy is part of every load.
        let old = measure(|| serde_json::from_str::<Old>(&old_text.clone()).unwrap());
        let new = measure(|| DeploymentManifest::decode(new_text.clone()).unwrap());
        let migrated = measure(|| DeploymentManifest::decode(old_text.clone()).unwrap());
        let m = DeploymentManifest::decode(new_text.clone()).unwrap();
        let probes: Vec<String> = (0..n).step_by(7).map(|i| format!("/f/{}/{i}.txt", i / 1000)).collect();
        let t = Instant::now();
        let hits = probes.iter().filter(|p| m.lookup(p).is_some()).count();
        let per_lookup_ns = t.elapsed().as_secs_f64() * 1e9 / probes.len() as f64;
        assert_eq!(hits, probes.len());
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        println!("{n} files:");
        println!(
            "  stored size: format 1 {:.2} MiB, format 2 {:.2} MiB",
            mib(old_text.len()),
            mib(new_text.len())
        );
        for (name, (ms, kept, peak)) in [
            ("format 1 (JSON map)", old),
            ("format 2 (sorted lines)", new),
            ("format 1 migrated on read", migrated),
        ] {
            println!(
                "  {name:27} load {ms:7.1} ms, retained {:6.2} MiB, peak {:6.2} MiB",
                mib(kept),
                mib(peak)
            );
        }
        println!("  format 2 lookup: {per_lookup_ns:.0} ns; cache charge {:.2} MiB", mib(m.byte_size()));
        // The upload session's request: {"manifest": {path: {hash, size, contentType}}}.
        let body = serde_json::to_vec(&serde_json::json!({ "manifest": files.iter().map(|(p, (h, c, s))| {
            (p.clone(), serde_json::json!({ "hash": h, "size": s, "contentType": c }))
        }).collect::<serde_json::Map<_, _>>() }))
        .unwrap();
        let before = measure(|| {
            let o = flotilla::domain::JsonObject::parse(&body.clone(), false).unwrap();
            flotilla::deploy::parse_upload_manifest(o.get("manifest")).unwrap()
        });
        let after = measure(|| flotilla::deploy::parse_upload_session_body(&body.clone()).unwrap());
        println!("  upload session body {:.2} MiB:", mib(body.len()));
        for (name, (ms, kept, peak)) in [("via a JSON tree", before), ("typed", after)] {
            println!(
                "    {name:16} parse {ms:7.1} ms, retained {:6.2} MiB, peak {:6.2} MiB",
                mib(kept),
                mib(peak)
            );
        }
    }
}
