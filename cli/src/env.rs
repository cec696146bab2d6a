//! `flotilla env` (pure): the environment that points every Cloudflare tool at this platform
//! instead of Cloudflare, rendered for sh, fish, PowerShell or a `.env` file. The variables are
//! the ones the tools' own sources read (README, "Deploy with wrangler": which tool reads what).

use serde_json::{json, Value};

use crate::config::Settings;

/// What `/client/v4` answers as the one account (`GET /accounts`); account ids in paths are
/// otherwise ignored, so any value works, but this is the one `wrangler whoami` shows.
pub const ACCOUNT_ID: &str = "flotilla";

/// Removed by the shell forms: wrangler prefers a global API key + email over
/// `CLOUDFLARE_API_TOKEN` (and falls back to the deprecated `CF_` names when the new ones are
/// unset), and the Cloudflare SDK sends any of them as headers; a stale Cloudflare credential
/// left in the shell must be neither sent to the platform nor used instead of its token.
pub const UNSET: &[&str] =
    &["CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CF_API_KEY", "CF_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
    Powershell,
    Dotenv,
}

/// The variables to set, in the order printed.
pub fn vars(s: &Settings) -> Vec<(&'static str, String)> {
    let api = format!("{}/client/v4", s.url);
    vec![
        // wrangler (and the Cloudflare SDK it bundles, which it hands this base).
        ("CLOUDFLARE_API_BASE_URL", api.clone()),
        // The `cloudflare` npm SDK on its own: @opennextjs/cloudflare (R2 cache bucket, skew
        // protection) and Cloudflare's `cf` CLI.
        ("CLOUDFLARE_BASE_URL", api),
        ("CLOUDFLARE_API_TOKEN", s.token.clone()),
        ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID.to_string()),
        // wrangler's telemetry goes to a Cloudflare host (not through the API base) unless
        // disabled; error reports are off by default, kept off explicitly.
        ("WRANGLER_SEND_METRICS", "false".to_string()),
        ("WRANGLER_SEND_ERROR_REPORTS", "false".to_string()),
        // Miniflare (wrangler dev, getPlatformProxy, unstable_startWorker: OpenNext's deploy)
        // fetches `Request.cf` data from workers.cloudflare.com unless told not to.
        ("CLOUDFLARE_CF_FETCH_ENABLED", "false".to_string()),
    ]
}

/// Why a value cannot be written in the chosen form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unquotable {
    pub name: &'static str,
    pub why: &'static str,
}

impl std::fmt::Display for Unquotable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}; a .env file cannot hold it safely: use --shell sh|fish|powershell",
            self.name, self.why
        )
    }
}

