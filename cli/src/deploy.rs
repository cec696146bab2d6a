//! `flotilla deploy`: walk + hash, check rule files locally (the server's own parsers), open
//! the upload session, upload the missing buckets, finalize asynchronously, follow the
//! workflow, then print the URL and preview URL.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::cli::DeployArgs;
use crate::client::{seg, Client, Req};
use crate::error::{CliError, RuleProblem};
use crate::progress::{human_bytes, Progress};
use crate::retry::Idempotency;
use crate::walk::{hash_all, walk, HashedFile, LocalFile};
use crate::Output;

/// How often the deployment record is polled while following the workflow: soon at first (the
/// server runs the workflow at once, so most deploys are done within a few hundred ms), then
/// backing off to `POLL_MAX`.
const POLL_FIRST: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_millis(400);

/// The wait before poll number `n` (0-based): 50, 100, 200, 400, 400 ... ms.
fn poll_delay(n: u32) -> Duration {
    POLL_FIRST.saturating_mul(1u32 << n.min(8)).min(POLL_MAX)
}
/// Give up following after this long (the server's own deadline is 15 minutes).
const FOLLOW_LIMIT: Duration = Duration::from_secs(20 * 60);
const TERMINAL: [&str; 5] = ["completed", "failed", "superseded", "rolled_back", "expired"];

