//! MCP requests come from any agent: JSON-RPC framing, tool calls and the transport headers
//! never panic, an error never echoes back anything but a valid id, and an inline deploy only
//! produces files whose hash and size are their own.

use serde_json::{json, Value};

use super::jsonrpc::{parse_message, Incoming, INVALID_PARAMS};
use super::tools::{parse_tool_call, tool_list, ToolCall, MAX_INLINE_BYTES};
use super::transport::{
    check_post_headers, check_version_header, negotiate, origin_allowed, valid_session_id,
};
use crate::test_gen::{Gen, NASTY};

fn valid_id(v: &Value) -> bool {
    v.is_string() || v.is_i64() || v.is_u64()
}

#[test]
fn json_rpc_framing_never_panics_and_only_echoes_valid_ids() {
    let mut g = Gen(0x5EED_3C90_0000_0001);
    for _ in 0..6000 {
        let msg = g.object(&["jsonrpc", "id", "method", "params", "result", "error"], |g, f| match f {
            "jsonrpc" => json!(g.pick(&["2.0", "1.0", "2.00"])),
            "id" => g.json(NASTY, 2),
            "method" => json!(g.pick(&["initialize", "tools/call", "tools/list", "ping", ""])),
            _ => g.json(NASTY, 3),
        });
        let msg = if g.one_in(10) { json!([msg]) } else { msg };
        match parse_message(&g.body(&msg)) {
            Ok(Incoming::Request { id, .. }) => assert!(valid_id(&id), "{id}"),
            Ok(_) => {}
            Err((id, e)) => {
                assert!(id.is_null() || valid_id(&id), "error reply would echo {id}");
                assert!(e.code < 0, "{e:?}");
            }
        }
    }
}

fn tool_args(g: &mut Gen, tool: &str) -> Value {
    let files = |g: &mut Gen| {
        let mut m = serde_json::Map::new();
        for _ in 0..1 + g.below(5) {
            let content = match g.below(4) {
                0 => json!({ "base64": g.string(&["QUJD", "=", "ü", " ", "AA=="], 4) }),
                1 => json!({ "text": g.string(NASTY, 6), "base64": "" }),
                _ => json!({ "text": g.string(NASTY, 6) }),
            };
            m.insert(g.string(NASTY, 5), content);
        }
        Value::Object(m)
    };
    if tool == "deploy" && !g.one_in(4) {
        let mut args = json!({ "project": g.pick(&["site", "a/../b", "%2e%2e", "ü"]), "files": files(g) });
        if g.one_in(2) {
            args["wait"] = json!(g.one_in(2));
        }
        return args;
    }
    g.object(
        &[
            "project",
            "deployment",
            "files",
            "wait",
            "limit",
            "after",
            "cursor",
            "name",
            "hostname",
            "deploymentId",
            "config",
        ],
        |g, f| match f {
            "files" if tool == "deploy" => files(g),
            "wait" => json!(g.one_in(2)),
            "limit" | "after" => {
                json!(g.pick(&["0", "1", "-5", "100000", "9223372036854775807"]).parse::<i64>().unwrap_or(0))
            }
            "config" => g.json(NASTY, 3),
            _ => json!(g.string(NASTY, 5)),
        },
    )
}

#[test]
fn tool_calls_never_panic_and_inline_files_are_what_they_claim() {
    let mut g = Gen(0x5EED_3C90_0000_0002);
    let names: Vec<String> = tool_list()["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .map(String::from)
        .collect();
    assert!(names.iter().any(|n| n == "deploy"));
    let mut deploys = 0;
    for _ in 0..3000 {
        let tool = match g.below(20) {
            0 => g.string(NASTY, 3),
            1..=6 => "deploy".to_string(),
            _ => names[g.below(names.len() as u64) as usize].clone(),
        };
        let params = match g.below(8) {
            0 => g.json(NASTY, 3),
            1 => {
                g.object(
                    &["name", "arguments"],
                    |g, f| if f == "name" { json!(tool) } else { tool_args(g, &tool) },
                )
            }
            _ => json!({ "name": tool, "arguments": tool_args(&mut g, &tool) }),
        };
        match parse_tool_call(Some(&params)) {
            Err(e) => assert_eq!(e.code, INVALID_PARAMS, "{e:?}"),
            Ok(Err(message)) => assert!(!message.is_empty()),
            Ok(Ok(ToolCall::Deploy(d))) => {
                deploys += 1;
                assert!(!d.project.is_empty());
                let (manifest, bodies) = d.manifest();
                let total: usize = d.files.iter().map(|f| f.bytes.len()).sum();
                assert!(total <= MAX_INLINE_BYTES);
                for f in &d.files {
                    assert!(f.path.starts_with('/'), "{:?}", f.path);
                    let e = &manifest[&f.path];
                    assert_eq!(e["hash"].as_str(), Some(crate::domain::ContentHash::of(&f.bytes).as_str()));
                    assert_eq!(e["size"].as_u64(), Some(f.bytes.len() as u64));
                }
                assert!(bodies.iter().all(|(h, _)| h.len() == 64));
                // The HTTP API then decides on the paths exactly as for any other client.
                if let Ok(m) = crate::deploy::parse_upload_manifest(Some(&manifest)) {
                    assert!(m.keys().all(|p| crate::deploy::validate_path(p).is_ok()));
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    assert!(deploys > 50, "only {deploys} deploy calls accepted");
}

#[test]
fn transport_headers_never_panic() {
    let mut g = Gen(0x5EED_3C90_0000_0003);
    for _ in 0..20_000 {
        let a = g.string(&["application/json", "text/event-stream", ",", ";q=1", "*/*", " ", "ü"], 5);
        let c = g.string(&["application/json", "; charset=utf-8", "text/plain", ";", "ü"], 3);
        let _ = check_post_headers(Some(&a), Some(&c));
        let _ = check_version_header(Some(&g.string(NASTY, 4)));
        let _ = negotiate(Some(&g.string(NASTY, 4)));
        let _ = valid_session_id(&g.string(NASTY, 6));
        // An Origin naming another host is refused whatever else it carries.
        let named = if g.one_in(3) {
            g.pick(&["localhost", "127.0.0.1", "platform.example", "evil.com"]).to_string()
        } else {
            g.string(NASTY, 4)
        };
        let origin =
            format!("{}{named}{}", g.pick(&["https://", "http://", "", "null"]), g.pick(&["", ":1", "/x"]));
        let host = g.pick(&["platform.example", "localhost:8787", "evil.com"]);
        if origin_allowed(Some(&origin), host, "platform.example") && !origin.trim().is_empty() {
            let named = origin.split_once("://").map(|(_, r)| r.split('/').next().unwrap_or(r));
            let named = crate::routing::normalize_host(named.unwrap_or(""));
            let loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "[::1]");
            let loop_ok = loopback(&named) && loopback(&crate::routing::normalize_host(host));
            assert!(
                named == crate::routing::normalize_host(host) || named == "platform.example" || loop_ok,
                "{origin:?} allowed on {host}"
            );
        }
    }
}
