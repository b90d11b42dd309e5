//! Release trees read straight from a git object database (a bare repository or a `.git`
//! directory), for `history`: a tag's tree is listed without a checkout, and a file's bytes
//! are read by blob id. gix reads the objects; nothing here runs `git`.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use anyhow::{anyhow, bail, Context, Result};

use crate::diag::Warning;

/// An open git directory. Reading is safe from many threads at once: each thread reads
/// through a repository handle of its own (gix's handles are not shared between threads).
pub struct GitDir {
    repo: gix::ThreadSafeRepository,
    path: PathBuf,
    /// Tells the threads' handles of this directory from those of another one.
    serial: usize,
}

/// A blob's id: the hash git keeps its bytes under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(gix::ObjectId);

impl BlobId {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One file of a release's tree.
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Relative to the tree's root, `/`-separated.
    pub path: String,
    pub id: BlobId,
}

/// A release's tree: its files (regular files; symbolic links and submodules are left out),
/// in the order a walk of the extracted tree visits them.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tag: String,
    /// The id of the tree: two snapshots with the same id hold the same bytes.
    pub tree: BlobId,
    pub files: Vec<TreeFile>,
}

impl Snapshot {
    /// The file at `path`, by binary search.
    pub fn file(&self, path: &str) -> Option<&TreeFile> {
        self.files
            .binary_search_by(|f| walk_order(&f.path, path))
            .ok()
            .map(|i| &self.files[i])
    }
}

/// The order of [`crate::source::walk`]: depth first, each directory's entries by name, so a
/// tree read from git lists its files as its extracted copy would.
pub fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

static SERIAL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's handles, by [`GitDir::serial`]; the last few directories only.
    static HANDLES: RefCell<Vec<(usize, gix::Repository)>> = const { RefCell::new(Vec::new()) };
}

