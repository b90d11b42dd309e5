//! The one place where modrace writes a source file: `check --fix`.
//!
//! A file is replaced through a temporary file beside it (`.modrace-tmp-*`) and a rename, so
//! a reader sees the old text or the new one, never a mix. Before anything is written the file
//! must be a regular file, writable by the user (access(2), not mode bits), with one link and
//! the text modrace read. A symbolic link is written through: its target is replaced and the
//! link stays. The new file gets the old one's mode, owner and group. Immediately before the
//! rename the file is looked at again (same device and inode, same bytes); the window left is
//! the time between that read and rename(2), which no portable call closes. SIGINT and SIGTERM
//! during the write remove the temporary file; a temporary file left by a killed run (SIGKILL)
//! is removed by the next run that fixes a file in that directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::FilePatch;

/// The prefix of every temporary file `--fix` creates.
pub const TEMP_PREFIX: &str = ".modrace-tmp-";

/// A temporary file older than this is a killed run's, not a running one's.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes a patch in place (see the module comment); an error says why the file is unchanged.
pub fn apply_patch(patch: &FilePatch) -> anyhow::Result<()> {
    apply_patch_with(patch, &|_| {})
}

/// [`apply_patch`] with a hook run right before the last look (tests race a writer with it).
pub fn apply_patch_with(patch: &FilePatch, before_last_look: &dyn Fn(&Path)) -> anyhow::Result<()> {
    // Write through a symbolic link to its target: the link stays a link.
    let path = std::fs::canonicalize(&patch.disk_path)
        .with_context(|| format!("cannot read {}", patch.disk_path.display()))?;
    let shown = patch.disk_path.display();
    let meta = std::fs::metadata(&path).with_context(|| format!("cannot read {shown}"))?;
    if !meta.is_file() {
        bail!("{shown} is not a regular file; not changed");
    }
    if meta.permissions().readonly() {
        bail!("{shown} is read-only; not changed");
    }
    check_links_and_access(&path, &meta, &shown.to_string())?;
    let now = std::fs::read(&path).with_context(|| format!("cannot read {shown}"))?;
    if now != patch.original {
        bail!("{shown} changed since modrace read it; not changed");
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    remove_stale_temps(dir);
    // The signal handler learns the name before the file exists: a signal during open(2)
    // cannot leave it behind.
    let mut _cleanup = None;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .make_in(dir, |name| {
            _cleanup = Some(signals::RemoveOnSignal::new(name));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(name)
        })
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(&patch.patched)?;
    keep_owner(tmp.as_file(), &meta).with_context(|| {
        format!("cannot give the new {shown} the old one's owner and group; not changed")
    })?;
    std::fs::set_permissions(tmp.path(), meta.permissions())?;
    tmp.as_file().sync_all()?;
    before_last_look(&path);
    // The last look: still the same file, still the text modrace read.
    let again = std::fs::metadata(&path).with_context(|| format!("cannot read {shown}"))?;
    let text = std::fs::read(&path).with_context(|| format!("cannot read {shown}"))?;
    if !same_file(&meta, &again) || text != patch.original {
        bail!("{shown} changed while modrace was fixing it; not changed");
    }
    tmp.persist(&path)
        .with_context(|| format!("cannot replace {shown}"))?;
    Ok(())
}

/// Hard links would be split by the rename; a file the user may not write is not replaced
/// even when its directory is writable.
fn check_links_and_access(
    path: &Path,
    meta: &std::fs::Metadata,
    shown: &str,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            bail!(
                "{shown} has {} hard links; replacing it would split them; not changed",
                meta.nlink()
            );
        }
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path; access only reads it.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } != 0 {
            bail!("{shown} is not writable by you; not changed");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta, shown);
    Ok(())
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        a.len() == b.len() && a.modified().ok() == b.modified().ok()
    }
}

/// Gives the new file the old one's owner and group (a no-op when they are the user's own).
fn keep_owner(file: &std::fs::File, meta: &std::fs::Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let now = file.metadata()?;
        if now.uid() != meta.uid() || now.gid() != meta.gid() {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (file, meta);
    Ok(())
}

/// Removes the temporary files of killed runs beside a file about to be fixed.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .filter(|e| {
            e.metadata()
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER)
        })
        .map(|e| e.path())
        .collect();
    for path in stale {
        let _ = std::fs::remove_file(path);
    }
}

/// SIGINT and SIGTERM while a temporary file exists remove it, then end the process as the
/// signal would have.
mod signals {
    #[cfg(unix)]
    mod imp {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        use std::path::Path;
        use std::sync::atomic::{AtomicPtr, Ordering};
        use std::sync::Once;

        /// The temporary file to remove, as a C string the handler may read.
        static CURRENT: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
        static INSTALL: Once = Once::new();

        extern "C" fn on_signal(sig: libc::c_int) {
            let path = CURRENT.swap(std::ptr::null_mut(), Ordering::SeqCst);
            // SAFETY: unlink, signal and raise are async-signal-safe; `path` is a leaked
            // CString that nothing frees once it is swapped out here.
            unsafe {
                if !path.is_null() {
                    libc::unlink(path);
                }
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }

        pub struct RemoveOnSignal(*mut libc::c_char);

        impl RemoveOnSignal {
            pub fn new(path: &Path) -> Self {
                INSTALL.call_once(|| {
                    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                    // SAFETY: installs a handler that only makes async-signal-safe calls.
                    unsafe {
                        libc::signal(libc::SIGINT, handler);
                        libc::signal(libc::SIGTERM, handler);
                    }
                });
                let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
                    return RemoveOnSignal(std::ptr::null_mut());
                };
                let raw = c_path.into_raw();
                CURRENT.store(raw, Ordering::SeqCst);
                RemoveOnSignal(raw)
            }
        }

        impl Drop for RemoveOnSignal {
            fn drop(&mut self) {
                if self.0.is_null() {
                    return;
                }
                let taken = CURRENT.compare_exchange(
                    self.0,
                    std::ptr::null_mut(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                if taken.is_ok() {
                    // SAFETY: made by CString::into_raw in `new`, and no longer shared.
                    drop(unsafe { CString::from_raw(self.0) });
                }
            }
        }
    }

    #[cfg(not(unix))]
    mod imp {
        pub struct RemoveOnSignal;
        impl RemoveOnSignal {
            pub fn new(_: &std::path::Path) -> Self {
                RemoveOnSignal
            }
        }
    }

    pub use imp::RemoveOnSignal;
}
