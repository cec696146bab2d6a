//! Upload progress on stderr: an indicatif bar (files, bytes, rate, ETA) when stdout (and
//! stderr) is a terminal, otherwise one plain line per finished bucket, so CI logs stay readable.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Progress {
    Bar { bar: ProgressBar, files: Mutex<(u64, u64)> },
    Plain { state: Mutex<PlainState> },
}

pub struct PlainState {
    files: u64,
    total_files: u64,
    bytes: u64,
    total_bytes: u64,
    started: Instant,
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Progress {
    pub fn new(tty: bool, total_files: u64, total_bytes: u64) -> Progress {
        if tty {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "[{bar:16.cyan/blue}] {percent:>3}% {msg} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("files 0/{total_files}"));
            Progress::Bar { bar, files: Mutex::new((0, total_files)) }
        } else {
            Progress::Plain {
                state: Mutex::new(PlainState {
                    files: 0,
                    total_files,
                    bytes: 0,
                    total_bytes,
                    started: Instant::now(),
                }),
            }
        }
    }

    /// `n` more bytes of a raw upload went out (the bar moves as they go; plain output waits
    /// for the file to finish).
    pub fn bytes_sent(&self, n: u64) {
        if let Progress::Bar { bar, .. } = self {
            bar.inc(n);
        }
    }

    /// A raw upload of `bytes` finished (its bytes were already shown by `bytes_sent`).
    pub fn raw_done(&self, bytes: u64) {
        match self {
            Progress::Bar { .. } => self.advance(1, 0),
            Progress::Plain { .. } => self.advance(1, bytes),
        }
    }

    /// One bucket finished.
    pub fn advance(&self, files: u64, bytes: u64) {
        match self {
            Progress::Bar { bar, files: f } => {
                let mut g = f.lock().unwrap_or_else(|e| e.into_inner());
                g.0 += files;
                bar.inc(bytes);
                bar.set_message(format!("files {}/{}", g.0, g.1));
            }
            Progress::Plain { state } => {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                s.files += files;
                s.bytes += bytes;
                let secs = s.started.elapsed().as_secs_f64().max(0.001);
                let pct = (s.bytes.saturating_mul(100)).checked_div(s.total_bytes).unwrap_or(100);
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "uploaded {}/{} files, {}/{} ({pct}%), {}/s",
                    s.files,
                    s.total_files,
                    human_bytes(s.bytes),
                    human_bytes(s.total_bytes),
                    human_bytes((s.bytes as f64 / secs) as u64)
                );
            }
        }
    }

    pub fn note(&self, line: &str) {
        match self {
            Progress::Bar { bar, .. } => bar.println(line),
            Progress::Plain { .. } => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar { bar, .. } = self {
            bar.finish();
            // The finished bar stays on screen (at 100%); later narration starts below it.
            let _ = writeln!(std::io::stderr());
        }
    }

    pub fn abandon(&self) {
        if let Progress::Bar { bar, .. } = self {
            bar.abandon();
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(2 << 40), "2.0 TiB");
        assert!(human_bytes(u64::MAX).ends_with(" TiB"));
    }
}
