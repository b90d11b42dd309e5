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

/// Takes a screenshot of `url` at `window` ("W,H") into `shot`, checks that the page logged
/// nothing to the console and that the picture is a real PNG, and names it in the test log.
pub fn screenshot(chromium: &Path, profile: &Path, url: &str, shot: &Path, window: &str) {
    let (_, console) = headless(
        chromium,
        profile,
        url,
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={window}"),
            "--hide-scrollbars",
        ],
    );
    assert!(console.is_empty(), "console: {console:#?}");
    let png = std::fs::read(shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
    // Written past the test harness' capture, so that the log shows it on success too.
    let _ = writeln!(std::io::stderr(), "screenshot: {}", shot.display());
}
