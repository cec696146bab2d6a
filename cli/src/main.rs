//! `flotilla`: the command-line client of a Flotilla platform (SPEC §7). Deploys a directory
//! through the three-phase upload and follows the workflow; the other commands are thin
//! wrappers over the management API. Exit codes: 0 ok, 1 failure, 2 usage, 3 auth.

mod cli;
mod client;
mod commands;
mod config;
mod deploy;
mod env;
mod error;
mod progress;
mod retry;
mod upload;
mod walk;

use clap::Parser;
use serde_json::Value;

use crate::error::CliError;

/// What a command produced: JSON for `--json`, text for a person.
pub struct Output {
    pub json: Value,
    pub human: String,
}

fn settings(args: &cli::Cli) -> Result<config::Settings, CliError> {
    let get_env = |k: &str| std::env::var(k).ok();
    let file = match config::config_path(&get_env) {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => config::parse_file(&path.display().to_string(), &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => config::FileConfig::default(),
            Err(e) => {
                return Err(config::ConfigError::BadFile(path.display().to_string(), e.to_string()).into())
            }
        },
        None => config::FileConfig::default(),
    };
    Ok(config::resolve(args.url.as_deref(), args.token.as_deref(), &get_env, &file)?)
}

fn run(args: &cli::Cli) -> Result<Output, CliError> {
    let s = settings(args)?;
    if let cli::Command::Env { shell } = &args.command {
        // Nothing to ask the platform: the settings are the answer.
        let human = env::render(*shell, &s).map_err(|e| CliError::Failed(e.to_string()))?;
        return Ok(Output { json: env::to_json(&s), human });
    }
    let client = client::Client::new(&s.url, &s.token);
    match &args.command {
        cli::Command::Deploy(d) => deploy::run(&client, d),
        // Prints as it goes (one line, or one JSON object, per run), until interrupted.
        cli::Command::Logs(l) if l.follow => commands::follow_runs(&client, l, args.json, print_out),
        other => commands::run(&client, other),
    }
}

/// Writes to stdout, ignoring a closed pipe (`flotilla projects list | head -1` must not panic).
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn print_err(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn main() {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        // clap prints help/version (exit 0) or the usage error (exit 2).
        Err(e) => e.exit(),
    };
    let code = match run(&args) {
        Ok(out) => {
            if args.json {
                print_out(&serde_json::to_string_pretty(&out.json).unwrap_or_else(|_| "{}".into()));
            } else if !out.human.is_empty() {
                print_out(&out.human);
            }
            error::EXIT_OK
        }
        Err(e) => {
            if args.json {
                print_out(&serde_json::to_string_pretty(&e.to_json()).unwrap_or_else(|_| "{}".into()));
            }
            print_err(&e.human());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