/// `KEY=VALUE` pairs, in order; a repeated key keeps the last value.
pub fn parse_env(pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut m = Map::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| CliError::Usage(format!("--env `{p}` must look like KEY=VALUE")))?;
        m.insert(k.trim().to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

/// `--kv NAME=ID` pairs as the deploy body's `config.bindings` (a repeated name keeps the last).
pub fn parse_kv(pairs: &[String]) -> Result<Vec<Value>, CliError> {
    parse_bindings("kv", "--kv", "NAMESPACE_ID", pairs)
}

/// `--kv`, `--sql` and `--bucket` pairs together: one `config.bindings` list (the server refuses
/// a name bound twice, whatever the kinds).
pub fn parse_all_bindings(args: &DeployArgs) -> Result<Vec<Value>, CliError> {
    let mut out = parse_kv(&args.kv)?;
    out.extend(parse_bindings("sql", "--sql", "DATABASE_ID", &args.sql)?);
    out.extend(parse_bindings("bucket", "--bucket", "BUCKET_ID", &args.bucket)?);
    Ok(out)
}

/// `NAME=ID` pairs of one binding type (a repeated name keeps the last).
fn parse_bindings(kind: &str, flag: &str, id_name: &str, pairs: &[String]) -> Result<Vec<Value>, CliError> {
    let mut by_name = Map::new();
    for p in pairs {
        let (name, id) = p
            .split_once('=')
            .map(|(n, i)| (n.trim(), i.trim()))
            .filter(|(n, i)| !n.is_empty() && !i.is_empty())
            .ok_or_else(|| CliError::Usage(format!("{flag} `{p}` must look like NAME={id_name}")))?;
        by_name.insert(name.to_string(), json!(id));
    }
    Ok(by_name.into_iter().map(|(name, id)| json!({ "type": kind, "name": name, "id": id })).collect())
}

fn html_handling(args: &DeployArgs) -> flotilla::assets::HtmlHandling {
    args.html_handling
        .as_deref()
        .and_then(|h| serde_json::from_value(Value::String(h.to_string())).ok())
        .unwrap_or_default()
}

/// Judges `_redirects` and `_headers` exactly as the deploy's validate step will.
pub fn check_rules(
    redirects: Option<&str>,
    headers: Option<&str>,
    html: flotilla::assets::HtmlHandling,
) -> Result<(), Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut collect =
        |r: Option<&str>, h: Option<&str>| match flotilla::deploy::build_rules(r, h, None, None, html) {
            Ok(_) => {}
            Err(flotilla::error::ApiError::InvalidRules { field, errors }) => {
                problems.extend(errors.into_iter().map(|(line, message)| RuleProblem {
                    file: field.clone(),
                    line,
                    message,
                }))
            }
            Err(other) => problems.push(RuleProblem {
                file: if r.is_some() { "_redirects" } else { "_headers" }.into(),
                line: 0,
                message: other.message(),
            }),
        };
    if redirects.is_some() {
        collect(redirects, None);
    }
    if headers.is_some() {
        collect(None, headers);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn rule_text(files: &[LocalFile], name: &str) -> Result<Option<String>, CliError> {
    let Some(f) = files.iter().find(|f| f.path == name) else { return Ok(None) };
    let bytes = std::fs::read(&f.abs).map_err(|e| CliError::Failed(format!("{name}: {e}")))?;
    String::from_utf8(bytes).map(Some).map_err(|_| {
        CliError::Rules(vec![RuleProblem {
            file: name.trim_start_matches('/').into(),
            line: 0,
            message: "is not valid UTF-8".into(),
        }])
    })
}

/// Picks the entry module of a server directory.
pub fn pick_entry(modules: &[String], explicit: Option<&str>) -> Result<String, CliError> {
    if let Some(e) = explicit {
        return if modules.iter().any(|m| m == e) {
            Ok(e.to_string())
        } else {
            Err(CliError::Usage(format!(
                "--entry {e}: no such module in --server (have: {})",
                modules.join(", ")
            )))
        };
    }
    if modules.len() == 1 {
        return Ok(modules[0].clone());
    }
    for c in ["index.js", "main.js", "worker.js", "index.mjs", "main.mjs", "_worker.js"] {
        if modules.iter().any(|m| m == c) {
            return Ok(c.to_string());
        }
    }
    Err(CliError::Usage("cannot tell the entry module of --server: pass --entry".into()))
}

fn server_code(args: &DeployArgs) -> Result<Option<Value>, CliError> {
    let Some(server) = &args.server else { return Ok(None) };
    let read = |p: &Path| std::fs::read(p).map_err(|e| CliError::Failed(format!("{}: {e}", p.display())));
    let mut modules: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let meta =
        std::fs::metadata(server).map_err(|e| CliError::Failed(format!("{}: {e}", server.display())))?;
    if meta.is_dir() {
        for f in walk(server).map_err(CliError::Failed)? {
            modules.insert(f.path.trim_start_matches('/').to_string(), read(&f.abs)?);
        }
    } else {
        let name = server
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::Usage("--server file name is not valid UTF-8".into()))?;
        modules.insert(name.to_string(), read(server)?);
    }
    let names: Vec<String> = modules.keys().cloned().collect();
    let entry = pick_entry(&names, args.entry.as_deref())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mods: Map<String, Value> =
        modules.into_iter().map(|(k, v)| (k, Value::String(b64.encode(v)))).collect();
    Ok(Some(json!({ "entrypoint": entry, "modules": mods, "compatibilityDate": args.compatibility_date })))
}

/// The upload manifest (`/path -> {hash, size}`) and where each unique hash's bytes live.
pub fn manifest_of(files: &[HashedFile]) -> (Map<String, Value>, crate::upload::Sources) {
    let mut manifest = Map::new();
    let mut sources = HashMap::new();
    for f in files {
        manifest.insert(f.file.path.clone(), json!({ "hash": f.hash, "size": f.file.size }));
        sources.entry(f.hash.clone()).or_insert((f.file.abs.clone(), f.file.size));
    }
    (manifest, sources)
}

/// Human narration goes to stderr, so stdout carries only the result (or the JSON).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn run(client: &Client, args: &DeployArgs) -> Result<Output, CliError> {
    let t0 = Instant::now();
    if args.project.is_none() && args.create.is_none() {
        return Err(needs_project());
    }
    let env = parse_env(&args.env)?;
    let bindings = parse_all_bindings(args)?;
    let files = walk(&args.dir).map_err(CliError::Failed)?;
    if files.is_empty() {
        return Err(CliError::Failed(format!("{}: no files to deploy", args.dir.display())));
    }
    // Before any request: a rule file the server would refuse stops the deploy here.
    let html = html_handling(args);
    let redirects = rule_text(&files, "/_redirects")?;
    let headers = rule_text(&files, "/_headers")?;
    check_rules(redirects.as_deref(), headers.as_deref(), html).map_err(CliError::Rules)?;
    let server = server_code(args)?;
    // All local work (reading and hashing) happens before the first request, so a bad file
    // never leaves a half-made deploy (or a fresh --create project) behind.
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let hashed = hash_all(&files, threads).map_err(CliError::Failed)?;
    let total_bytes: u64 = hashed.iter().map(|f| f.file.size).sum();
    let (manifest, sources) = manifest_of(&hashed);
    say(&format!("{} files ({}) hashed", hashed.len(), human_bytes(total_bytes)));

    let project = match (&args.project, &args.create) {
        (Some(p), _) => client.get(&format!("/__api/projects/{}", seg(p)))?,
        (None, Some(name)) => {
            let v = client.post("/__api/projects", &json!({ "name": name }))?;
            say(&format!("created project {}", v["project"]["slug"].as_str().unwrap_or("?")));
            v
        }
        (None, None) => return Err(needs_project()),
    };
    let project = project.get("project").cloned().unwrap_or(Value::Null);
    let pid = project["id"]
        .as_str()
        .ok_or_else(|| CliError::Failed("the server's project record has no id".into()))?
        .to_string();
    let slug = project["slug"].as_str().unwrap_or(&pid).to_string();

    let session_body = json!({ "manifest": manifest });
    let session = client
        .send(
            &Req::new("POST", &format!("/__api/projects/{}/assets-upload-session", seg(&pid)))
                .body(&session_body)
                .idem(Idempotency::Safe),
        )?
        .json()?;
    let jwt = session
        .pointer("/result/jwt")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Failed("the upload session has no jwt".into()))?
        .to_string();
    let buckets: Vec<Vec<String>> = session
        .pointer("/result/buckets")
        .and_then(|b| serde_json::from_value(b.clone()).ok())
        .unwrap_or_default();
    // Files over 25 MiB: each sent alone as its raw bytes (older servers never list any).
    let raw: Vec<String> = session
        .pointer("/result/rawUploads")
        .and_then(|b| serde_json::from_value(b.clone()).ok())
        .unwrap_or_default();
    let missing: u64 = buckets.iter().map(|b| b.len() as u64).sum::<u64>() + raw.len() as u64;
    let missing_bytes: u64 =
        buckets.iter().flatten().chain(&raw).filter_map(|h| sources.get(h)).map(|(_, s)| *s).sum();

    let (completion, uploaded_files, uploaded_bytes, dropped) = if buckets.is_empty() && raw.is_empty() {
        say("nothing to upload: the project already stores every file");
        (jwt, 0, 0, false)
    } else {
        say(&format!(
            "uploading {missing} of {} unique files ({}) in {} buckets, {} at a time{}",
            sources.len(),
            human_bytes(missing_bytes),
            buckets.len(),
            args.concurrency,
            if raw.is_empty() {
                String::new()
            } else {
                format!(", and {} large files one by one", raw.len())
            }
        ));
        let progress = Progress::new(
            std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
            missing,
            missing_bytes,
        );
        let uploaded = (|| {
            let (rf, rb, raw_jwt) = crate::upload::upload_raw(client, &pid, &jwt, &raw, &sources, &progress)?;
            if buckets.is_empty() {
                let jwt = raw_jwt.ok_or_else(|| {
                    CliError::Failed("every file was uploaded but the server sent no completion token".into())
                })?;
                return Ok((jwt, rf, rb, false));
            }
            let r = crate::upload::upload_buckets(
                client,
                &pid,
                &jwt,
                &buckets,
                &sources,
                args.concurrency as usize,
                &progress,
            )?;
            Ok::<_, CliError>((r.completion_jwt, r.files + rf, r.bytes + rb, r.dropped_to_one))
        })();
        match uploaded {
            Ok(r) => {
                progress.finish();
                r
            }
            Err(e) => {
                progress.abandon();
                return Err(e);
            }
        }
    };

    let mut body = json!({ "completionJwt": completion });
    let mut config = Map::new();
    if let Some(h) = &args.html_handling {
        config.insert("html_handling".into(), json!(h));
    }
    if args.spa {
        config.insert("not_found_handling".into(), json!("single-page-application"));
    } else if let Some(n) = &args.not_found {
        config.insert("not_found_handling".into(), json!(n));
    }
    if !bindings.is_empty() {
        config.insert("bindings".into(), Value::Array(bindings));
    }
    if !config.is_empty() {
        body["config"] = Value::Object(config);
    }
    if let Some(s) = server {
        body["serverCode"] = s;
    }
    if !env.is_empty() {
        body["env"] = Value::Object(env);
    }
    if args.no_activate {
        body["activate"] = json!(false);
    }
    let reply = client.send(&Req {
        method: "POST",
        path: &format!("/__api/projects/{}/deploy", seg(&pid)),
        body: Some(&body),
        bearer: None,
        headers: &[("prefer", "respond-async")],
        idem: Idempotency::Unsafe,
    })?;
    let started = reply.json()?;
    let mut deployment = started.get("deployment").cloned().unwrap_or(Value::Null);
    let dep_id = deployment["id"]
        .as_str()
        .ok_or_else(|| CliError::Failed("the deploy answer has no deployment id".into()))?
        .to_string();
    say(&format!("deployment {dep_id} queued"));

    let uploaded = json!({ "files": uploaded_files, "bytes": uploaded_bytes, "droppedToOneStream": dropped });
    let summary = |deployment: &Value, alias: Option<&Value>| {
        let mut v = json!({
            "success": true,
            "project": { "id": pid, "slug": slug },
            "deployment": deployment,
            "files": hashed.len(),
            "bytes": total_bytes,
            "uniqueHashes": sources.len(),
            "missingHashes": missing,
            "uploaded": uploaded,
            "url": deployment["url"],
            "previewUrl": deployment["previewUrl"],
            "elapsedMs": t0.elapsed().as_millis() as u64,
        });
        if let Some(p) = project.get("pathUrl") {
            v["pathUrl"] = p.clone();
        }
        if let Some(p) = deployment.get("previewPathUrl") {
            v["previewPathUrl"] = p.clone();
        }
        if let Some(a) = alias {
            v["alias"] = a.clone();
        }
        v
    };

    if args.no_wait {
        let v = summary(&deployment, None);
        let human = format!(
            "deployment {dep_id} is {}; follow it with: flotilla logs {dep_id}",
            deployment["status"].as_str().unwrap_or("queued")
        );
        return Ok(Output { json: v, human });
    }

    deployment = follow(client, &dep_id, deployment)?;
    let status = deployment["status"].as_str().unwrap_or("unknown").to_string();
    if status != "completed" {
        let why = deployment["error"].as_str().unwrap_or("no reason given");
        let what = if status == "superseded" {
            "was superseded: a newer deployment went live first".to_string()
        } else {
            format!("ended {status}: {why}")
        };
        return Err(CliError::Failed(format!("deployment {dep_id} {what}")));
    }
    let alias = match &args.alias {
        Some(name) => {
            let v = client.put(
                &format!("/__api/projects/{}/aliases/{}", seg(&pid), seg(name)),
                &json!({ "deploymentId": dep_id }),
            )?;
            Some(v.get("alias").cloned().unwrap_or(Value::Null))
        }
        None => None,
    };
    let v = summary(&deployment, alias.as_ref());
    let mut human = format!(
        "deployed {} files ({} uploaded, {} already stored) in {:.1} s\n",
        hashed.len(),
        uploaded_files,
        (sources.len() as u64).saturating_sub(uploaded_files),
        t0.elapsed().as_secs_f64()
    );
    if args.no_activate {
        human.push_str(&format!("staged, not live: promote with `flotilla promote {dep_id}`\n"));
    } else {
        human.push_str(&format!("URL:      {}\n", v["url"].as_str().unwrap_or("?")));
    }
    human.push_str(&format!("Preview:  {}", v["previewUrl"].as_str().unwrap_or("?")));
    if let Some(p) = v.get("pathUrl").and_then(Value::as_str).filter(|_| !args.no_activate) {
        human.push_str(&format!("\nLocal:    {p}"));
    }
    if let Some(p) = v.get("previewPathUrl").and_then(Value::as_str) {
        human.push_str(&format!("\nLocal preview: {p}"));
    }
    if let Some(a) = &alias {
        human.push_str(&format!("\nAlias:    {}", a["url"].as_str().unwrap_or("?")));
    }
    Ok(Output { json: v, human })
}

