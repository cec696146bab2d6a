//! Runs Cloudflare's own html_handling and path-encoding case tables
//! (`tests/fixtures/cloudflare/*.json`, vendored from workers-sdk's `workers-shared-asset-config` fixture)
//! against [`resolve_asset`], following redirects the way a browser would.

use super::{resolve_asset, AssetConfig, AssetIntent, HtmlHandling};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    #[serde(rename = "html_handling")]
    html_handling: HtmlHandling,
    title: String,
    files: Vec<String>,
    request_path: String,
    matched_file: Option<String>,
    final_path: Option<String>,
}

fn load(name: &str) -> Vec<Row> {
    let path = format!("{}/tests/fixtures/cloudflare/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("conformance table {path} is missing ({e}); it is vendored in the repository")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Follows up to 5 redirects; returns the final URL (path + query) and what it served.
fn browse(row: &Row) -> Result<(String, Option<String>), String> {
    // Each file's content is distinct here, so its path doubles as its content hash.
    let files: HashMap<&str, &str> = row.files.iter().map(|f| (f.as_str(), f.as_str())).collect();
    let lookup = |p: &str| files.get(p).copied();
    let config = AssetConfig { html_handling: row.html_handling, ..AssetConfig::default() };

    let (mut path, search) = match row.request_path.split_once('?') {
        Some((p, q)) => (p.to_string(), format!("?{q}")),
        None => (row.request_path.clone(), String::new()),
    };
    for _ in 0..5 {
        match resolve_asset(&config, &path, &lookup) {
            AssetIntent::Serve { path: served, status } => {
                if status != 200 {
                    return Err(format!("served {served} with status {status}"));
                }
                return Ok((format!("{path}{search}"), Some(served)));
            }
            AssetIntent::NotFound => return Ok((format!("{path}{search}"), None)),
            AssetIntent::Redirect { location } => {
                if !location.starts_with('/') || location.starts_with("//") {
                    return Err(format!("non path-absolute Location {location}"));
                }
                // Cloudflare sends `location + search`; resolving it keeps the same query.
                path = location;
            }
        }
    }
    Err("redirect loop".to_string())
}

fn run(name: &str, expected_rows: usize) {
    let rows = load(name);
    assert_eq!(rows.len(), expected_rows, "{name}: unexpected row count");
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let want_final = row.final_path.clone().unwrap_or_else(|| row.request_path.clone());
        match browse(row) {
            Ok((final_path, served)) if final_path == want_final && served == row.matched_file => {}
            Ok((final_path, served)) => failures.push(format!(
                "#{i} [{:?}] {}: ended at {final_path} serving {served:?}; want {want_final} serving {:?}",
                row.html_handling, row.title, row.matched_file
            )),
            Err(e) => failures.push(format!("#{i} [{:?}] {}: {e}", row.html_handling, row.title)),
        }
    }
    println!("{name}: {}/{} rows pass", rows.len() - failures.len(), rows.len());
    assert!(failures.is_empty(), "{name}: {} failing rows:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn cloudflare_html_handling_cases() {
    run("html-handling-test-cases.json", 111);
}

#[test]
fn cloudflare_encoding_cases() {
    run("encoding-test-cases.json", 85);
}
