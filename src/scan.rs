//! The per-file phase over a whole tree: read, normalize, parse, lower, in parallel.

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::cache::{Cache, Key, KeyBuilder};
use crate::diag::Warning;
use crate::facts::FrontEnd;
use crate::facts::{self, BodyPolicy, FileFacts, MacroPolicy, Text};
use crate::source::{self, SourceFile};

mod snapshot;
pub use snapshot::{blob_key, scan_snapshot, Lowering};

/// The key a file's facts are cached under: the key of its bytes, with the tree's release
/// when they mention a release macro (no other file's facts depend on the release, so the
/// others are shared between releases).
pub fn facts_key(front_end: &FrontEnd, content: Key, bytes: &[u8]) -> Key {
    if front_end.normalizer.mentions_version(bytes) {
        with_release(front_end, content)
    } else {
        content
    }
}

/// `key` with the release the front end evaluates `#if LINUX_VERSION_CODE` with.
pub fn with_release(front_end: &FrontEnd, key: Key) -> Key {
    let code = front_end.normalizer.tree_version_code();
    KeyBuilder::default()
        .key(key)
        .str("tree version")
        .str(&format!("{code:?}"))
        .finish()
}

/// Reports a file done when dropped, whichever way its reading ended.
struct Done;

impl Drop for Done {
    fn drop(&mut self) {
        crate::progress::file_done();
    }
}

static READ: crate::timing::Tally = crate::timing::Tally::new("read");

/// The facts of every file under the scanned roots, in path order.
#[derive(Debug, Default)]
pub struct Scan {
    pub roots: Vec<PathBuf>,
    pub files: Vec<FileFacts>,
    pub warnings: Vec<Warning>,
    pub seconds: f64,
    /// With a cache: the key of what was read (each file's path and the hash of its bytes, and
    /// the files skipped), as [`fingerprint`] gives it.
    pub inputs: Option<Key>,
    /// For a scan of a release read from git: the key of each file's blob, beside `files`.
    pub content: Vec<Key>,
    /// For such a scan: how many files' facts were made from their bytes (neither in the scan
    /// of the release before nor in the cache).
    pub parsed: usize,
    /// For such a scan: `LINUX_VERSION_CODE` as its files' `#if`s saw it.
    pub version: Option<i64>,
}

/// The fact cache a scan reads and fills, and the key of everything besides a file's bytes
/// that its facts depend on.
#[derive(Clone, Copy)]
pub struct FactsCache<'c> {
    pub cache: &'c Cache,
    pub options: Key,
}

/// Scans the given roots. Only a root that does not exist is an error.
pub fn scan(roots: &[PathBuf], front_end: &FrontEnd) -> anyhow::Result<Scan> {
    scan_bodies(roots, front_end, &BodyPolicy::None)
}

/// Scans the given roots, lowering the function bodies the policy asks for.
pub fn scan_bodies(
    roots: &[PathBuf],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
) -> anyhow::Result<Scan> {
    scan_cached(roots, front_end, bodies, &MacroPolicy::All, None)
}

/// [`scan_bodies`], taking each file's facts from the cache when its bytes are known there and
/// storing the others.
pub fn scan_cached(
    roots: &[PathBuf],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
    macros: &MacroPolicy,
    cache: Option<FactsCache>,
) -> anyhow::Result<Scan> {
    scan_with(roots, cache, Some(front_end), None, |file, bytes| {
        facts::extract_keeping(&file.display, bytes, front_end, bodies, macros)
    })
}

/// [`scan_cached`] after [`prepare`]: the files it found, and facts by the hashes it took. A
/// file is read again only when the cache does not have its facts; the scan's `inputs` are
/// the hashes of what it used, which differ from `prepared.key` when a file changed between.
pub fn scan_prepared(
    prepared: Prepared,
    roots: &[PathBuf],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
    macros: &MacroPolicy,
    cache: FactsCache,
) -> anyhow::Result<Scan> {
    scan_with(
        roots,
        Some(cache),
        Some(front_end),
        Some(prepared),
        |file, bytes| facts::extract_keeping(&file.display, bytes, front_end, bodies, macros),
    )
}