fn needs_project() -> CliError {
    CliError::Usage("deploy needs --project <id|slug> or --create <name>".into())
}

/// Polls the deployment until it ends, narrating step changes and new log lines on stderr.
fn follow(client: &Client, dep_id: &str, mut deployment: Value) -> Result<Value, CliError> {
    let started = Instant::now();
    let mut step_seen: HashMap<String, String> = HashMap::new();
    let mut logs_seen = 0usize;
    let mut polls = 0u32;
    loop {
        if let Some(logs) = deployment["logs"].as_array() {
            for l in logs.iter().skip(logs_seen) {
                say(&format!(
                    "    [{}] {}",
                    l["level"].as_str().unwrap_or("info"),
                    l["message"].as_str().unwrap_or("")
                ));
            }
            logs_seen = logs_seen.max(logs.len());
        }
        if let Some(steps) = deployment["steps"].as_object() {
            for (name, s) in steps {
                let st = s["status"].as_str().unwrap_or("?").to_string();
                if step_seen.get(name) != Some(&st) && st != "pending" {
                    let mut line = format!("  {name}: {st}");
                    if let Some(e) = s["error"].as_str() {
                        line.push_str(&format!(" ({e})"));
                    }
                    say(&line);
                }
                step_seen.insert(name.clone(), st);
            }
        }
        let status = deployment["status"].as_str().unwrap_or("");
        if TERMINAL.contains(&status) {
            return Ok(deployment);
        }
        if started.elapsed() > FOLLOW_LIMIT {
            return Err(CliError::Failed(format!(
                "deployment {dep_id} is still {status} after {} s; check it later with `flotilla logs {dep_id}`",
                FOLLOW_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(poll_delay(polls));
        polls += 1;
        let v = client.get(&format!("/__api/deployments/{}", seg(dep_id)))?;
        deployment = v.get("deployment").cloned().unwrap_or(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla::assets::HtmlHandling;

    #[test]
    fn polling_starts_soon_and_backs_off() {
        let ms: Vec<u128> = (0..6).map(|n| poll_delay(n).as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 400, 400]);
        assert_eq!(poll_delay(u32::MAX), POLL_MAX);
    }

    #[test]
    fn kv_pairs_become_bindings() {
        let b = parse_kv(&["CACHE=ns1".into(), " SESS = ns2 ".into(), "CACHE=ns3".into()]).unwrap();
        assert_eq!(
            Value::Array(b),
            json!([{"type": "kv", "name": "CACHE", "id": "ns3"}, {"type": "kv", "name": "SESS", "id": "ns2"}])
        );
        for bad in ["noequals", "=ns", "NAME=", " = "] {
            assert!(matches!(parse_kv(&[bad.into()]), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        let m = parse_env(&["A=1".into(), "B=x=y".into(), "A=2".into(), "E=".into()]).unwrap();
        assert_eq!(Value::Object(m), json!({"A": "2", "B": "x=y", "E": ""}));
        for bad in ["noequals", "=v", " =v"] {
            assert!(matches!(parse_env(&[bad.into()]), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn rule_files_are_judged_like_the_server_with_line_numbers() {
        assert!(
            check_rules(Some("/a /b 301\n# c\n"), Some("/*\n  X-A: b\n"), HtmlHandling::default()).is_ok()
        );
        let err = check_rules(
            Some("/ok /fine\n\nonly-one-token\n/x /y 301 extra\n"),
            None,
            HtmlHandling::default(),
        )
        .unwrap_err();
        let lines: Vec<(String, usize)> = err.iter().map(|p| (p.file.clone(), p.line)).collect();
        assert!(lines.contains(&("_redirects".into(), 3)), "{err:?}");
        assert!(lines.contains(&("_redirects".into(), 4)), "{err:?}");
        // Both files are reported, not just the first bad one.
        let err = check_rules(Some("bad\n"), Some("  X-Orphan: v\n"), HtmlHandling::default()).unwrap_err();
        assert!(err.iter().any(|p| p.file == "_redirects" && p.line == 1), "{err:?}");
        assert!(err.iter().any(|p| p.file == "_headers" && p.line == 1), "{err:?}");
        assert!(check_rules(None, None, HtmlHandling::default()).is_ok());
    }

    #[test]
    fn entry_module_choice() {
        let m = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pick_entry(&m(&["w.js"]), None).unwrap(), "w.js");
        assert_eq!(pick_entry(&m(&["lib.js", "main.js"]), None).unwrap(), "main.js");
        assert_eq!(pick_entry(&m(&["a.js", "b.js"]), Some("b.js")).unwrap(), "b.js");
        assert!(matches!(pick_entry(&m(&["a.js", "b.js"]), None), Err(CliError::Usage(_))));
        assert!(matches!(pick_entry(&m(&["a.js"]), Some("z.js")), Err(CliError::Usage(_))));
    }

    #[test]
    fn manifest_dedupes_sources_by_hash() {
        let f = |p: &str, h: &str| HashedFile {
            file: LocalFile { path: p.into(), abs: p.into(), size: 3 },
            hash: h.into(),
        };
        let (m, s) = manifest_of(&[f("/a", "h1"), f("/b", "h1"), f("/c", "h2")]);
        assert_eq!(m.len(), 3);
        assert_eq!(s.len(), 2);
        assert_eq!(m["/b"], json!({"hash": "h1", "size": 3}));
    }
}
