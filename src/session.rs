//! The pipeline, assembled in exactly one place: bytes -> facts (scan) -> index -> analyses
//! -> rules -> fixes. Every command, and every test that runs a whole tree, goes through a
//! [`Session`]; each method does one whole job and returns owned results.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};

use crate::bkl::{self, BklReport};
use crate::buildinfo::BuildInfo;
use crate::cache::{Cache, Key, KeyBuilder};
use crate::diag::Warning;
use crate::entries::{self, EntriesReport};
use crate::facts::FrontEnd;
use crate::facts::{BodyPolicy, FileFacts, MacroPolicy};
use crate::fix::{self, FilePatch};
use crate::index::Index;
use crate::kb::{EraChoice, Kb, RuleFamily};
use crate::owners;
use crate::rules::engine::{self, Analyses, EraReport};
use crate::rules::{CheckReport, Code, RuleFilter, Triage};
use crate::scan::{self, Scan};
use crate::sleep::report::WhySleeps;
use crate::sleep::{SleepAnalysis, UnknownPolicy};
use crate::stats::{self, Stats};
use crate::usecount::drain::Drains;
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
    /// Where facts are kept between runs; none by default (the command line opens one).
    pub cache: Option<Cache>,
    /// The key of what the facts depend on besides a file's bytes and the statement trees
    /// kept: the knowledge base and `-D`/`-U` (the build of modrace is in every cache key).
    /// Set by [`Session::new`]: a caller that changes `kb` or `front_end` afterwards must not
    /// use a cache.
    options: Key,
    /// What the last [`Session::fingerprint`] read, for the next scan.
    prepared: std::sync::Mutex<Option<(scan::Prepared, Option<BuildInfo>)>>,
}

/// A result and the warnings of the scan that produced it (files skipped, and why).
pub struct Outcome<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
    /// With a cache: the key of the inputs the result was computed from. A caller that
    /// memoizes the result stores it only when this equals the [`Session::fingerprint`] it
    /// looked up with (a file changed in between otherwise).
    pub inputs: Option<Key>,
}

/// What `check` produces: the report, and the patches when asked for.
pub struct CheckOutcome {
    pub report: CheckReport,
    pub patches: Vec<FilePatch>,
}

/// Reads a file of the tree by its path relative to the root (the lock analysis' entry code).
type ReadFile<'a> = dyn Fn(&str) -> Option<Vec<u8>> + Sync + 'a;

/// What `check` keeps of each file.
struct CheckPlan {
    bodies: BodyPolicy,
    macros: MacroPolicy,
}

