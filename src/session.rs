//! The pipeline, assembled in exactly one place: bytes -> facts (scan) -> index -> analyses
//! -> rules -> fixes. Every command, and every test that runs a whole tree, goes through a
//! [`Session`]; each method does one whole job and returns owned results.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};

use crate::bkl::{self, BklReport};
use crate::buildinfo::BuildInfo;
use crate::diag::Warning;
use crate::entries::{self, EntriesReport};
use crate::facts::FrontEnd;
use crate::facts::{BodyPolicy, FileFacts};
use crate::fix::{self, FilePatch};
use crate::index::Index;
use crate::kb::{EraChoice, Kb, RuleFamily};
use crate::rules::engine::{self, Analyses, EraReport};
use crate::rules::{CheckReport, Code, RuleFilter};
use crate::scan::{self, Scan};
use crate::sleep::report::WhySleeps;
use crate::sleep::{SleepAnalysis, UnknownPolicy};
use crate::stats::{self, Stats};
use crate::usecount::{NoSleep, SleepOracle, UseCountKnowledge};

/// What every command works on: the roots, the knowledge base and the preprocessor settings.
pub struct Session {
    pub roots: Vec<PathBuf>,
    pub kb: Kb,
    pub front_end: FrontEnd,
    /// How the knowledge base's era was chosen (for the outputs).
    pub era: EraChoice,
    /// Put wall times in the results (`stats.seconds`); off by default, so that two runs on
    /// the same tree give the same bytes.
    pub timings: bool,
}

/// A result and the warnings of the scan that produced it (files skipped, and why).
pub struct Outcome<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

/// What `check` produces: the report, and the patches when asked for.
pub struct CheckOutcome {
    pub report: CheckReport,
    pub patches: Vec<FilePatch>,
}

/// The question `why-sleeps` answers.
pub struct SleepQuestion<'a> {
    pub function: &'a str,
    pub mask: Option<&'a str>,
    pub unknown: UnknownPolicy,
    /// Look the name up as this file (relative to the root) sees it.
    pub file: Option<&'a str>,
}

impl Session {
    pub fn new(roots: Vec<PathBuf>, kb: Kb, defines: &[String], undefs: &[String]) -> Self {
        let front_end = FrontEnd::new(&kb.data, defines, undefs);
        Session {
            roots,
            kb,
            front_end,
            era: EraChoice::Assumed,
            timings: false,
        }
    }

    /// The per-file phase every whole-tree command shares, with the statement trees `bodies`
    /// asks for, and the build files, read while the sources parse. The index and the
    /// analyses borrow the scan, so a caller that wants them past one call (tests of an
    /// analysis) builds them on this.
    pub fn scan(&self, bodies: &BodyPolicy) -> Result<(Scan, BuildInfo)> {
        self.scan_keeping(bodies, true)
    }

    /// [`Self::scan`], keeping the macro definitions only when an analysis will read them.
    fn scan_keeping(&self, bodies: &BodyPolicy, macros: bool) -> Result<(Scan, BuildInfo)> {
        let _t = crate::timing::Phase::start("scan");
        let (scan, build) = rayon::join(
            || scan::scan_keeping(&self.roots, &self.front_end, bodies, macros),
            || BuildInfo::read(&self.roots),
        );
        let (mut scan, mut build) = (nonempty(scan?)?, build);
        scan.warnings.append(&mut build.warnings);
        Ok((scan, build))
    }

    /// The statement trees of the functions that name a use-count or lock primitive: enough
    /// for helpers that pin or unpin and for the functions that take or drop the lock.
    fn scan_for_entries(&self) -> Result<(Scan, BuildInfo)> {
        self.scan(&BodyPolicy::mentioning(&self.kb.body_words()))
    }

    /// The task list: every implicitly exported routine, and the lock analysis of the slots
    /// they sit in.
    pub fn entries(&self) -> Result<Outcome<(EntriesReport, BklReport)>> {
        let (mut scan, build) = self.scan_for_entries()?;
        let index = Index::build(&scan, &self.kb);
        let report = entries::compute(&index, &self.kb, &build);
        let mut locking = bkl::analyse(&index, &self.kb, &report.entries);
        locking.stats.seconds = locking.stats.seconds.filter(|_| self.timings);
        drop(index);
        Ok(outcome((report, locking), &mut scan))
    }

