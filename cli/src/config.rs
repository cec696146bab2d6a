//! Where the server URL and token come from (pure): `--url`/`--token` flags first, then
//! `FLOTILLA_URL`/`FLOTILLA_TOKEN`, then the config file (JSON `{"url": ..., "token": ...}` at
//! `$FLOTILLA_CONFIG`, else `$XDG_CONFIG_HOME/flotilla/config.json`, else
//! `~/.config/flotilla/config.json`).

use std::path::PathBuf;

use serde::Deserialize;

/// The config file's shape. Unknown keys are refused so a typo is not silently ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// The settings a command runs with.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for Settings {
    // Never print the token, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("url", &self.url).field("token", &"<redacted>").finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The config file exists but cannot be used (path, reason).
    BadFile(String, String),
    MissingUrl,
    MissingToken,
    BadUrl(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::BadFile(path, why) => write!(f, "config file {path}: {why}"),
            ConfigError::MissingUrl => {
                write!(f, "no server URL: pass --url, set FLOTILLA_URL, or put \"url\" in the config file")
            }
            ConfigError::MissingToken => write!(
                f,
                "no API token: pass --token, set FLOTILLA_TOKEN, or put \"token\" in the config file"
            ),
            ConfigError::BadUrl(u) => write!(f, "server URL `{u}` must start with http:// or https://"),
        }
    }
}

/// The config file to read, from the environment (`None` when no home is known).
pub fn config_path(get_env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |k: &str| get_env(k).filter(|v| !v.is_empty());
    if let Some(p) = nonempty("FLOTILLA_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = nonempty("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(x).join("flotilla").join("config.json"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".config").join("flotilla").join("config.json"))
}

/// Parses a config file's text.
pub fn parse_file(path: &str, text: &str) -> Result<FileConfig, ConfigError> {
    serde_json::from_str(text).map_err(|e| ConfigError::BadFile(path.to_string(), e.to_string()))
}

/// Resolves the settings; each source is consulted only for what the earlier ones left unset.
pub fn resolve(
    flag_url: Option<&str>,
    flag_token: Option<&str>,
    get_env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
) -> Result<Settings, ConfigError> {
    // An empty value (`FLOTILLA_TOKEN=`) counts as unset, so the next source is consulted.
    let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let pick = |flag: Option<&str>, env: &str, file: &Option<String>| {
        clean(flag.map(str::to_string)).or_else(|| clean(get_env(env))).or_else(|| clean(file.clone()))
    };
    let url = pick(flag_url, "FLOTILLA_URL", &file.url).ok_or(ConfigError::MissingUrl)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::BadUrl(url));
    }
    let token = pick(flag_token, "FLOTILLA_TOKEN", &file.token).ok_or(ConfigError::MissingToken)?;
    Ok(Settings { url: url.trim_end_matches('/').to_string(), token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let file = FileConfig { url: Some("https://file.example".into()), token: Some("ftok".into()) };
        let e = env(&[("FLOTILLA_URL", "http://env.example/"), ("FLOTILLA_TOKEN", "etok")]);
        let s = resolve(Some("https://flag.example"), None, &e, &file).unwrap();
        assert_eq!((s.url.as_str(), s.token.as_str()), ("https://flag.example", "etok"));
        let s = resolve(None, None, &e, &file).unwrap();
        assert_eq!((s.url.as_str(), s.token.as_str()), ("http://env.example", "etok"));
        let s = resolve(None, None, &env(&[]), &file).unwrap();
        assert_eq!((s.url.as_str(), s.token.as_str()), ("https://file.example", "ftok"));
        let s = resolve(None, Some("flagtok"), &env(&[]), &file).unwrap();
        assert_eq!(s.token, "flagtok");
        let empty = env(&[("FLOTILLA_URL", ""), ("FLOTILLA_TOKEN", " ")]);
        let s = resolve(Some(""), None, &empty, &file).unwrap();
        assert_eq!((s.url.as_str(), s.token.as_str()), ("https://file.example", "ftok"));
    }

    #[test]
    fn missing_and_bad_values_are_named() {
        let none = FileConfig::default();
        assert_eq!(resolve(None, Some("t"), &env(&[]), &none), Err(ConfigError::MissingUrl));
        assert_eq!(resolve(Some("http://x"), None, &env(&[]), &none), Err(ConfigError::MissingToken));
        let blank = env(&[("FLOTILLA_TOKEN", "  ")]);
        assert_eq!(resolve(Some("http://x"), None, &blank, &none), Err(ConfigError::MissingToken));
        assert!(matches!(resolve(Some("ftp://x"), Some("t"), &env(&[]), &none), Err(ConfigError::BadUrl(_))));
    }

    #[test]
    fn config_file_location_and_parsing() {
        assert_eq!(
            config_path(&env(&[("FLOTILLA_CONFIG", "/etc/f.json"), ("HOME", "/h")])),
            Some(PathBuf::from("/etc/f.json"))
        );
        assert_eq!(
            config_path(&env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/flotilla/config.json"))
        );
        assert_eq!(
            config_path(&env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/flotilla/config.json"))
        );
        assert_eq!(config_path(&env(&[])), None);
        assert_eq!(
            parse_file("c", r#"{"url":"https://a","token":"t"}"#).unwrap(),
            FileConfig { url: Some("https://a".into()), token: Some("t".into()) }
        );
        assert!(matches!(parse_file("c", r#"{"uri":"x"}"#), Err(ConfigError::BadFile(..))));
        assert!(matches!(parse_file("c", "not json"), Err(ConfigError::BadFile(..))));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let s = Settings { url: "http://x".into(), token: "secret-value".into() };
        assert!(!format!("{s:?}").contains("secret-value"));
    }
}
