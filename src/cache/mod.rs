//! The on-disk cache: each file's facts keyed by the hash of its bytes, and whole results of a
//! run keyed by all of its inputs (the memo).
//!
//! A facts entry's key is the hash of the file's bytes and of a [`Key`] of everything else that
//! changes its facts (the build of modrace, the knowledge base, `-D`/`-U`, which statement trees
//! are kept): see `Session::facts_options`. Not the path: the lowering does not read it, so a
//! moved file, or the same blob in another release, hits the same entry. A caller holding bytes
//! from anywhere (a git blob) can look them up with [`Cache::get_facts`].
//!
//! On disk, under the cache directory (`--cache-dir`, else `$XDG_CACHE_HOME/modrace` or
//! `~/.cache/modrace`): `v1/facts/ab/<32 hex digits>` and `v1/memo/ab/...`. Every entry is a
//! 48-byte header (magic and layout version, kind, its own key, payload length, payload checksum)
//! and a bincode payload. An entry is written to a temporary file beside it and renamed into
//! place, so a reader sees a whole entry or none, and runs may share a directory. An entry whose
//! header, length, checksum or payload does not check out is a miss: it is parsed again and
//! written anew. The cache is bounded: see [`evict`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use xxhash_rust::xxh3::{xxh3_128, xxh3_64, Xxh3};

use crate::facts::{BodyPolicy, FileFacts, MacroPolicy};

mod evict;

/// The build of modrace: its version and a hash of its sources and locked dependencies
/// (`build.rs`). Part of every key.
pub const BUILD_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("MODRACE_BUILD_ID"));

/// The first bytes of an entry; the last byte is the layout of the header and payload.
const MAGIC: [u8; 8] = *b"modrace\x01";
const HEADER: usize = 48;
/// The layout's folder: a new layout starts an empty cache beside the old one, which ages out.
const LAYOUT: &str = "v1";

/// Where a cached scan's CPU goes (`MODRACE_TIMINGS=1`): reading and decoding entries, and
/// encoding and writing them.
pub static LOAD: crate::timing::Tally = crate::timing::Tally::new("cache load");
pub static STORE: crate::timing::Tally = crate::timing::Tally::new("cache store");
pub static HASH: crate::timing::Tally = crate::timing::Tally::new("hash");

/// The default bound of a cache directory: past it, the oldest entries go.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// A 128-bit hash: of a file's bytes, of options, of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Key(pub u128);

impl Key {
    /// The hash of some bytes (a file's contents).
    pub fn of(bytes: &[u8]) -> Key {
        HASH.time(|| Key(xxh3_128(bytes)))
    }

    fn hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// Builds a [`Key`] from parts. Each part is length-prefixed, so `("ab", "c")` and `("a",
/// "bc")` differ.
pub struct KeyBuilder(Xxh3);

impl Default for KeyBuilder {
    fn default() -> Self {
        KeyBuilder(Xxh3::new())
    }
}

impl KeyBuilder {
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.update(&(b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    pub fn key(self, k: Key) -> Self {
        self.bytes(&k.0.to_le_bytes())
    }

    /// Which statement trees a scan keeps: they are part of the facts.
    pub fn body_policy(self, policy: &BodyPolicy) -> Self {
        match policy {
            BodyPolicy::None => self.str("bodies: none"),
            BodyPolicy::All => self.str("bodies: all"),
            BodyPolicy::Mentioning(words) => self.str("bodies: mentioning").finders(words),
        }
    }

    pub fn macro_policy(self, policy: &MacroPolicy) -> Self {
        match policy {
            MacroPolicy::All => self.str("macros: all"),
            MacroPolicy::None => self.str("macros: none"),
            MacroPolicy::Mentioning(words) => self.str("macros: mentioning").finders(words),
        }
    }

    /// The words a policy's searchers look for.
    fn finders(self, words: &[memchr::memmem::Finder<'static>]) -> Self {
        words.iter().fold(self, |b, w| b.bytes(w.needle()))
    }

    pub fn finish(self) -> Key {
        Key(self.0.digest128())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Facts = 1,
    Memo = 2,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Facts => "facts",
            Kind::Memo => "memo",
        }
    }
}

/// A cache directory.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    /// [`BUILD_ID`]; another in the tests, to play an older modrace.
    build: String,
    max_bytes: u64,
    /// Bytes written by this process: eviction runs only after a run that wrote.
    written: AtomicU64,
}

fn config() -> impl bincode::config::Config {
    crate::facts::codec()
}

impl Cache {
    /// The cache under `dir` (created if missing), bounded by `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<Cache> {
        let root = dir.join(LAYOUT);
        std::fs::create_dir_all(&root)
            .map_err(|e| anyhow::anyhow!("cache directory {}: {e}", root.display()))?;
        Ok(Cache {
            root,
            build: BUILD_ID.to_string(),
            max_bytes,
            written: AtomicU64::new(0),
        })
    }

    /// The user's cache directory for modrace: `$XDG_CACHE_HOME/modrace`, `~/.cache/modrace`
    /// on Linux (the platform's own elsewhere), or none.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("modrace"))
    }

    /// The folder of the cache's entries (`DIR/v1`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bytes the cache's entries take on disk.
    pub fn size_on_disk(&self) -> u64 {
        evict::size(&self.root)
    }

