//! The per-file phase over a whole tree: read, normalize, parse, lower, in parallel.

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use crate::diag::Warning;
use crate::facts::FrontEnd;
use crate::facts::{self, BodyPolicy, FileFacts};
use crate::source::{self, SourceFile};

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
    scan_keeping(roots, front_end, bodies, true)
}

/// [`scan_bodies`], keeping the files' macro definitions only when `macros`
/// ([`facts::extract_keeping`]).
pub fn scan_keeping(
    roots: &[PathBuf],
    front_end: &FrontEnd,
    bodies: &BodyPolicy,
    macros: bool,
) -> anyhow::Result<Scan> {
    scan_with(roots, |file, bytes| {
        facts::extract_keeping(&file.display, bytes, front_end, bodies, macros)
    })
}

/// A bare tree-sitter-c parse of the same files, for comparison (`stats --bare`).
pub fn scan_bare(roots: &[PathBuf]) -> anyhow::Result<Scan> {
    scan_with(roots, |file, bytes| {
        facts::extract_bare(&file.display, bytes)
    })
}

fn scan_with(
    roots: &[PathBuf],
    extract: impl Fn(&SourceFile, &[u8]) -> FileFacts + Sync,
) -> anyhow::Result<Scan> {
    let start = Instant::now();
    let discovery = {
        let _t = crate::timing::Phase::start("discover");
        source::discover(roots)?
    };
    crate::progress::files(discovery.files.len());
    let results: Vec<Result<FileFacts, Warning>> = discovery
        .files
        .par_iter()
        .map(|file| {
            let _done = Done;
            READ.time(|| source::read_source(file)).map(|bytes| {
                let mut facts = extract(file, &bytes);
                facts.disk_path = file.path.clone();
                facts
            })
        })
        .collect();
    let mut scan = Scan {
        roots: roots.to_vec(),
        warnings: discovery.warnings,
        ..Default::default()
    };
    for r in results {
        match r {
            Ok(f) => {
                if let Some(line) = f.too_deep {
                    scan.warnings.push(Warning::at(
                        f.path.clone(),
                        line,
                        format!(
                            "nesting deeper than {} levels: the part below was not analysed",
                            facts::MAX_DEPTH
                        ),
                    ));
                }
                if let Some(line) = f.too_deep_condition {
                    scan.warnings.push(Warning::at(
                        f.path.clone(),
                        line,
                        format!(
                            "#if expression nested deeper than {} levels: taken as unknown \
                             (the first branch)",
                            crate::normalize::cpp::MAX_EXPR_DEPTH
                        ),
                    ));
                }
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
    ]);
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
