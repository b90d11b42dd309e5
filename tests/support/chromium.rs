//! Headless Chromium for the tests of the HTML pages (`check --format html`, `history`):
//! found on PATH, or the test is skipped, except under CI, where a missing browser fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium, or why not: without it the test fails under CI and is skipped elsewhere.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and chromium is missing: install it (apt-get install chromium; .ci/run does)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "notice: chromium not found; the headless rendering test is skipped"
        );
    }
    found
}

/// Runs headless Chromium on `url` with `args`; (standard output, the console's lines).
pub fn headless(
    chromium: &Path,
    profile: &Path,
    url: &str,
    args: &[&str],
) -> (String, Vec<String>) {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// A `file://` URL for `file`, with a `#fragment` or nothing.
pub fn url(file: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", file.display())
}
