//! `check`'s scope: a maintainer owns a directory, but the analyses need the whole tree (a
//! helper defined outside the directory decides whether a routine sleeps). A PATH inside a
//! kernel tree (its top-level Makefile found above it) is analysed with the whole tree and
//! reported only under PATH; `--only DIR` does the same for a tree given whole; `--partial`
//! keeps the old reading of PATH alone, with a warning.

use std::path::{Path, PathBuf};

use modrace::diag::escape_terminal;
use modrace::source::tree_version;

/// The roots to analyse and the directories (relative to the first root) to report.
pub struct Scope {
    pub roots: Vec<PathBuf>,
    pub only: Vec<String>,
}

pub fn of(paths: Vec<PathBuf>, only: &[PathBuf], partial: bool, quiet: bool) -> Scope {
    let shown = |p: &Path| escape_terminal(&p.display().to_string()).into_owned();
    let tree_root = match paths.as_slice() {
        [one] if one.is_dir() => tree_version(one)
            .and_then(|(_, makefile)| makefile.parent().map(Path::to_path_buf))
            .filter(|root| canonical(root) != canonical(one)),
        _ => None,
    };
    let (roots, mut scope) = match (tree_root, partial) {
        (Some(root), false) => {
            let inside = relative(&paths[0], &root);
            if !quiet {
                eprintln!(
                    "note: {} is part of the tree at {}: analysed with the whole tree, findings \
                     reported under {inside} (--partial analyses it alone)",
                    shown(&paths[0]),
                    shown(&root)
                );
            }
            (vec![root], vec![inside])
        }
        (Some(root), true) => {
            if !quiet {
                eprintln!(
                    "warning: {} is part of the tree at {}; analysed alone, what it calls outside \
                     it is unknown and findings can be weaker",
                    shown(&paths[0]),
                    shown(&root)
                );
            }
            (paths, Vec::new())
        }
        (None, _) => (paths, Vec::new()),
    };
    if let Some(root) = roots.first() {
        scope.extend(only.iter().map(|d| relative(d, root)));
    }
    Scope { roots, only: scope }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `dir` relative to `root`: as given when it is not under `root` on disk (`--only
/// drivers/net` written relative to the tree).
fn relative(dir: &Path, root: &Path) -> String {
    let inside = canonical(dir)
        .strip_prefix(canonical(root))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| dir.to_path_buf());
    let text = inside.to_string_lossy().trim_end_matches('/').to_string();
    text.trim_start_matches("./").to_string()
}
