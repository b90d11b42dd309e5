//! Finding the C sources under the paths a user names, and reading them safely.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diag::Warning;
use crate::kb::KernelVersion;

/// Files larger than this are skipped with a warning: no kernel source comes close, and a
/// generated blob of that size is not worth parsing.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One source file to analyse.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path on disk.
    pub path: PathBuf,
    /// The path shown to users: relative to the root it was found under.
    pub display: String,
}

/// A root the user named, with the files found under it.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<SourceFile>,
    pub warnings: Vec<Warning>,
}

pub mod git;

/// Whether a path names a C source or header (`.c`, `.h`).
pub fn is_c_path(path: &str) -> bool {
    path.ends_with(".c") || path.ends_with(".h")
}

fn is_c_source(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("c" | "h"))
}

/// Whether `path` names an existing file [`discover`] would take from `roots`: a root file
/// itself, or a `.c`/`.h` file under a root directory. `--output` refuses such a file.
pub fn is_input(path: &Path, roots: &[PathBuf]) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|root| {
            path == root || (root.is_dir() && path.starts_with(&root) && is_c_source(&path))
        })
}

/// The files and directories a walk has been to, by identity (device and inode): a directory
/// reached again through a symbolic link, a file linked beside its target, a root named twice
/// are visited once, by the first path in sorted order. Without file identities (not Unix)
/// every path counts; walkdir still stops at symbolic link loops.
#[derive(Debug, Default)]
pub struct Visited(HashSet<(u64, u64)>);

impl Visited {
    /// True the first time the file `meta` describes is seen.
    pub fn first_visit(&mut self, meta: &std::fs::Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            self.0.insert((meta.dev(), meta.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            true
        }
    }
}

/// Walks `root` in file-name order following symbolic links, each directory and file once per
/// [`Visited`]: the one tree walk of sources and build files. Errors (unreadable directories,
/// symbolic link loops) are passed on.
pub fn walk<'a>(
    root: &Path,
    visited: &'a mut Visited,
) -> impl Iterator<Item = walkdir::Result<walkdir::DirEntry>> + 'a {
    let mut inner = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    std::iter::from_fn(move || loop {
        let entry = match inner.next()? {
            Ok(entry) => entry,
            Err(e) => return Some(Err(e)),
        };
        let first = entry.metadata().map_or(true, |m| visited.first_visit(&m));
        if first {
            return Some(Ok(entry));
        }
        if entry.file_type().is_dir() {
            inner.skip_current_dir();
        }
    })
}

/// Walks each root and collects the `.c` and `.h` files, sorted by path, each file once (see
/// [`Visited`]). A root that is a file is taken as it is. Missing roots are errors; unreadable
/// directories and symlink loops are warnings.
pub fn discover(roots: &[PathBuf]) -> anyhow::Result<Discovery> {
    let mut out = Discovery::default();
    let mut visited = Visited::default();
    for root in roots {
        let meta =
            std::fs::metadata(root).map_err(|e| anyhow::anyhow!("{}: {}", root.display(), e))?;
        if meta.is_file() {
            if !visited.first_visit(&meta) {
                continue;
            }
            let display = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| root.display().to_string());
            out.files.push(SourceFile {
                path: root.clone(),
                display,
            });
            continue;
        }
        for entry in walk(root, &mut visited) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| root.display().to_string());
                    let why = if e.loop_ancestor().is_some() {
                        "symbolic link loop, not followed".to_string()
                    } else {
                        e.io_error()
                            .map(|io| io.to_string())
                            .unwrap_or_else(|| e.to_string())
                    };
                    out.warnings.push(Warning::new(path, why));
                    continue;
                }
            };
            if !entry.file_type().is_file() || !is_c_source(entry.path()) {
                continue;
            }
            let display = entry
                .path()
                .strip_prefix(root)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .into_owned();
            out.files.push(SourceFile {
                path: entry.into_path(),
                display,
            });
        }
    }
    Ok(out)
}

/// Reads a source file. Binary files (a NUL byte in the first 8 KiB), files over
/// [`MAX_FILE_BYTES`], files that are not regular files and unreadable files give a warning
/// instead of contents. Non-UTF-8 bytes are kept: the parser works on bytes, and text shown to
/// users is decoded lossily.
pub fn read_source(file: &SourceFile) -> Result<Vec<u8>, Warning> {
    let bytes = read_regular(&file.path, &file.display)?;
    source_bytes(&file.display, bytes)
}

/// The checks [`read_source`] makes on a file's bytes, for bytes from elsewhere (a git blob):
/// over [`MAX_FILE_BYTES`] or binary is a warning naming `display`.
pub fn source_bytes(display: &str, bytes: Vec<u8>) -> Result<Vec<u8>, Warning> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(display, bytes.len() as u64));
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(Warning::new(
            display.to_string(),
            "skipped: binary file (contains NUL bytes)",
        ));
    }
    Ok(bytes)
}

fn too_large(display: &str, len: u64) -> Warning {
    Warning::new(
        display.to_string(),
        format!("skipped: {len} bytes is over the {MAX_FILE_BYTES} byte limit"),
    )
    .with_kind(crate::diag::WarningKind::TooLarge {
        bytes: len,
        limit: MAX_FILE_BYTES,
    })
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]; anything else (a FIFO, a device, a
/// symbolic link to one, a file that grows past the limit while it is read) is a warning
/// naming `display`. The file is opened without blocking (a FIFO with no writer would wait
/// forever) and its type is taken from the open handle, so a file swapped after the walk
/// cannot slip through.
pub fn read_regular(path: &Path, display: &str) -> Result<Vec<u8>, Warning> {
    use std::io::Read;
    let warn = |why: String| Warning::new(display.to_string(), why);
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| warn(e.to_string()))?;
    let meta = file.metadata().map_err(|e| warn(e.to_string()))?;
    if !meta.is_file() {
        return Err(warn("skipped: not a regular file".into()));
    }
    let too_big = |len: u64| too_large(display, len);
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| warn(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The release of the kernel tree `path` is in, from the first top-level Makefile found going
/// up from it (`VERSION = 2`, `PATCHLEVEL = 3`, `SUBLEVEL = 41`), and that Makefile's path.
/// A Makefile without `VERSION` and `PATCHLEVEL` is a subdirectory's: the walk goes on.
pub fn tree_version(path: &Path) -> Option<(KernelVersion, PathBuf)> {
    let start = std::fs::canonicalize(path).ok()?;
    start.ancestors().find_map(|dir| {
        let makefile = dir.join("Makefile");
        let text = read_regular(&makefile, "Makefile").ok()?;
        Some((makefile_version(&text)?, makefile))
    })
}

/// The release a top-level Makefile's text says; `None` for a subdirectory's Makefile.
pub fn makefile_version(text: &[u8]) -> Option<KernelVersion> {
    let text = String::from_utf8_lossy(text);
    let value = |key: &str| {
        text.lines()
            .take(40)
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let sub = value("SUBLEVEL").filter(|s| !s.is_empty());
    let text = format!(
        "{}.{}.{}",
        value("VERSION")?,
        value("PATCHLEVEL")?,
        sub.as_deref().unwrap_or("0")
    );
    text.parse().ok()
}
