//! The per-file phase over a release read from git: facts by blob id, so a release only
//! parses the files that changed since the one before it.

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;

use super::{file_warnings, FactsCache, Scan, READ};
use crate::cache::{Key, KeyBuilder};
use crate::diag::Warning;
use crate::facts::{self, BodyPolicy, FileFacts, FrontEnd, MacroPolicy, Text};
use crate::source::git::{BlobId, GitDir, Snapshot};
use crate::source::{is_c_path, source_bytes};

/// The key a blob's facts are cached under: git's id names the bytes as a hash of them would
/// (the cache's options key says how the facts were made, as for a file).
pub fn blob_key(id: BlobId) -> Key {
    KeyBuilder::default()
        .str("git blob")
        .bytes(id.as_bytes())
        .finish()
}

/// How a snapshot scan makes facts it finds neither in the scan before nor in the cache.
pub struct Lowering<'a> {
    pub front_end: &'a FrontEnd,
    pub bodies: &'a BodyPolicy,
    pub macros: &'a MacroPolicy,
}

/// Scans the C files of `snapshot`. A file whose blob the `previous` scan (of the release
/// before, made with the same lowering) holds takes its facts from there, unless it mentions
/// a release macro and the releases differ; the others from the cache, or from their bytes.
/// `Scan::content` holds each file's blob key.
///
/// In the cache, a blob's facts are under its key, and also under its key with the release
/// when they mention a release macro: facts under the bare key say whether the bytes do,
/// without reading them; those that do are then looked up for this release.
pub fn scan_snapshot(
    git: &GitDir,
    snapshot: &Snapshot,
    previous: Option<Scan>,
    lowering: &Lowering,
    cache: Option<FactsCache>,
) -> Scan {
    let start = Instant::now();
    let front_end = lowering.front_end;
    let version = front_end.normalizer.tree_version_code();
    let files: Vec<_> = (snapshot.files.iter())
        .filter(|f| is_c_path(&f.path))
        .map(|f| (f, blob_key(f.id)))
        .collect();
    let mut reused: Vec<Option<FileFacts>> = match previous {
        Some(previous) if previous.content.len() == previous.files.len() => {
            let same_release = previous.version == version;
            let mut by_key: HashMap<(Text, Key), FileFacts> = (previous.files.into_iter())
                .zip(previous.content)
                .map(|(f, k)| ((f.path.clone(), k), f))
                .collect();
            (files.iter())
                .map(|(f, k)| by_key.remove(&(Text::from(f.path.as_str()), *k)))
                .map(|f| f.filter(|f| same_release || !f.mentions_version))
                .collect()
        }
        _ => files.iter().map(|_| None).collect(),
    };
    let parsed = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<FileFacts, Warning>> = (files.par_iter())
        .zip(reused.par_iter_mut())
        .map(|((file, key), reused)| {
            if let Some(facts) = reused.take() {
                return Ok(facts);
            }
            let cached = cache.and_then(|c| {
                let facts = c.cache.get_facts(c.options, *key)?;
                match facts.mentions_version {
                    false => Some(facts),
                    true => (c.cache).get_facts(c.options, super::with_release(front_end, *key)),
                }
            });
            if let Some(facts) = cached {
                return Ok(named(facts, &file.path));
            }
            let bytes = READ.time(|| git.read(file.id, &file.path));
            let bytes = bytes.and_then(|b| source_bytes(&file.path, b))?;
            parsed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let facts = facts::extract_keeping(
                &file.path,
                &bytes,
                front_end,
                lowering.bodies,
                lowering.macros,
            );
            if let Some(c) = cache {
                c.cache.put_facts(c.options, *key, &facts);
                if facts.mentions_version {
                    let key = super::with_release(front_end, *key);
                    c.cache.put_facts(c.options, key, &facts);
                }
            }
            Ok(named(facts, &file.path))
        })
        .collect();
    let mut scan = Scan {
        parsed: parsed.into_inner(),
        version,
        ..Scan::default()
    };
    for (r, (_, key)) in results.into_iter().zip(&files) {
        match r {
            Ok(f) => {
                file_warnings(&f, &mut scan.warnings);
                scan.files.push(f);
                scan.content.push(*key);
            }
            Err(w) => scan.warnings.push(w),
        }
    }
    scan.seconds = start.elapsed().as_secs_f64();
    if let Some(c) = cache {
        c.cache.finish();
    }
    scan
}

/// Facts named by their path in the tree; nothing of a blob is on disk.
fn named(mut facts: FileFacts, path: &str) -> FileFacts {
    facts.path = Text::from(path);
    facts.disk_path = Default::default();
    facts
}
