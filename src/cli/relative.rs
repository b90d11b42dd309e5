//! `check --relative-to DIR`: the report's paths relative to DIR instead of the tree's root,
//! as a maintainer running modrace from elsewhere than the root wants them (clickable from
//! where the editor or the CI job runs). Only the report's paths move: patches keep the
//! tree's paths (`patch -p1` and `git am` apply them at the root), and so do baselines (their
//! keys must not depend on where the command ran).

use std::path::{Component, Path, PathBuf};

use anyhow::anyhow;

/// How to write a tree path relative to the directory.
pub struct Relative {
    dir: PathBuf,
    /// The roots that paths are relative to (a root that is a file stands for its directory).
    bases: Vec<PathBuf>,
    /// A path outside the directory is written absolute instead of with `..` (SARIF: a
    /// reference outside `%SRCROOT%` is better an absolute `file://` URI).
    absolute_outside: bool,
}

impl Relative {
    pub fn new(dir: &Path, roots: &[PathBuf], absolute_outside: bool) -> anyhow::Result<Self> {
        let shown = || modrace::diag::escape_terminal(&dir.display().to_string()).into_owned();
        let canonical_dir =
            std::fs::canonicalize(dir).map_err(|e| anyhow!("--relative-to {}: {e}", shown()))?;
        if !canonical_dir.is_dir() {
            anyhow::bail!("--relative-to {}: not a directory", shown());
        }
        let bases = roots
            .iter()
            .map(|root| {
                let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
                match root.is_file() {
                    true => root
                        .parent()
                        .map_or_else(|| root.clone(), Path::to_path_buf),
                    false => root,
                }
            })
            .collect();
        Ok(Relative {
            dir: canonical_dir,
            bases,
            absolute_outside,
        })
    }

    /// The directory, canonical.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path` (as the report writes it: relative to the root it was found under) relative to
    /// the directory.
    pub fn rename(&self, path: &str) -> String {
        let absolute = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            let base = match self.bases.as_slice() {
                [one] => Some(one),
                many => many.iter().find(|b| b.join(path).exists()).or(many.first()),
            };
            match base {
                Some(base) => base.join(path),
                None => return path.to_string(),
            }
        };
        let relative = relative_path(&self.dir, &absolute);
        let outside = relative.components().next() == Some(Component::ParentDir);
        let chosen = if outside && self.absolute_outside {
            absolute
        } else {
            relative
        };
        chosen.to_string_lossy().into_owned()
    }
}

/// `to` relative to the directory `from`, lexically (both absolute and free of `..`).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_lexically() {
        let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(
            rel("/t", "/t/drivers/char/a.c"),
            Path::new("drivers/char/a.c")
        );
        assert_eq!(
            rel("/t/drivers/char", "/t/drivers/char/a.c"),
            Path::new("a.c")
        );
        assert_eq!(
            rel("/t/drivers/char", "/t/kernel/irq.c"),
            Path::new("../../kernel/irq.c")
        );
        assert_eq!(rel("/", "/t/a.c"), Path::new("t/a.c"));
        assert_eq!(rel("/w", "/t/a.c"), Path::new("../t/a.c"));
    }
}