    /// Rule 1's analysis: where the core calls each slot, and its locking.
    pub fn bkl(&self) -> Result<Outcome<BklReport>> {
        let era = &self.kb.data.era;
        if self.kb.data.bkl.lock.is_empty() {
            bail!(
                "the knowledge base of era {} names no big kernel lock ({}): nothing for `bkl` to \
                 check (--era chooses another era)",
                era.name,
                era.about
            );
        }
        let out = self.entries()?;
        Ok(Outcome {
            value: out.value.1,
            warnings: out.warnings,
        })
    }

    /// Both rules of the mail, and the fixes of MR001-MR003 findings when `want_fixes`.
    pub fn check(
        &self,
        filter: &RuleFilter,
        unknown: UnknownPolicy,
        want_fixes: bool,
    ) -> Result<Outcome<CheckOutcome>> {
        let sleep = |index: &Index| SleepAnalysis::compute(index, &self.kb, unknown);
        self.run_check(filter, &sleep, want_fixes)
    }

    /// [`Self::check`] with a stand-in for the may-sleep analysis.
    pub fn check_with_oracle(
        &self,
        filter: &RuleFilter,
        oracle: &dyn SleepOracle,
    ) -> Result<Outcome<CheckOutcome>> {
        self.run_check(filter, &|_: &Index| oracle, false)
    }

    fn run_check<S: SleepOracle + Send>(
        &self,
        filter: &RuleFilter,
        sleep: &(dyn Fn(&Index) -> S + Sync),
        want_fixes: bool,
    ) -> Result<Outcome<CheckOutcome>> {
        let started = Instant::now();
        let kb = &self.kb;
        // Rule 2 walks every entry routine's paths: keep every statement tree rather than
        // read their files a second time. An era without it keeps only the bodies that name
        // its primitives, and asks no may-sleep question.
        let walks_paths = kb.data.era.rules == RuleFamily::UseCount;
        let bodies = if walks_paths {
            BodyPolicy::All
        } else {
            BodyPolicy::mentioning(&kb.body_words())
        };
        // The may-sleep, lock and use-count analyses are the ones that read macros.
        let runs_bkl = filter.runs(Code::Mr004, kb.data.era.rules);
        let (mut scan, build) = self.scan_keeping(&bodies, walks_paths || runs_bkl)?;
        let index = Index::build(&scan, kb);
        let (sleep, (entries, bkl, use_counts)) = rayon::join(
            || walks_paths.then(|| sleep(&index)),
            || {
                let entries = entries::compute(&index, kb, &build).entries;
                let bkl = runs_bkl.then(|| bkl::analyse(&index, kb, &entries));
                // Only rule 2's path walks ask the use-count knowledge.
                let use_counts = if walks_paths {
                    UseCountKnowledge::new(&index, kb)
                } else {
                    UseCountKnowledge::default()
                };
                (entries, bkl, use_counts)
            },
        );
        let analyses = Analyses {
            index: &index,
            kb,
            entries: &entries,
            bkl: bkl.as_ref(),
            sleep: match &sleep {
                Some(s) => s,
                None => &NoSleep,
            },
            use_counts: &use_counts,
        };
        let mut report = engine::run(&analyses, filter);
        report.era = Some(EraReport {
            name: kb.data.era.name.clone(),
            rules: kb.data.era.rules,
            chosen: self.era.clone(),
        });
        let patches = if want_fixes {
            let sources = read_sources(&report, &index);
            fix::plan(&mut report, &index, kb, &self.front_end, &sources)
        } else {
            Vec::new()
        };
        report.stats.seconds = self.timings.then(|| started.elapsed().as_secs_f64());
        drop((index, sleep));
        Ok(outcome(CheckOutcome { report, patches }, &mut scan))
    }

    /// How well the front end parses the tree; `bare` parses the files as they are.
    pub fn stats(&self, bare: bool) -> Result<Outcome<Stats>> {
        let mut scan = nonempty(if bare {
            scan::scan_bare(&self.roots)?
        } else {
            scan::scan(&self.roots, &self.front_end)?
        })?;
        let mut stats = stats::compute(&scan, 10);
        stats.seconds = stats.seconds.filter(|_| self.timings);
        Ok(outcome(stats, &mut scan))
    }

