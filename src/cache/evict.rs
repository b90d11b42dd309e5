//! Keeping a cache directory bounded. Runs add the bytes they wrote to a ledger (`written`);
//! once it passes a sixteenth of the bound, the run lists the entries with their sizes and
//! times (a hit refreshes an entry's time once a day), and when they add up to more than the
//! bound the oldest go until they fill three quarters of it, so that the next runs do not evict
//! again at once. Temporary files older than an hour (a run killed while it wrote) go too. The
//! directory thus stays under the bound plus a sixteenth (two runs updating the ledger at once
//! may lose one's bytes, which only delays the next listing). Listing 5,000 entries costs a few
//! hundredths of a second; a run that parsed one edited file does not pay it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of an entry's temporary file, before it is renamed into place.
pub(super) const TEMP_PREFIX: &str = ".tmp";

const STALE_TEMP: Duration = Duration::from_secs(3600);

struct Entry {
    path: PathBuf,
    bytes: u64,
    time: SystemTime,
}

/// Every file under `root` (two levels of folders: kind, then the first two hex digits).
fn entries(root: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for kind in dirs(root) {
        for fan in dirs(&kind) {
            for path in dirs(&fan) {
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                out.push(Entry {
                    path,
                    bytes: disk_bytes(&meta),
                    time: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
    }
    out
}

/// What a file takes on disk: its blocks where the system says (most entries are a few KB,
/// so whole blocks are a quarter more than their lengths), else its length.
fn disk_bytes(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::blocks(meta) * 512
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}

fn is_temp(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
}

const LEDGER: &str = "written";

/// Adds `written` bytes to the ledger, and evicts when it has grown past a sixteenth of the
/// bound.
pub(super) fn after_writes(root: &Path, max_bytes: u64, written: u64) {
    let ledger = root.join(LEDGER);
    let before = std::fs::read_to_string(&ledger)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut total = before.saturating_add(written);
    if total > max_bytes / 16 {
        evict(root, max_bytes);
        total = 0;
    }
    let _ = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(root)
        .and_then(|mut tmp| {
            std::io::Write::write_all(&mut tmp, total.to_string().as_bytes())?;
            tmp.persist(&ledger).map_err(|e| e.error)
        });
}

/// Removes stale temporary files, then the oldest entries while the rest is over `max_bytes`.
pub(super) fn evict(root: &Path, max_bytes: u64) {
    let now = SystemTime::now();
    let mut live = Vec::new();
    for e in entries(root) {
        if is_temp(&e.path) {
            let age = now.duration_since(e.time).unwrap_or_default();
            if age > STALE_TEMP {
                let _ = std::fs::remove_file(&e.path);
            }
        } else {
            live.push(e);
        }
    }
    let mut total: u64 = live.iter().map(|e| e.bytes).sum();
    if total <= max_bytes {
        return;
    }
    let target = max_bytes / 4 * 3;
    live.sort_by_key(|e| e.time);
    for e in live {
        if total <= target {
            break;
        }
        // Another run may have removed it already: its bytes are gone either way.
        let _ = std::fs::remove_file(&e.path);
        total = total.saturating_sub(e.bytes);
    }
}

/// The bytes the entries under `root` take (for `stats` and the tests).
pub fn size(root: &Path) -> u64 {
    entries(root).iter().map(|e| e.bytes).sum()
}