    fn entry_key(&self, kind: Kind, options: Key, content: Key) -> Key {
        KeyBuilder::default()
            .str(&self.build)
            .bytes(&[kind as u8])
            .key(options)
            .key(content)
            .finish()
    }

    fn path(&self, kind: Kind, key: Key) -> PathBuf {
        let hex = key.hex();
        self.root.join(kind.folder()).join(&hex[..2]).join(&hex)
    }

    /// The facts of a file whose bytes hash to `content`, made with `options`.
    pub fn get_facts(&self, options: Key, content: Key) -> Option<FileFacts> {
        LOAD.time(|| {
            let entry = self.read(Kind::Facts, self.entry_key(Kind::Facts, options, content))?;
            decode_all(&entry[HEADER..])
        })
    }

    /// Stores a file's facts. A failure to write is not an error: the run has its facts.
    pub fn put_facts(&self, options: Key, content: Key, facts: &FileFacts) {
        STORE.time(|| {
            if let Ok(payload) = bincode::encode_to_vec(facts, config()) {
                let key = self.entry_key(Kind::Facts, options, content);
                self.write(Kind::Facts, key, &payload);
            }
        })
    }

    /// A stored result of a whole run.
    pub fn get_memo<T: for<'de> bincode::BorrowDecode<'de, ()>>(&self, key: Key) -> Option<T> {
        let entry = self.read(Kind::Memo, self.entry_key(Kind::Memo, key, key))?;
        decode_all(&entry[HEADER..])
    }

    pub fn put_memo<T: bincode::Encode>(&self, key: Key, value: &T) {
        if let Ok(payload) = bincode::encode_to_vec(value, config()) {
            self.write(Kind::Memo, self.entry_key(Kind::Memo, key, key), &payload);
        }
    }

    /// An entry whose header checks out; its payload starts at [`HEADER`].
    fn read(&self, kind: Kind, key: Key) -> Option<Vec<u8>> {
        use std::io::Read;
        let path = self.path(kind, key);
        let mut file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes).ok()?;
        check_header(&bytes, kind, key)?;
        if let Ok(time) = meta.modified() {
            keep_fresh(&path, time);
        }
        Some(bytes)
    }

    fn write(&self, kind: Kind, key: Key, payload: &[u8]) {
        let path = self.path(kind, key);
        let Some(dir) = path.parent() else { return };
        let mut entry = Vec::with_capacity(HEADER + payload.len());
        entry.extend_from_slice(&MAGIC);
        entry.extend_from_slice(&[kind as u8, 0, 0, 0, 0, 0, 0, 0]);
        entry.extend_from_slice(&key.0.to_le_bytes());
        entry.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        entry.extend_from_slice(&xxh3_64(payload).to_le_bytes());
        entry.extend_from_slice(payload);
        let written = std::fs::create_dir_all(dir).is_ok()
            && tempfile::Builder::new()
                .prefix(evict::TEMP_PREFIX)
                .tempfile_in(dir)
                .and_then(|mut tmp| {
                    tmp.write_all(&entry)?;
                    tmp.persist(&path).map_err(|e| e.error)
                })
                .is_ok();
        if written {
            self.written
                .fetch_add(entry.len() as u64, Ordering::Relaxed);
        }
    }

    /// Keeps the directory under its bound when this process wrote to it (see [`evict`]).
    /// Called at the end of a scan and after a result is stored; concurrent runs may both
    /// evict, which only removes entries sooner.
    pub fn finish(&self) {
        let written = self.written.swap(0, Ordering::Relaxed);
        if written > 0 {
            evict::after_writes(&self.root, self.max_bytes, written);
        }
    }
}

/// The payload's length when the header is this entry's and the payload is whole and intact.
fn check_header(bytes: &[u8], kind: Kind, key: Key) -> Option<usize> {
    let header = bytes.get(..HEADER)?;
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap());
    let ok = header[..8] == MAGIC
        && header[8] == kind as u8
        && header[16..32] == key.0.to_le_bytes()
        && u64_at(32) == (bytes.len() - HEADER) as u64
        && u64_at(40) == xxh3_64(&bytes[HEADER..]);
    ok.then_some(bytes.len() - HEADER)
}

/// A value that is the whole payload, or none. Decoding borrows each string from the payload
/// while it copies it, where an owned decode would allocate a `String` for each one and free
/// it again.
fn decode_all<'de, T: bincode::BorrowDecode<'de, ()>>(payload: &'de [u8]) -> Option<T> {
    match bincode::borrow_decode_from_slice(payload, config()) {
        Ok((value, used)) if used == payload.len() => Some(value),
        _ => None,
    }
}

/// How old an entry's time may grow before a hit sets it to now. Eviction goes by that time, so
/// entries in use stay; a day keeps hits from writing to the disk on every run.
const FRESH: Duration = Duration::from_secs(24 * 3600);

fn keep_fresh(path: &Path, time: SystemTime) {
    let now = SystemTime::now();
    if now.duration_since(time).is_ok_and(|age| age > FRESH) {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = f.set_modified(now);
        }
    }
}

#[cfg(test)]
mod tests;