/// A bare tree-sitter-c parse of the same files, for comparison (`stats --bare`).
pub fn scan_bare(roots: &[PathBuf]) -> anyhow::Result<Scan> {
    scan_with(roots, None, None, None, |file, bytes| {
        facts::extract_bare(&file.display, bytes)
    })
}

/// What a cached scan reads first, without parsing anything: the files under the roots and
/// the hash of each one's bytes (or why it could not be read), and the key of all of it. A
/// whole-run memo is looked up with `key`; a scan handed this reads facts by these hashes and
/// opens only the files the cache does not know.
pub struct Prepared {
    discovery: source::Discovery,
    keys: Vec<Result<Key, Warning>>,
    pub key: Key,
}

/// Reads and hashes the files under `roots` (each one's [`facts_key`]).
pub fn prepare(roots: &[PathBuf], front_end: &FrontEnd) -> anyhow::Result<Prepared> {
    let discovery = source::discover(roots)?;
    let keys: Vec<Result<Key, Warning>> = discovery
        .files
        .par_iter()
        .map(|file| {
            let bytes = READ.time(|| source::read_source(file));
            bytes.map(|b| facts_key(front_end, Key::of(&b), &b))
        })
        .collect();
    let key = inputs_key(&discovery, keys.iter().map(Result::as_ref));
    Ok(Prepared {
        discovery,
        keys,
        key,
    })
}

fn inputs_key<'a>(
    discovery: &source::Discovery,
    keys: impl Iterator<Item = Result<&'a Key, &'a Warning>>,
) -> Key {
    let mut b = KeyBuilder::default();
    for w in &discovery.warnings {
        b = b.str(&w.to_string());
    }
    for (file, key) in discovery.files.iter().zip(keys) {
        b = b.str(&file.display).str(&file.path.to_string_lossy());
        b = match key {
            Ok(k) => b.key(*k),
            Err(w) => b.str(&w.to_string()),
        };
    }
    b.finish()
}

/// One file's facts: from the cache (unless `look` is false: known to be a miss), or
/// extracted (and stored).
fn facts_of(
    file: &SourceFile,
    bytes: &[u8],
    cache: Option<(FactsCache, Key)>,
    look: bool,
    extract: &(impl Fn(&SourceFile, &[u8]) -> FileFacts + Sync),
) -> FileFacts {
    let cached = cache
        .filter(|_| look)
        .and_then(|(c, key)| c.cache.get_facts(c.options, key));
    let facts = cached.unwrap_or_else(|| {
        let facts = extract(file, bytes);
        if let Some((c, key)) = cache {
            c.cache.put_facts(c.options, key, &facts);
        }
        facts
    });
    named(facts, file)
}

/// Facts with the file's names: an entry may have been made for the same bytes elsewhere.
fn named(mut facts: FileFacts, file: &SourceFile) -> FileFacts {
    facts.path = Text::from(file.display.as_str());
    facts.disk_path = file.path.clone();
    facts
}

/// What a file's facts say was left out or cannot be honoured: nesting past the bounds, and
/// suppression comments that suppress nothing.
fn file_warnings(f: &FileFacts, warnings: &mut Vec<Warning>) {
    if let Some(line) = f.too_deep {
        warnings.push(Warning::at(
            f.path.clone(),
            line,
            format!(
                "nesting deeper than {} levels: the part below was not analysed",
                facts::MAX_DEPTH
            ),
        ));
    }
    if let Some(line) = f.too_deep_condition {
        warnings.push(Warning::at(
            f.path.clone(),
            line,
            format!(
                "#if expression nested deeper than {} levels: taken as unknown \
                 (the first branch)",
                crate::normalize::cpp::MAX_EXPR_DEPTH
            ),
        ));
    }
    for s in &f.suppressions {
        let problem = if s.codes.is_empty() {
            "`modrace:` comment that is not `modrace: ignore RULES -- reason`: suppresses nothing"
        } else if s.reason.is_none() {
            "suppression without a reason (`-- why` after the rules): suppresses nothing"
        } else {
            continue;
        };
        warnings.push(Warning::at(f.path.clone(), s.line, problem));
    }
}