    /// The per-file facts, with every statement tree when `bodies`.
    pub fn facts(&self, bodies: bool) -> Result<Outcome<Vec<FileFacts>>> {
        let policy = if bodies {
            BodyPolicy::All
        } else {
            BodyPolicy::None
        };
        let scan = nonempty(scan::scan_bodies(&self.roots, &self.front_end, &policy)?)?;
        Ok(Outcome {
            value: scan.files,
            warnings: scan.warnings,
        })
    }

    /// Whether a function may sleep, and through what.
    pub fn why_sleeps(&self, q: &SleepQuestion) -> Result<Outcome<WhySleeps>> {
        // Guards of calls by parameter tests are read off statement trees.
        let mut scan = nonempty(scan::scan_bodies(
            &self.roots,
            &self.front_end,
            &BodyPolicy::All,
        )?)?;
        let index = Index::build(&scan, &self.kb);
        let tree = || {
            self.roots
                .first()
                .map_or(String::new(), |r| r.display().to_string())
        };
        let file = match q.file {
            Some(p) => Some(
                scan.files
                    .iter()
                    .position(|f| f.path == p)
                    .ok_or_else(|| anyhow!("no file {p} in {}", tree()))?,
            ),
            None => None,
        };
        let analysis = SleepAnalysis::compute(&index, &self.kb, q.unknown);
        // A primitive is what the knowledge base says, wherever the tree defines it.
        let known = analysis.is_known_primitive(q.function);
        let definitions = if known {
            Vec::new()
        } else {
            analysis.definitions(&index, file, q.function)
        };
        if definitions.is_empty() && !known {
            bail!(
                "{}: no function or macro of that name in {} (nor in the knowledge base)",
                q.function,
                tree()
            );
        }
        let verdict = analysis.function_verdict_in(&index, file, q.function, q.mask);
        let report = WhySleeps::new(q.function, q.mask, verdict, definitions, q.unknown);
        drop(index);
        Ok(outcome(report, &mut scan))
    }
}

/// A scan that read no C file at all is an error, not a clean tree: a wrong path (an empty
/// directory, a tree not extracted yet) must not pass as "no findings".
fn nonempty(scan: Scan) -> Result<Scan> {
    if !scan.files.is_empty() {
        return Ok(scan);
    }
    let roots: Vec<String> = scan.roots.iter().map(|r| r.display().to_string()).collect();
    let roots = roots.join(", ");
    match scan.warnings.first() {
        None => bail!("no C files (*.c, *.h) under {roots}: nothing to analyse"),
        Some(w) => bail!(
            "none of the C files under {roots} could be read ({} skipped; the first: {}: {})",
            scan.warnings.len(),
            w.path,
            w.message
        ),
    }
}

/// The texts of the files that hold fixable findings, for the fix planner.
fn read_sources(report: &CheckReport, index: &Index) -> HashMap<String, Vec<u8>> {
    let mut sources = HashMap::new();
    for f in report.findings.iter().filter(|f| f.rule.is_fixable()) {
        if sources.contains_key(&f.file) {
            continue;
        }
        let Some(file) = index.file_by_path(&f.file) else {
            continue;
        };
        // A file that cannot be read now is left unfixed, as one that changed would be.
        if let Ok(text) = std::fs::read(&index.files[file].disk_path) {
            sources.insert(f.file.clone(), text);
        }
    }
    sources
}

/// Takes the scan's warnings and frees the rest of it on another thread: freeing the facts
/// of a tree takes a few tenths of a second, which the caller can spend writing its report.
fn outcome<T>(value: T, scan: &mut Scan) -> Outcome<T> {
    let warnings = std::mem::take(&mut scan.warnings);
    drop_in_background(std::mem::take(scan));
    Outcome { value, warnings }
}

/// Frees a value on another thread; a process that exits first simply leaves the rest to the
/// operating system.
fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("modrace-drop".into())
        .spawn(move || drop(value));
    // Without a thread, the value was dropped with the failed closure: nothing is lost.
    let _ = spawned;
}