/// sh/bash/zsh: single quotes keep everything literal; a `'` closes, is escaped, and reopens.
pub fn quote_sh(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// fish: inside single quotes only `\\` and `\'` are escapes.
pub fn quote_fish(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell: single quotes are verbatim except a quote, written twice; PowerShell also takes
/// the typographic single quotes U+2018..U+201B as quotes, so each of those is doubled too.
pub fn quote_powershell(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `.env` (dotenv, dotenvx, wrangler's loader): single quotes, which no dialect can escape, and
/// `$` is expanded by dotenv-expand (wrangler) even there, so such values are refused.
pub fn quote_dotenv(name: &'static str, v: &str) -> Result<String, Unquotable> {
    let why = if v.contains('\'') {
        Some("contains a single quote")
    } else if v.contains(['\n', '\r']) {
        Some("contains a line break")
    } else if v.contains('$') {
        Some("contains `$`, which .env readers expand")
    } else if v.contains('\\') {
        Some("contains a backslash, which .env readers treat differently")
    } else {
        None
    };
    match why {
        Some(why) => Err(Unquotable { name, why }),
        None => Ok(format!("'{v}'")),
    }
}

/// The whole text for one shell; comments never contain a value.
pub fn render(shell: Shell, s: &Settings) -> Result<String, Unquotable> {
    let vars = vars(s);
    let mut out =
        vec!["# Point wrangler, the Cloudflare SDK, OpenNext and cf at Flotilla (flotilla env)".to_string()];
    match shell {
        Shell::Sh => {
            out.push(format!("unset {}", UNSET.join(" ")));
            out.extend(vars.iter().map(|(k, v)| format!("export {k}={}", quote_sh(v))));
        }
        Shell::Fish => {
            out.push(format!("set -e {}", UNSET.join(" ")));
            out.extend(vars.iter().map(|(k, v)| format!("set -gx {k} {}", quote_fish(v))));
        }
        Shell::Powershell => {
            out.extend(UNSET.iter().map(|k| format!("Remove-Item Env:{k} -ErrorAction SilentlyContinue")));
            out.extend(vars.iter().map(|(k, v)| format!("$env:{k} = {}", quote_powershell(v))));
        }
        Shell::Dotenv => {
            out.push(format!("# also remove from the environment: {}", UNSET.join(" ")));
            for (k, v) in &vars {
                out.push(format!("{k}={}", quote_dotenv(k, v)?));
            }
        }
    }
    Ok(out.join("\n"))
}

/// `--json`: the values and the names to unset.
pub fn to_json(s: &Settings) -> Value {
    let vars: serde_json::Map<String, Value> =
        vars(s).into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
    json!({ "variables": vars, "unset": UNSET })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, token: &str) -> Settings {
        Settings { url: url.into(), token: token.into() }
    }

    /// Values a quoting bug would let out of its string: quotes of every kind, expansions,
    /// command substitutions, escapes, line breaks, and non-ASCII.
    const HOSTILE: &[&str] = &[
        "",
        "plain",
        "a'b",
        "'",
        "''",
        "a\"b",
        "$HOME",
        "${HOME}",
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "a\\b",
        "\\",
        "\\'",
        "x\ny",
        "\n",
        "x\r\ny",
        "tab\there",
        "semi;colon & amp | pipe",
        "# not a comment",
        "\u{2019}smart\u{2018} \u{201A}\u{201B}",
        "ünïcödé ✓",
        "'; rm -rf ~; echo '",
        "\\'; echo pwned; '",
    ];

    /// A small deterministic generator (xorshift) of strings over an alphabet of the
    /// characters every quoting rule has to treat specially.
    fn random_values(n: usize) -> Vec<String> {
        let alphabet: Vec<char> =
            "ab'\"$`\\\n\r\t ;&|#(){}*?~!\u{2018}\u{2019}\u{201A}\u{201B}é".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let len = (next() % 12) as usize;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            })
            .collect()
    }

    fn all_values() -> Vec<String> {
        HOSTILE.iter().map(|s| s.to_string()).chain(random_values(2000)).collect()
    }

    /// Reads back a single-quoted word as sh does: `'...'` literal, `\'` outside quotes a quote.
    fn unquote_sh(q: &str) -> String {
        let mut out = String::new();
        let mut it = q.chars();
        let mut quoted = false;
        while let Some(c) = it.next() {
            match (quoted, c) {
                (false, '\'') | (true, '\'') => quoted = !quoted,
                (false, '\\') => out.push(it.next().expect("escape at end")),
                (false, other) => panic!("unquoted {other:?} in {q:?}"),
                (true, other) => out.push(other),
            }
        }
        assert!(!quoted, "unterminated: {q:?}");
        out
    }

    /// fish's single-quoted string: only `\\` and `\'` are escapes; the quote ends it.
    fn unquote_fish(q: &str) -> String {
        let inner = q.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).expect("quoted");
        let mut out = String::new();
        let mut it = inner.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\\' if matches!(it.peek(), Some('\\' | '\'')) => out.push(it.next().unwrap()),
                '\'' => panic!("bare quote inside {q:?}"),
                other => out.push(other),
            }
        }
        out
    }

    fn is_ps_quote(c: char) -> bool {
        matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
    }

    /// PowerShell's verbatim string as its tokenizer reads it: a quote character followed by
    /// another quote character stands for the second; a lone one ends the string.
    fn unquote_powershell(q: &str) -> String {
        let chars: Vec<char> = q.chars().collect();
        assert_eq!(chars[0], '\'');
        let mut out = String::new();
        let mut i = 1;
        loop {
            let c = *chars.get(i).expect("unterminated");
            if is_ps_quote(c) {
                if chars.get(i + 1).is_some_and(|&d| is_ps_quote(d)) {
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                assert_eq!(i, chars.len() - 1, "string ends early in {q:?}");
                return out;
            }
            out.push(c);
            i += 1;
        }
    }

    #[test]
    fn every_shell_form_reads_back_as_the_value() {
        for v in all_values() {
            assert_eq!(unquote_sh(&quote_sh(&v)), v, "sh {v:?}");
            assert_eq!(unquote_fish(&quote_fish(&v)), v, "fish {v:?}");
            assert_eq!(unquote_powershell(&quote_powershell(&v)), v, "powershell {v:?}");
        }
    }

    #[test]
    fn dotenv_refuses_what_it_cannot_hold_and_quotes_the_rest() {
        for v in all_values() {
            match quote_dotenv("T", &v) {
                Ok(q) => {
                    assert_eq!(q, format!("'{v}'"));
                    assert!(!v.contains(['\'', '\n', '\r', '$', '\\']), "{v:?}");
                }
                Err(e) => {
                    assert!(v.contains(['\'', '\n', '\r', '$', '\\']), "{v:?}");
                    assert!(e.to_string().starts_with("T contains"), "{e}");
                }
            }
        }
        let s = settings("https://p.example", "tok$en");
        let e = render(Shell::Dotenv, &s).unwrap_err();
        assert_eq!(e.name, "CLOUDFLARE_API_TOKEN");
        let s = settings("https://p.example", "flt_0123abcd");
        assert!(render(Shell::Dotenv, &s).unwrap().contains("\nCLOUDFLARE_API_TOKEN='flt_0123abcd'\n"));
    }

    /// The sh form through a real `sh`: every exported value comes back byte for byte, and
    /// nothing in a hostile token runs.
    #[test]
    fn sh_output_round_trips_through_a_real_shell() {
        let marker = std::env::temp_dir().join(format!("flotilla-env-pwned-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let mut tokens: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
        tokens.push(format!("$(touch {m})`touch {m}`'; touch {m}; '", m = marker.display()));
        tokens.extend(random_values(40));
        for token in tokens {
            let s = settings("http://127.0.0.1:8787", &token);
            let script = render(Shell::Sh, &s).unwrap();
            let probe = script
                + "\nprintf '%s\\0' \"$CLOUDFLARE_API_BASE_URL\" \"$CLOUDFLARE_BASE_URL\" \"$CLOUDFLARE_API_TOKEN\" \
                   \"$CLOUDFLARE_ACCOUNT_ID\" \"$WRANGLER_SEND_METRICS\" \"${CLOUDFLARE_API_KEY-unset}\" \"${CF_EMAIL-unset}\"";
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&probe)
                .env("CLOUDFLARE_API_KEY", "stale-global-key")
                .env("CF_EMAIL", "someone@example.com")
                .output()
                .expect("sh");
            assert!(out.status.success(), "{token:?}: {}", String::from_utf8_lossy(&out.stderr));
            let got: Vec<String> =
                String::from_utf8(out.stdout).unwrap().split('\0').map(str::to_string).collect();
            let want = [
                "http://127.0.0.1:8787/client/v4",
                "http://127.0.0.1:8787/client/v4",
                token.as_str(),
                ACCOUNT_ID,
                "false",
                "unset",
                "unset",
                "",
            ];
            assert_eq!(got, want, "token {token:?}");
        }
        assert!(!marker.exists(), "a hostile token ran a command");
    }

    #[test]
    fn every_form_names_every_variable_once() {
        let s = settings("https://p.example", "flt_ab");
        for shell in [Shell::Sh, Shell::Fish, Shell::Powershell, Shell::Dotenv] {
            let text = render(shell, &s).unwrap();
            for (k, v) in vars(&s) {
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains(&format!("{k} ")) || l.contains(&format!("{k}=")))
                    .collect();
                assert_eq!(lines.len(), 1, "{shell:?} {k}: {text}");
                assert!(lines[0].contains(&v), "{shell:?} {k}");
            }
        }
        let text = render(Shell::Sh, &s).unwrap();
        assert!(text.contains("export CLOUDFLARE_API_BASE_URL='https://p.example/client/v4'"), "{text}");
        assert!(text.contains("export CLOUDFLARE_BASE_URL='https://p.example/client/v4'"), "{text}");
        assert!(text.contains("export WRANGLER_SEND_METRICS='false'"), "{text}");
        assert!(text.contains("export CLOUDFLARE_CF_FETCH_ENABLED='false'"), "{text}");
        assert!(text.contains("\nunset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CF_API_KEY CF_EMAIL"), "{text}");
        let fish = render(Shell::Fish, &s).unwrap();
        assert!(fish.contains("set -gx CLOUDFLARE_API_TOKEN 'flt_ab'"), "{fish}");
        let ps = render(Shell::Powershell, &s).unwrap();
        assert!(ps.contains("$env:CLOUDFLARE_ACCOUNT_ID = 'flotilla'"), "{ps}");
        assert!(ps.contains("Remove-Item Env:CLOUDFLARE_EMAIL -ErrorAction SilentlyContinue"), "{ps}");
        let j = to_json(&s);
        assert_eq!(j["variables"]["CLOUDFLARE_BASE_URL"], "https://p.example/client/v4");
        assert_eq!(j["unset"][0], "CLOUDFLARE_API_KEY");
    }
}
