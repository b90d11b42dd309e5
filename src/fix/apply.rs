//! The one place where modrace writes a source file: `check --fix`.

use std::io::Write;

use anyhow::{bail, Context};

use super::FilePatch;

/// Writes a patch in place: through a temporary file in the same directory and a rename,
/// keeping the file's permissions; refuses a read-only file and a file that changed since
/// it was read.
pub fn apply_patch(patch: &FilePatch) -> anyhow::Result<()> {
    let path = &patch.disk_path;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.permissions().readonly() {
        bail!("{} is read-only; not changed", path.display());
    }
    let now = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if now != patch.original {
        bail!(
            "{} changed since modrace read it; not changed",
            path.display()
        );
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(&patch.patched)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), meta.permissions())?;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