fn scan_with(
    roots: &[PathBuf],
    cache: Option<FactsCache>,
    front_end: Option<&FrontEnd>,
    prepared: Option<Prepared>,
    extract: impl Fn(&SourceFile, &[u8]) -> FileFacts + Sync,
) -> anyhow::Result<Scan> {
    let start = Instant::now();
    let (discovery, known) = match prepared {
        Some(p) => (p.discovery, p.keys),
        None => {
            let _t = crate::timing::Phase::start("discover");
            (source::discover(roots)?, Vec::new())
        }
    };
    crate::progress::files(discovery.files.len());
    let results: Vec<Result<(FileFacts, Key), Warning>> = discovery
        .files
        .par_iter()
        .enumerate()
        .map(|(i, file)| {
            let _done = Done;
            let known = known.get(i).and_then(|k| k.as_ref().ok());
            if let (Some(c), Some(&key)) = (cache, known) {
                if let Some(facts) = c.cache.get_facts(c.options, key) {
                    return Ok((named(facts, file), key));
                }
            }
            READ.time(|| source::read_source(file)).map(|bytes| {
                let key = match (cache, front_end) {
                    (None, _) => Key(0),
                    (Some(_), Some(f)) => facts_key(f, Key::of(&bytes), &bytes),
                    (Some(_), None) => Key::of(&bytes),
                };
                // Looked up already under the same hash: a miss.
                let look = known != Some(&key);
                let facts = facts_of(file, &bytes, cache.map(|c| (c, key)), look, &extract);
                (facts, key)
            })
        })
        .collect();
    let inputs = cache.map(|_| {
        let keys = results.iter().map(|r| r.as_ref().map(|(_, k)| k));
        inputs_key(&discovery, keys)
    });
    let mut scan = Scan {
        roots: roots.to_vec(),
        warnings: discovery.warnings,
        inputs,
        ..Default::default()
    };
    for r in results {
        match r {
            Ok((f, _)) => {
                file_warnings(&f, &mut scan.warnings);
                scan.files.push(f)
            }
            Err(w) => scan.warnings.push(w),
        }
    }
    scan.seconds = start.elapsed().as_secs_f64();
    if crate::timing::enabled() {
        let mut sizes = facts::size::Tally::default();
        scan.files.iter().for_each(|f| sizes.file(f));
        sizes.report();
    }
    crate::timing::Tally::report(&[
        &READ,
        &facts::NORMALIZE,
        &facts::PARSE,
        &facts::FLATTEN,
        &facts::LOWER,
        &facts::FREE_TREE,
        &crate::cache::HASH,
        &crate::cache::LOAD,
        &crate::cache::STORE,
    ]);
    if let Some(c) = cache {
        c.cache.finish();
    }
    Ok(scan)
}

/// Facts for the analyses' unit tests: C text lowered with every statement tree, as a scan
/// with the built-in knowledge base would.
#[cfg(test)]
pub(crate) mod testing {
    use super::Scan;
    use crate::facts::FrontEnd;
    use crate::facts::{self, BodyPolicy, FileFacts};
    use crate::kb::Kb;

    /// One file, `t.c`, whose first function must parse without error.
    pub fn lower(src: &str) -> FileFacts {
        let kb = Kb::builtin();
        let front_end = FrontEnd::new(&kb.data, &[], &[]);
        let facts = facts::extract_with("t.c", src.as_bytes(), &front_end, &BodyPolicy::All);
        assert!(!facts.functions[0].has_error, "{src}");
        facts
    }

    /// A tree of `files` (path, text), in path order as a scan gives them.
    pub fn scan_of(files: &[(&str, &str)]) -> Scan {
        let kb = Kb::builtin();
        let front_end = FrontEnd::new(&kb.data, &[], &[]);
        let mut files: Vec<_> = files
            .iter()
            .map(|(p, s)| facts::extract_with(p, s.as_bytes(), &front_end, &BodyPolicy::All))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Scan {
            files,
            ..Default::default()
        }
    }
}
