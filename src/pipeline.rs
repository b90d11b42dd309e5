//! The whole job on a tree: scan, index, may-sleep analysis, entries, rule 2, and fixes.

use std::time::Instant;

use crate::buildinfo::BuildInfo;
use crate::chain::ChainStep;
use crate::check::{
    body_words, fixes, prepare, run_prepared, CheckReport, FilePatch, RuleFilter, SleepOracle,
};
use crate::facts::BodyPolicy;
use crate::index::Index;
use crate::kb::Kb;
use crate::normalize::Normalizer;

impl SleepOracle for crate::sleep::SleepAnalysis {
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>> {
        let verdict = self.call_verdict(index, file, call);
        (verdict.sleeps == crate::sleep::Sleep::Yes).then(|| {
            verdict
                .chain
                .into_iter()
                .map(|s| ChainStep {
                    function: s.function,
                    file: s.file,
                    line: s.line,
                    call: s.call,
                })
                .collect()
        })
    }
}

/// The per-file phase every whole-tree command shares: the scan, with the statement trees of
/// the functions that name a use-count or lock primitive, and the build files, read while
/// the sources parse.
pub fn scan_tree(
    roots: &[std::path::PathBuf],
    kb: &Kb,
    normalizer: &Normalizer,
) -> anyhow::Result<(crate::scan::Scan, BuildInfo)> {
    scan_tree_with(roots, normalizer, &BodyPolicy::mentioning(&body_words(kb)))
}

/// [`scan_tree`] with the statement trees `bodies` asks for: `check` walks the paths of its
/// entry routines, so it keeps them all rather than read their files a second time.
pub fn scan_tree_with(
    roots: &[std::path::PathBuf],
    normalizer: &Normalizer,
    bodies: &BodyPolicy,
) -> anyhow::Result<(crate::scan::Scan, BuildInfo)> {
    let _t = crate::timing::Phase::start("scan");
    let (scan, build) = rayon::join(
        || crate::scan::scan_bodies(roots, normalizer, bodies),
        || BuildInfo::read(roots),
    );
    Ok((scan?, build))
}

/// The whole job on a tree: scan, index, may-sleep analysis, entries, rule 2. Returns the
/// report and the warnings of the scan (skipped files).
pub fn check_tree(
    roots: &[std::path::PathBuf],
    kb: &Kb,
    defines: &[String],
    undefs: &[String],
    filter: &RuleFilter,
    unknown: crate::sleep::UnknownPolicy,
) -> anyhow::Result<(CheckReport, Vec<crate::diag::Warning>)> {
    let outcome = check_tree_with_fixes(roots, kb, defines, undefs, filter, unknown, false)?;
    Ok((outcome.report, outcome.warnings))
}

/// What `check` produces: the report, the scan's warnings, and the patches when asked for.
pub struct CheckOutcome {
    pub report: CheckReport,
    pub warnings: Vec<crate::diag::Warning>,
    pub patches: Vec<FilePatch>,
}

/// [`check_tree`], and the fixes of its MR001, MR002 and MR003 findings when `want_fixes`.
pub fn check_tree_with_fixes(
    roots: &[std::path::PathBuf],
    kb: &Kb,
    defines: &[String],
    undefs: &[String],
    filter: &RuleFilter,
    unknown: crate::sleep::UnknownPolicy,
    want_fixes: bool,
) -> anyhow::Result<CheckOutcome> {
    let started = Instant::now();
    let normalizer = Normalizer::new(&kb.data, defines, undefs);
    let (scan, build) = scan_tree_with(roots, &normalizer, &BodyPolicy::All)?;
    let index = Index::build(&scan, kb);
    let (sleep, prepared) = rayon::join(
        || crate::sleep::SleepAnalysis::compute(&index, kb, unknown),
        || prepare(&index, kb, &build, filter),
    );
    let mut report = run_prepared(&index, kb, prepared, &sleep, filter);
    let patches = if want_fixes {
        fixes(&mut report, &index, kb, &normalizer)
    } else {
        Vec::new()
    };
    report.stats.seconds = started.elapsed().as_secs_f64();
    drop((index, sleep));
    let mut scan = scan;
    let warnings = std::mem::take(&mut scan.warnings);
    drop_in_background(scan);
    Ok(CheckOutcome {
        report,
        warnings,
        patches,
    })
}

/// Frees a whole-tree value on another thread. Freeing the facts of a tree takes a few tenths
/// of a second, which the caller can spend writing its report; a process that exits first
/// simply leaves the rest to the operating system.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("modrace-drop".into())
        .spawn(move || drop(value));
    // Without a thread, the value was dropped with the failed closure: nothing is lost.
    let _ = spawned;
}