impl GitDir {
    /// Opens the git directory at `path`; one that is missing or not a git directory is an
    /// error saying so.
    pub fn open(path: &Path) -> Result<GitDir> {
        if !path.exists() {
            bail!("{}: no such git directory", path.display());
        }
        let repo = gix::open(path)
            .map_err(|e| anyhow!("{}: not a readable git directory: {e}", path.display()))?;
        Ok(GitDir {
            repo: repo.into_sync(),
            path: path.to_path_buf(),
            serial: SERIAL.fetch_add(1, AtomicOrdering::Relaxed),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_repo<R>(&self, f: impl FnOnce(&gix::Repository) -> R) -> R {
        HANDLES.with(|handles| {
            let mut handles = handles.borrow_mut();
            let at = match handles.iter().position(|(s, _)| *s == self.serial) {
                Some(at) => at,
                None => {
                    handles.truncate(3);
                    handles.push((self.serial, self.repo.to_thread_local()));
                    handles.len() - 1
                }
            };
            f(&handles[at].1)
        })
    }

    /// The names of the repository's tags (`refs/tags/` left off), unsorted.
    pub fn tags(&self) -> Result<Vec<String>> {
        self.with_repo(|repo| {
            let platform = repo.references().context("reading the references")?;
            let mut tags = Vec::new();
            for r in platform.tags().context("reading the tags")? {
                let r = r.map_err(|e| anyhow!("reading a tag: {e}"))?;
                tags.push(r.name().shorten().to_string());
            }
            Ok(tags)
        })
    }

    /// The tree of the tag `tag` (a tag of a commit or of a tree).
    pub fn snapshot(&self, tag: &str) -> Result<Snapshot> {
        self.with_repo(|repo| {
            let what = || format!("tag {tag} in {}", self.path.display());
            let mut reference = repo
                .try_find_reference(&format!("refs/tags/{tag}"))
                .with_context(what)?
                .ok_or_else(|| anyhow!("no tag {tag} in {}", self.path.display()))?;
            let tree = reference.peel_to_tree().with_context(what)?;
            let mut recorder = gix::traverse::tree::Recorder::default();
            tree.traverse()
                .breadthfirst(&mut recorder)
                .with_context(what)?;
            let mut files: Vec<TreeFile> = (recorder.records.into_iter())
                .filter(|e| e.mode.is_blob())
                .map(|e| TreeFile {
                    path: e.filepath.to_string(),
                    id: BlobId(e.oid),
                })
                .collect();
            files.sort_by(|a, b| walk_order(&a.path, &b.path));
            Ok(Snapshot {
                tag: tag.to_string(),
                tree: BlobId(tree.id),
                files,
            })
        })
    }

    /// The bytes of a blob; one that cannot be read is a warning naming `display`.
    pub fn read(&self, id: BlobId, display: &str) -> Result<Vec<u8>, Warning> {
        self.with_repo(|repo| match repo.find_blob(id.0) {
            Ok(mut blob) => Ok(blob.take_data()),
            Err(e) => Err(Warning::new(
                display.to_string(),
                format!("cannot read blob {id}: {e}"),
            )),
        })
    }
}

/// Where a tag falls in release order: `2.3.99pre2-1` < `2.3.99pre2` < `2.3.99` <
/// `2.4.0-test1` < `2.4.0-test2pre1` < `2.4.0-test2` < `2.4.0-prerelease` < `2.4.0`. `None`
/// for a tag that does not start with a version number.
pub fn release_key(tag: &str) -> Option<Vec<u32>> {
    let base_len = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    let base = tag[..base_len].trim_end_matches('.');
    let mut key: Vec<u32> = Vec::new();
    for part in base.split('.') {
        key.push(part.parse().ok()?);
    }
    if key.len() < 2 {
        return None;
    }
    key.resize(key.len().max(3), 0);
    let suffix = tag[base_len..].trim_start_matches('-');
    key.extend(suffix_key(suffix));
    Some(key)
}

/// The number a text starts with, and the rest.
fn number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// The order of a release's suffix: before the release come its `-test`s and `pre`s (and their
/// `-N` steps), then `-prerelease` and `-rc`s; after it, anything else, by its bytes.
fn suffix_key(suffix: &str) -> Vec<u32> {
    // A stage (`preN`, `testN`) ranks below its own sub-steps' release: `pre2-1` < `pre2`.
    let stage = |rank: u32, rest: &str| -> Option<Vec<u32>> {
        let (n, rest) = number(rest).unwrap_or((0, rest));
        let mut key = vec![rank, n];
        if rest.is_empty() {
            key.push(9);
        } else if let Some(step) = rest.strip_prefix('-').and_then(|r| r.parse().ok()) {
            key.extend([1, 0, step]);
        } else if let Some(pre) = rest.strip_prefix("pre") {
            let (m, tail) = number(pre)?;
            key.extend([1, m]);
            key.extend(tail.strip_prefix('-').and_then(|t| t.parse::<u32>().ok()));
        } else {
            return None;
        }
        Some(key)
    };
    let known = if suffix.is_empty() {
        Some(vec![9])
    } else if suffix == "prerelease" {
        Some(vec![7])
    } else if let Some(rest) = suffix.strip_prefix("rc") {
        number(rest)
            .filter(|(_, t)| t.is_empty())
            .map(|(n, _)| vec![8, n])
    } else if let Some(rest) = suffix.strip_prefix("test") {
        stage(5, rest)
    } else if let Some(rest) = suffix.strip_prefix("pre") {
        stage(3, rest)
    } else {
        None
    };
    known.unwrap_or_else(|| {
        std::iter::once(10)
            .chain(suffix.bytes().map(u32::from))
            .collect()
    })
}

/// The tags `spec` names, in release order: `A..B` is every tag from A to B (both included,
/// both tags of the repository); `tags` a list of tags, taken in the order given.
pub fn select_tags(all: &[String], range: Option<&str>, list: &[String]) -> Result<Vec<String>> {
    let known = |t: &str| -> Result<()> {
        if all.iter().any(|a| a == t) {
            Ok(())
        } else {
            bail!("no tag `{t}` in the git directory ({} tags)", all.len())
        }
    };
    if let Some(range) = range {
        let (a, b) = range
            .split_once("..")
            .ok_or_else(|| anyhow!("`{range}` is not a range of tags (A..B)"))?;
        known(a)?;
        known(b)?;
        let key = |t: &str| release_key(t).ok_or_else(|| anyhow!("tag `{t}` is not a release"));
        let (ka, kb) = (key(a)?, key(b)?);
        if ka > kb {
            bail!("`{a}` comes after `{b}`: nothing between them");
        }
        let mut tags: Vec<(Vec<u32>, &String)> = all
            .iter()
            .filter_map(|t| release_key(t).map(|k| (k, t)))
            .filter(|(k, _)| ka <= *k && *k <= kb)
            .collect();
        tags.sort();
        return Ok(tags.into_iter().map(|(_, t)| t.clone()).collect());
    }
    if list.is_empty() {
        bail!("no releases: give a range of tags (A..B) or --tags T1,T2,...");
    }
    for t in list {
        known(t)?;
    }
    Ok(list.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_order_puts_steps_before_their_release() {
        let ordered = [
            "2.3.41",
            "2.3.42pre1",
            "2.3.42",
            "2.3.99pre2-1",
            "2.3.99pre2-5",
            "2.3.99pre2",
            "2.3.99pre10-3",
            "2.4.0-test1",
            "2.4.0-test2pre1",
            "2.4.0-test2pre10",
            "2.4.0-test2",
            "2.4.0-test3pre9",
            "2.4.0-test3",
            "2.4.0-test13pre7",
            "2.4.0-prerelease",
            "2.4.0",
            "2.4.1",
        ];
        let keys: Vec<_> = ordered.iter().map(|t| release_key(t).unwrap()).collect();
        for w in keys.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        assert_eq!(release_key("pre2.0.1"), None);
    }

    #[test]
    fn a_range_takes_the_tags_between_in_release_order() {
        let all: Vec<String> = [
            "2.0",
            "1.3.0",
            "2.3.41",
            "2.4.0-test1",
            "2.3.99pre1",
            "2.4.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = select_tags(&all, Some("2.3.41..2.4.0-test1"), &[]).unwrap();
        assert_eq!(got, ["2.3.41", "2.3.99pre1", "2.4.0-test1"]);
        assert!(select_tags(&all, Some("2.3.41..9.9"), &[]).is_err());
        assert!(select_tags(&all, Some("2.4.0..2.3.41"), &[]).is_err());
        assert!(select_tags(&all, None, &["nope".into()]).is_err());
    }

    #[test]
    fn walk_order_is_by_path_component() {
        assert_eq!(walk_order("a/x.c", "a-b.c"), Ordering::Less);
        // A directory `a` sorts before the file `a.c` beside it, as walkdir visits them.
        assert_eq!(walk_order("a/b.c", "a.c"), Ordering::Less);
    }
}
