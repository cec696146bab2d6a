//! Which files of a directory are deployed: everything below it except `.git`, `node_modules`,
//! `.DS_Store` and what `.flotillaignore` / `.assetsignore` (gitignore syntax, any level) exclude.
//! `.gitignore` is deliberately not honoured: a build output is often git-ignored itself.
//! Symbolic links are followed while they stay inside the directory; one that leads out of it
//! is an error, so a stray link (to `~/.ssh`, `/etc`, a sibling checkout) never publishes what
//! lies outside the directory the user named.
//! Then hashing (SHA-256 hex of the bytes, the server's content hash), in parallel.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Ignore files read at every level (gitignore syntax); never uploaded themselves.
pub const IGNORE_FILES: [&str; 2] = [".flotillaignore", ".assetsignore"];
/// Names skipped wherever they appear, whatever the ignore files say.
pub const ALWAYS_SKIPPED: [&str; 3] = [".git", "node_modules", ".DS_Store"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Manifest path: `/`-rooted, `/`-separated, relative to the deployed directory.
    pub path: String,
    pub abs: PathBuf,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedFile {
    pub file: LocalFile,
    pub hash: String,
}

/// Lists the files to deploy, sorted by manifest path. Errors name the offending file.
pub fn walk(root: &Path) -> Result<Vec<LocalFile>, String> {
    let meta = std::fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    let real_root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .standard_filters(false)
        .follow_links(true)
        .filter_entry(|e| !ALWAYS_SKIPPED.iter().any(|s| e.file_name() == *s));
    for name in IGNORE_FILES {
        builder.add_custom_ignore_filename(name);
    }
    let mut files = Vec::new();
    for entry in builder.build() {
        let entry = entry.map_err(|e| walk_error(root, &e))?;
        // Every way out of the tree passes through a link entry (directories are listed before
        // what is in them), so checking the links themselves is enough.
        if entry.path_is_symlink() {
            check_link(&real_root, root, entry.path())?;
        }
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if IGNORE_FILES.iter().any(|n| entry.file_name() == *n) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).map_err(|e| e.to_string())?;
        let mut path = String::new();
        for part in rel.components() {
            let s = part
                .as_os_str()
                .to_str()
                .ok_or_else(|| format!("{}: file name is not valid UTF-8", entry.path().display()))?;
            path.push('/');
            path.push_str(s);
        }
        flotilla::deploy::validate_path(&path).map_err(|why| format!("{path}: path {why}"))?;
        let size = entry.metadata().map_err(|e| format!("{path}: {e}"))?.len();
        files.push(LocalFile { path, abs: entry.path().to_path_buf(), size });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The walker's errors, with the path shown relative to the root and links named as such.
fn walk_error(root: &Path, e: &ignore::Error) -> String {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let (mut inner, mut path) = (e, None);
    loop {
        match inner {
            ignore::Error::WithPath { path: p, err } => (inner, path) = (err, path.or(Some(p.as_path()))),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => inner = err,
            _ => break,
        }
    }
    match (inner, path) {
        (ignore::Error::Loop { child, .. }, _) => format!("{}: symbolic link loop", shown(child)),
        (_, Some(p)) if p.is_symlink() && !p.exists() => format!("{}: broken symbolic link", shown(p)),
        _ => e.to_string(),
    }
}

fn check_link(real_root: &Path, root: &Path, link: &Path) -> Result<(), String> {
    let shown = link.strip_prefix(root).unwrap_or(link).display();
    let target = std::fs::canonicalize(link).map_err(|e| format!("{shown}: broken symbolic link ({e})"))?;
    if target.starts_with(real_root) {
        return Ok(());
    }
    Err(format!(
        "{shown}: symbolic link to {}, which is outside {}; copy what it points to into the directory \
         (or deploy the directory it points to) instead",
        target.display(),
        root.display()
    ))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn hash_file(f: &LocalFile) -> Result<HashedFile, String> {
    let bytes = std::fs::read(&f.abs).map_err(|e| format!("{}: {e}", f.path))?;
    // The size that is declared is the size that was hashed (the file may have changed).
    let file = LocalFile { size: bytes.len() as u64, ..f.clone() };
    Ok(HashedFile { hash: sha256_hex(&bytes), file })
}

/// Hashes every file on up to `threads` threads; the result keeps the input order.
pub fn hash_all(files: &[LocalFile], threads: usize) -> Result<Vec<HashedFile>, String> {
    let threads = threads.clamp(1, 16).min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<HashedFile>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(hash_file).collect::<Result<Vec<_>, _>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a hashing thread panicked".to_string())))
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flotilla-cli-walk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    #[test]
    fn skips_vcs_deps_and_ignored_files_but_keeps_dotfiles() {
        let d = tmpdir("ignore");
        for f in [
            "index.html",
            "a/b.css",
            ".well-known/security.txt",
            ".git/HEAD",
            "node_modules/x/index.js",
            "sub/node_modules/y.js",
            ".DS_Store",
            "a/.DS_Store",
            "secret.env",
            "drafts/one.md",
            "drafts/keep.md",
            "a/local.tmp",
            "_redirects",
        ] {
            write(&d, f, f);
        }
        write(&d, ".flotillaignore", "*.env\ndrafts/\n");
        write(&d, "a/.assetsignore", "*.tmp\n");
        write(&d, ".gitignore", "index.html\n");
        let got: Vec<String> = walk(&d).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(
            got,
            vec!["/.gitignore", "/.well-known/security.txt", "/_redirects", "/a/b.css", "/index.html"]
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn negation_reincludes_like_gitignore() {
        let d = tmpdir("negate");
        write(&d, "a.log", "1");
        write(&d, "keep.log", "2");
        write(&d, ".assetsignore", "*.log\n!keep.log\n");
        let got: Vec<String> = walk(&d).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(got, vec!["/keep.log"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_are_followed_links_outside_are_refused() {
        use std::os::unix::fs::symlink;
        let d = tmpdir("links");
        let site = d.join("site");
        write(&site, "index.html", "home");
        write(&site, "assets/app.js", "js");
        write(&d, "outside/secret.txt", "secret");
        symlink(site.join("assets/app.js"), site.join("app.js")).unwrap();
        symlink(site.join("assets"), site.join("static")).unwrap();
        let got: Vec<String> = walk(&site).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(got, vec!["/app.js", "/assets/app.js", "/index.html", "/static/app.js"]);

        symlink(d.join("outside/secret.txt"), site.join("leak.txt")).unwrap();
        let err = walk(&site).unwrap_err();
        assert!(err.contains("leak.txt") && err.contains("outside"), "{err}");
        fs::remove_file(site.join("leak.txt")).unwrap();

        symlink(d.join("outside"), site.join("more")).unwrap();
        let err = walk(&site).unwrap_err();
        assert!(err.starts_with("more: symbolic link"), "{err}");
        assert!(!err.contains("secret"), "the directory is refused before anything in it: {err}");
        fs::remove_file(site.join("more")).unwrap();

        symlink(d.join("missing"), site.join("dangling")).unwrap();
        let err = walk(&site).unwrap_err();
        assert!(err.contains("dangling: broken symbolic link"), "{err}");
        fs::remove_file(site.join("dangling")).unwrap();

        symlink(&site, site.join("assets/up")).unwrap();
        let err = walk(&site).unwrap_err();
        assert!(err.contains("up: symbolic link loop"), "{err}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn not_a_directory_is_an_error_not_a_panic() {
        let d = tmpdir("notdir");
        write(&d, "f", "x");
        assert!(walk(&d.join("f")).unwrap_err().contains("not a directory"));
        assert!(walk(&d.join("missing")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hashes_match_sha256_and_keep_order() {
        let d = tmpdir("hash");
        for i in 0..25 {
            write(&d, &format!("f{i:02}.txt"), &format!("body {i}"));
        }
        let files = walk(&d).unwrap();
        let hashed = hash_all(&files, 4).unwrap();
        assert_eq!(hashed.len(), 25);
        for (h, f) in hashed.iter().zip(&files) {
            assert_eq!(h.file.path, f.path);
            assert_eq!(h.hash, sha256_hex(fs::read(&f.abs).unwrap().as_slice()));
        }
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(hash_all(&[], 3).unwrap().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