/// A scanned tree, for [`Session::check_scanned`].
struct CheckInput<'a> {
    scan: &'a Scan,
    build: &'a BuildInfo,
    read: &'a ReadFile<'a>,
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
        let mut front_end = FrontEnd::new(&kb.data, defines, undefs);
        // `#if LINUX_VERSION_CODE ...` is decided by the tree's own release: part of the key
        // of the files that mention it (`scan::facts_key`), not of the others.
        let version = roots
            .first()
            .and_then(|r| crate::source::tree_version(r))
            .map(|(v, _)| v);
        front_end.normalizer.set_tree_version(&kb.data, version);
        // The knowledge base's data has no hash map: its debug form is one text per KB.
        let mut options = KeyBuilder::default().str(&format!("{:?}", kb.data));
        for d in defines {
            options = options.str("-D").str(d);
        }
        for u in undefs {
            options = options.str("-U").str(u);
        }
        Session {
            roots,
            kb,
            front_end,
            era: EraChoice::Assumed,
            timings: false,
            cache: None,
            options: options.finish(),
            prepared: Default::default(),
        }
    }

    /// Evaluates `#if LINUX_VERSION_CODE ...` against `version`: the release of a tree read
    /// from git, which the roots do not tell. The options key stays: only the facts of files
    /// that mention a release macro depend on it, and their keys say so.
    pub fn set_tree_version(&mut self, version: Option<crate::kb::KernelVersion>) {
        self.front_end
            .normalizer
            .set_tree_version(&self.kb.data, version);
    }

    /// The fact cache for a scan that keeps the statement trees `bodies` asks for (its
    /// options key is what a caller holding bytes from elsewhere looks facts up with).
    pub fn facts_cache(&self, bodies: &BodyPolicy) -> Option<scan::FactsCache<'_>> {
        self.facts_cache_keeping(bodies, &MacroPolicy::All)
    }

    /// [`Self::facts_cache`] for facts that keep the macros `macros` asks for.
    fn facts_cache_keeping(
        &self,
        bodies: &BodyPolicy,
        macros: &MacroPolicy,
    ) -> Option<scan::FactsCache<'_>> {
        self.cache.as_ref().map(|cache| scan::FactsCache {
            cache,
            options: KeyBuilder::default()
                .key(self.options)
                .body_policy(bodies)
                .macro_policy(macros)
                .finish(),
        })
    }

    fn scan_files(&self, bodies: &BodyPolicy) -> Result<Scan> {
        let prepared = self.take_prepared().map(|p| p.0);
        self.scan_files_from(prepared, bodies, &MacroPolicy::All)
    }

    fn scan_files_from(
        &self,
        prepared: Option<scan::Prepared>,
        bodies: &BodyPolicy,
        macros: &MacroPolicy,
    ) -> Result<Scan> {
        let cache = self.facts_cache_keeping(bodies, macros);
        let (roots, front_end) = (&self.roots, &self.front_end);
        match (prepared, cache) {
            (Some(p), Some(c)) => scan::scan_prepared(p, roots, front_end, bodies, macros, c),
            (_, cache) => scan::scan_cached(roots, front_end, bodies, macros, cache),
        }
    }

    /// The key of the tree's inputs as a command reads them, without parsing anything: the
    /// sources, and the build files when `build_files` (the commands that go through
    /// [`Self::scan`]: `check`, `entries`, `bkl`); `None` without a cache. A command's result
    /// stored under it is its result for as long as the key comes out the same: see
    /// [`Outcome::inputs`]. The next scan of this session starts from what this read (the
    /// files found, their hashes, the build files) instead of reading it all again.
    pub fn fingerprint(&self, build_files: bool) -> Result<Option<Key>> {
        if self.cache.is_none() {
            return Ok(None);
        }
        let _t = crate::timing::Phase::start("fingerprint");
        let (files, build) = rayon::join(
            || scan::prepare(&self.roots, &self.front_end),
            || build_files.then(|| BuildInfo::read(&self.roots)),
        );
        let files = files?;
        let key = match &build {
            Some(build) => tree_key(files.key, build.inputs),
            None => files.key,
        };
        *self.prepared.lock().unwrap_or_else(|e| e.into_inner()) = Some((files, build));
        Ok(Some(key))
    }

    /// What [`Self::fingerprint`] read, for the scan that follows it (once).
    fn take_prepared(&self) -> Option<(scan::Prepared, Option<BuildInfo>)> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The key under which a command's result is memoized: the tree's [`Self::fingerprint`],
    /// the options that change facts, the era and the roots, and `salt` (the command and the
    /// options that change its output).
    pub fn memo_key(&self, inputs: Key, salt: &str) -> Key {
        let mut b = KeyBuilder::default()
            .key(self.options)
            .key(inputs)
            .str(&format!("{:?}", self.era))
            .str(&format!(
                "{:?}",
                self.front_end.normalizer.tree_version_code()
            ))
            .str(salt);
        for r in &self.roots {
            b = b.str(&r.to_string_lossy());
        }
        b.finish()
    }

    /// The per-file phase every whole-tree command shares, with the statement trees `bodies`
    /// asks for, and the build files, read while the sources parse. The index and the
    /// analyses borrow the scan, so a caller that wants them past one call (tests of an
    /// analysis) builds them on this.
    pub fn scan(&self, bodies: &BodyPolicy) -> Result<(Scan, BuildInfo)> {
        self.scan_keeping(bodies, &MacroPolicy::All)
    }

    /// [`Self::scan`], keeping the macro definitions only when an analysis will read them.
    fn scan_keeping(&self, bodies: &BodyPolicy, macros: &MacroPolicy) -> Result<(Scan, BuildInfo)> {
        let _t = crate::timing::Phase::start("scan");
        let (prepared, build) = self.take_prepared().unzip();
        let (scan, build) = rayon::join(
            || self.scan_files_from(prepared, bodies, macros),
            || {
                build
                    .flatten()
                    .unwrap_or_else(|| BuildInfo::read(&self.roots))
            },
        );
        let (mut scan, mut build) = (nonempty(scan?)?, build);
        scan.warnings.append(&mut build.warnings);
        scan.inputs = scan.inputs.map(|files| tree_key(files, build.inputs));
        Ok((scan, build))
    }

    /// Rule 2 walks every entry routine's paths: all statement trees, rather than read files a
    /// second time. Other eras keep the bodies naming their primitives (no may-sleep question).
    fn era_bodies(&self) -> BodyPolicy {
        match self.kb.data.era.rules {
            RuleFamily::UseCount => BodyPolicy::All,
            _ => BodyPolicy::mentioning(&self.kb.body_words()),
        }
    }

    /// The task list: every implicitly exported routine, and the lock analysis of the slots
    /// they sit in.
    pub fn entries(&self) -> Result<Outcome<(EntriesReport, BklReport)>> {
        // The bodies `check` keeps: `bkl` judges as it does, and shares its facts.
        let (mut scan, build) = self.scan(&self.era_bodies())?;
        let index = Index::build(&scan, &self.kb);
        let mut report = entries::compute(&index, &self.kb, &build);
        let drains = Arc::new(Drains::new(&index, &self.kb));
        let known = (&build.defines, drains.clone());
        crate::usecount::cover::annotate(&index, &self.kb, known, &mut report.entries);
        let entry = self.entry_model(&index, &build, &|rel| self.read_from_roots(rel));
        let mut locking = bkl::analyse(&index, &self.kb, (&report.entries, &entry), &drains);
        locking.stats.seconds = locking.stats.seconds.filter(|_| self.timings);
        drop(index);
        Ok(outcome((report, locking), &mut scan))
    }

    /// How the tree's architectures enter system calls, from their entry code (the only files
    /// besides C and Makefiles that the lock analysis reads).
    fn entry_model(&self, index: &Index, build: &BuildInfo, read: &ReadFile) -> bkl::EntryModel {
        let layout = &self.kb.data.layout;
        let arches: std::collections::BTreeSet<&str> = index
            .files
            .iter()
            .filter_map(|f| layout.arch_of(&f.path))
            .collect();
        bkl::EntryModel::read(&self.kb, arches, read).with_configs(&self.kb, &build.config_sources)
    }

    /// Reads a file of the roots by its path relative to them.
    fn read_from_roots(&self, rel: &str) -> Option<Vec<u8>> {
        self.roots
            .iter()
            .find_map(|r| crate::source::read_regular(&r.join(rel), rel).ok())
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
            inputs: out.inputs,
        })
    }

    /// Both rules of the mail, and the fixes of MR001-MR003 findings when `want_fixes`.
    pub fn check(
        &self,
        filter: &RuleFilter,
        unknown: UnknownPolicy,
        want_fixes: bool,
    ) -> Result<Outcome<CheckOutcome>> {
        self.check_triaged(filter, unknown, want_fixes, &Triage::default())
    }

    /// [`Self::check`] with a baseline, and the suppressed findings kept when asked for.
    pub fn check_triaged(
        &self,
        filter: &RuleFilter,
        unknown: UnknownPolicy,
        want_fixes: bool,
        triage: &Triage,
    ) -> Result<Outcome<CheckOutcome>> {
        let sleep =
            |i: &Index, b: &BuildInfo| SleepAnalysis::compute(i, &self.kb, unknown, Some(b));
        self.run_check(filter, &sleep, want_fixes, triage)
    }

    /// [`Self::check`] with a stand-in for the may-sleep analysis.
    pub fn check_with_oracle(
        &self,
        filter: &RuleFilter,
        oracle: &dyn SleepOracle,
    ) -> Result<Outcome<CheckOutcome>> {
        let oracle = |_: &Index, _: &BuildInfo| oracle;
        self.run_check(filter, &oracle, false, &Triage::default())
    }

    fn run_check<S: SleepOracle + Send>(
        &self,
        filter: &RuleFilter,
        sleep: &(dyn Fn(&Index, &BuildInfo) -> S + Sync),
        want_fixes: bool,
        triage: &Triage,
    ) -> Result<Outcome<CheckOutcome>> {
        let started = Instant::now();
        let plan = self.check_plan(filter);
        let (mut scan, build) = self.scan_keeping(&plan.bodies, &plan.macros)?;
        let read = |rel: &str| self.read_from_roots(rel);
        let input = CheckInput {
            scan: &scan,
            build: &build,
            read: &read,
        };
        let (mut report, patches) = self.check_scanned(&input, filter, sleep, want_fixes, triage);
        report.stats.seconds = self.timings.then(|| started.elapsed().as_secs_f64());
        scan.warnings.append(&mut report.warnings);
        Ok(outcome(CheckOutcome { report, patches }, &mut scan))
    }

    /// What `check` keeps of each file for the analyses `filter` runs in this era.
    fn check_plan(&self, filter: &RuleFilter) -> CheckPlan {
        let kb = &self.kb;
        let walks_paths = kb.data.era.rules == RuleFamily::UseCount;
        let bodies = self.era_bodies();
        // The may-sleep, lock and use-count analyses read every macro; the owner and
        // self-reference analyses only those that may give a module its exit routine.
        let runs_bkl = filter.runs(Code::Mr004, kb.data.era.rules);
        let macros = if walks_paths || runs_bkl {
            MacroPolicy::All
        } else if [Code::Mr101, Code::Mr104, Code::Mr105, Code::Mr106]
            .into_iter()
            .any(|c| filter.runs(c, kb.data.era.rules))
        {
            MacroPolicy::mentioning(&kb.data.module.exit_macros)
        } else {
            MacroPolicy::None
        };
        CheckPlan { bodies, macros }
    }

    /// `check` on a scanned tree: the analyses, the rules, and the fixes when `want_fixes`.
    fn check_scanned<S: SleepOracle + Send>(
        &self,
        input: &CheckInput,
        filter: &RuleFilter,
        sleep: &(dyn Fn(&Index, &BuildInfo) -> S + Sync),
        want_fixes: bool,
        triage: &Triage,
    ) -> (CheckReport, Vec<FilePatch>) {
        let kb = &self.kb;
        let (scan, build) = (input.scan, input.build);
        let walks_paths = kb.data.era.rules == RuleFamily::UseCount;
        let index = Index::build(scan, kb);
        let drains = Arc::new(Drains::new(&index, kb));
        // Three independent analyses (two read the drains); rule 2's walks ask use counts.
        let use_counts = || {
            walks_paths.then(|| UseCountKnowledge::new(&index, kb, &build.defines, drains.clone()))
        };
        let ((sleep, use_counts), (entries, bkl, modern)) = rayon::join(
            || rayon::join(|| walks_paths.then(|| sleep(&index, build)), use_counts),
            || {
                let entries = entries::compute(&index, kb, build).entries;
                let bkl = filter.runs(Code::Mr004, kb.data.era.rules).then(|| {
                    let model = self.entry_model(&index, build, input.read);
                    bkl::analyse(&index, kb, (&entries, &model), &drains)
                });
                let runs = |c: Code| filter.runs(c, kb.data.era.rules);
                let (runs_mr101, runs_mr104) = (runs(Code::Mr101), runs(Code::Mr104));
                let runs_self_refs = runs(Code::Mr105) || runs(Code::Mr106);
                // Read once for MR101, MR104 and the self-reference rules alike.
                let basis = (runs_mr101 || runs_mr104 || runs_self_refs)
                    .then(|| owners::OwnerBasis::new(&index, kb, build));
                let owners = (basis.as_ref())
                    .filter(|_| runs_mr101)
                    .map(|b| owners::analyse(&index, build, b));
                let get_leaks = runs(Code::Mr103).then(|| owners::get_leaks(&index, kb));
                let self_refs = (basis.as_ref())
                    .filter(|_| runs_self_refs)
                    .map(|b| owners::self_refs(&index, kb, build, b));
                let lifetimes = (basis.as_ref())
                    .filter(|_| runs_mr104)
                    .map(|b| owners::unbalanced(&index, kb, build, b));
                let modern = (owners, get_leaks, self_refs, lifetimes);
                (entries, bkl, modern)
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
            use_counts: &use_counts.unwrap_or_default(),
            owners: modern.0.as_ref(),
            get_leaks: modern.1.as_deref(),
            self_refs: modern.2.as_ref(),
            lifetimes: modern.3.as_deref(),
        };
        let mut report = engine::run(&analyses, filter, triage);
        report.era = Some(EraReport {
            name: kb.data.era.name.clone(),
            rules: kb.data.era.rules,
            chosen: self.era.clone(),
        });
        let patches = if want_fixes {
            let sources = fix::read_sources(&report, &index);
            fix::plan(&mut report, &index, kb, &self.front_end, &sources)
        } else {
            Vec::new()
        };
        drop((index, sleep));
        (report, patches)
    }

    /// How well the front end parses the tree; `bare` parses the files as they are.
    pub fn stats(&self, bare: bool) -> Result<Outcome<Stats>> {
        let mut scan = nonempty(if bare {
            scan::scan_bare(&self.roots)?
        } else {
            self.scan_files(&BodyPolicy::None)?
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
        let scan = nonempty(self.scan_files(&policy)?)?;
        Ok(Outcome {
            value: scan.files,
            warnings: scan.warnings,
            inputs: scan.inputs,
        })
    }

    /// Whether a function may sleep, and through what.
    pub fn why_sleeps(&self, q: &SleepQuestion) -> Result<Outcome<WhySleeps>> {
        // Guards of calls by parameter tests are read off statement trees.
        let mut scan = nonempty(self.scan_files(&BodyPolicy::All)?)?;
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
        let build = BuildInfo::read(&self.roots);
        let analysis = SleepAnalysis::compute(&index, &self.kb, q.unknown, Some(&build));
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

mod history;
pub use history::{run_history, HistoryInput, ReleaseCheck};

/// The key of a tree: its sources' and its build files'.
fn tree_key(files: Key, build: Key) -> Key {
    KeyBuilder::default().key(files).key(build).finish()
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

/// Takes the scan's warnings and frees the rest of it on another thread: freeing the facts
/// of a tree takes a few tenths of a second, which the caller can spend writing its report.
fn outcome<T>(value: T, scan: &mut Scan) -> Outcome<T> {
    let warnings = std::mem::take(&mut scan.warnings);
    let inputs = scan.inputs;
    drop_in_background(std::mem::take(scan));
    Outcome {
        value,
        warnings,
        inputs,
    }
}

/// Frees a value on another thread; a process that exits first simply leaves the rest to the
/// operating system.
fn drop_in_background<T: Send + 'static>(value: T) {
    // Without a thread, the value was dropped with the failed closure: nothing is lost.
    let _ = (std::thread::Builder::new().name("modrace-drop".into())).spawn(move || drop(value));
}

#[cfg(test)]
mod tests;
