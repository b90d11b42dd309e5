//! The integration tests' shared harness: fixture trees, the one call into the library's
//! pipeline, and inline `expect:` annotations.
//!
//! - A [`Tree`] is a fixture folder under `tests/fixtures` (read in place, or copied into a
//!   temporary directory when the test edits it) or a multi-file fixture written in one string,
//!   each file after a `//- /path/of/file.c` header line (rust-analyzer's format).
//! - [`pipeline`] is the only function here, and in the tests, that calls the library's
//!   whole-tree pipeline (scan, index, may-sleep analysis, entries, check, fixes). Every other
//!   helper goes through it, so a change of the library's API is adapted in one place.
//! - A comment `/* expect: MR001, MR005 */` on a line announces those findings on that line;
//!   [`expectation_diff`] is the one place they are compared with what the check found.

// Each test file uses a part of the harness.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use modrace::bkl::BklReport;
use modrace::entries::{EntriesReport, Entry};
use modrace::facts::{BodyPolicy, FileFacts};
use modrace::index::Index;
use modrace::kb::Kb;
use modrace::report::{self, Format};
use modrace::rules::{CheckReport, RuleFilter};
pub use modrace::session::CheckOutcome;
use modrace::session::Session;
use modrace::sleep::{SleepAnalysis, UnknownPolicy};
use modrace::usecount::SleepOracle;

pub mod chromium;

// ---------------------------------------------------------------------------------------------
// Trees

/// A source tree to analyse: a fixture folder, or files materialised in a temporary directory.
pub struct Tree {
    root: PathBuf,
    /// Keeps a temporary tree alive; `None` for a fixture folder read in place.
    _dir: Option<tempfile::TempDir>,
}

/// The folder of the fixtures: `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

impl Tree {
    /// `tests/fixtures/<name>`, read in place. Tests that edit files use [`Tree::copy_of`].
    pub fn fixture(name: &str) -> Tree {
        Tree::from_dir(fixtures_dir().join(name))
    }

    /// Any folder, read in place (`examples/tree`).
    pub fn from_dir(path: impl Into<PathBuf>) -> Tree {
        let root = path.into();
        assert!(root.is_dir(), "no folder {}", root.display());
        Tree { root, _dir: None }
    }

    /// A copy of `tests/fixtures/<name>` in a temporary directory.
    pub fn copy_of(name: &str) -> Tree {
        let tree = Tree::empty();
        copy_dir(&Tree::fixture(name).root, &tree.root);
        tree
    }

    /// An empty temporary tree.
    pub fn empty() -> Tree {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Tree {
            root: dir.path().to_path_buf(),
            _dir: Some(dir),
        }
    }

    /// A multi-file fixture in one string: each file starts with a header line
    /// `//- /drivers/char/foo.c` and runs to the next header. Text before the first header
    /// must be blank.
    pub fn from_text(text: &str) -> Tree {
        let tree = Tree::empty();
        for (path, body) in split_fixture(text) {
            tree.write(&path, &body);
        }
        tree
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a file of the tree, relative to its root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    fn assert_temporary(&self) {
        assert!(
            self._dir.is_some(),
            "a fixture folder is read in place; edit a Tree::copy_of it"
        );
    }

    /// Writes a file (and its directories) into a temporary tree.
    pub fn write(&self, rel: &str, text: &str) {
        self.assert_temporary();
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Copies `tests/fixtures/<from>` into the tree at `to` (a temporary tree only).
    pub fn add_fixture(&self, from: &str, to: &str) {
        self.assert_temporary();
        copy_dir(&fixtures_dir().join(from), &self.path(to));
    }

    /// Removes a file or a folder of a temporary tree.
    pub fn remove(&self, rel: &str) {
        self.assert_temporary();
        let path = self.path(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    /// The tree's `.c` and `.h` files, relative to its root, sorted.
    pub fn c_files(&self) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(&self.root)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| {
                e.file_type().is_file()
                    && e.path().extension().is_some_and(|x| x == "c" || x == "h")
            })
            .map(|e| {
                e.path()
                    .strip_prefix(&self.root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        out.sort();
        out
    }
}

/// The files of a string fixture: (path without its leading `/`, text).
pub fn split_fixture(text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("//- ") {
            let path = path.trim().trim_start_matches('/');
            assert!(!path.is_empty(), "a `//-` header without a path");
            assert!(
                files.iter().all(|(p, _)| p != path),
                "{path} twice in one fixture"
            );
            files.push((path.to_string(), String::new()));
        } else {
            match files.last_mut() {
                Some((_, body)) => body.push_str(line),
                None => assert!(
                    line.trim().is_empty(),
                    "text before the first `//- /path` header: {line:?}"
                ),
            }
        }
    }
    assert!(!files.is_empty(), "a fixture without a `//- /path` header");
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// What a test asks of the pipeline.
pub enum Ask<'o> {
    /// `modrace check`, with the fixes of MR001-MR003 when `fixes`.
    Check {
        filter: RuleFilter,
        unknown: UnknownPolicy,
        fixes: bool,
    },
    /// Rule 2 with a stand-in for the may-sleep analysis.
    CheckWithOracle(&'o dyn SleepOracle),
    /// `modrace entries`.
    Entries,
    /// `modrace bkl`, and the entries it annotates.
    Bkl,
    /// The may-sleep analysis of the tree.
    Sleep(UnknownPolicy),
    /// The per-file phase alone (the front end's facts, without statement trees).
    Scan,
}

/// What the pipeline answered, with the warnings of the scan (skipped files).
pub enum Output {
    Check(CheckOutcome),
    Entries(EntriesReport),
    Bkl(BklReport, Vec<Entry>),
    Sleep(Box<SleepTree>),
    /// The scan; its warnings stay in it.
    Scan(modrace::scan::Scan),
}

/// The may-sleep analysis of a tree and the index it answers on. The facts are leaked so that
/// the index can live as long as the test wants it (trees in tests are small).
pub struct SleepTree {
    pub files: &'static [FileFacts],
    pub index: Index<'static>,
    pub analysis: SleepAnalysis,
}

/// THE one place the tests call the library's pipeline. Returns the answer and the warnings
/// of the scan; an error only for a tree that cannot be read at all (a missing root).
pub fn pipeline(root: &Path, ask: Ask) -> anyhow::Result<(Output, Vec<modrace::diag::Warning>)> {
    // The era the tree's top-level Makefile says, as the command line chooses it.
    let kb = modrace::source::tree_version(root)
        .and_then(|(v, _)| Kb::builtin_for(v))
        .unwrap_or_else(Kb::builtin);
    let session = Session::new(vec![root.to_path_buf()], kb, &[], &[]);
    match ask {
        Ask::Check {
            filter,
            unknown,
            fixes,
        } => {
            let out = session.check(&filter, unknown, fixes)?;
            Ok((Output::Check(out.value), out.warnings))
        }
        Ask::CheckWithOracle(oracle) => {
            let out = session.check_with_oracle(&RuleFilter::default(), oracle)?;
            Ok((Output::Check(out.value), out.warnings))
        }
        Ask::Entries => {
            let out = session.entries()?;
            Ok((Output::Entries(out.value.0), out.warnings))
        }
        Ask::Bkl => {
            // The lock analysis and the entries it was drawn from, as `modrace bkl` sees them.
            let out = session.entries()?;
            let (entries, report) = out.value;
            Ok((Output::Bkl(report, entries.entries), out.warnings))
        }
        Ask::Sleep(policy) => {
            let (mut scan, _) = session.scan(&BodyPolicy::All)?;
            let warnings = std::mem::take(&mut scan.warnings);
            let scan: &'static modrace::scan::Scan = Box::leak(Box::new(scan));
            let index = Index::build(scan, &session.kb);
            let analysis = SleepAnalysis::compute(&index, &session.kb, policy, None);
            let tree = SleepTree {
                files: &scan.files,
                index,
                analysis,
            };
            Ok((Output::Sleep(Box::new(tree)), warnings))
        }
        Ask::Scan => {
            let (scan, _) = session.scan(&BodyPolicy::None)?;
            Ok((Output::Scan(scan), Vec::new()))
        }
    }
}

fn no_warnings(warnings: &[modrace::diag::Warning]) {
    assert!(warnings.is_empty(), "the scan warned: {warnings:?}");
}

/// `modrace check` on a tree whose files all scan cleanly.
pub fn check(tree: &Tree, filter: &RuleFilter) -> CheckReport {
    check_outcome(tree, filter, false).report
}

/// `modrace check`, and its fixes (`--diff`, `--fix`) when `fixes`.
pub fn check_outcome(tree: &Tree, filter: &RuleFilter, fixes: bool) -> CheckOutcome {
    let ask = Ask::Check {
        filter: filter.clone(),
        unknown: UnknownPolicy::default(),
        fixes,
    };
    match pipeline(tree.root(), ask).expect("the tree can be read") {
        (Output::Check(outcome), warnings) => {
            no_warnings(&warnings);
            outcome
        }
        _ => unreachable!("a check answers with a check"),
    }
}

/// Rule 2 with `oracle` standing in for the may-sleep analysis.
pub fn check_with_oracle(tree: &Tree, oracle: &dyn SleepOracle) -> CheckReport {
    match pipeline(tree.root(), Ask::CheckWithOracle(oracle)).expect("the tree can be read") {
        (Output::Check(outcome), warnings) => {
            no_warnings(&warnings);
            outcome.report
        }
        _ => unreachable!("a check answers with a check"),
    }
}

/// `modrace entries`; the scan's warnings are not checked (some fixtures are broken on purpose).
pub fn entries(tree: &Tree) -> (EntriesReport, Vec<modrace::diag::Warning>) {
    match pipeline(tree.root(), Ask::Entries).expect("the tree can be read") {
        (Output::Entries(report), warnings) => (report, warnings),
        _ => unreachable!("entries answer with entries"),
    }
}

/// `modrace bkl` on a tree whose files all scan cleanly, and the entries it annotates.
pub fn bkl(tree: &Tree) -> (BklReport, Vec<Entry>) {
    match pipeline(tree.root(), Ask::Bkl).expect("the tree can be read") {
        (Output::Bkl(report, entries), warnings) => {
            no_warnings(&warnings);
            (report, entries)
        }
        _ => unreachable!("bkl answers with bkl"),
    }
}

/// The may-sleep analysis of a tree whose files all scan cleanly.
pub fn sleep(tree: &Tree, policy: UnknownPolicy) -> SleepTree {
    match pipeline(tree.root(), Ask::Sleep(policy)).expect("the tree can be read") {
        (Output::Sleep(t), warnings) => {
            no_warnings(&warnings);
            *t
        }
        _ => unreachable!("a may-sleep analysis answers with one"),
    }
}

/// The facts of every file under `root` (which need not exist: then the error).
pub fn scan(root: &Path) -> anyhow::Result<modrace::scan::Scan> {
    match pipeline(root, Ask::Scan)? {
        (Output::Scan(scan), _) => Ok(scan),
        _ => unreachable!("a scan answers with a scan"),
    }
}

/// The `text` rendering of a report, with excerpts read from the tree.
pub fn render_text(tree: &Tree, report: &CheckReport) -> String {
    let source = report::read_from_roots(&[tree.root().to_path_buf()]);
    report::render(Format::Text, report, &source, false)
}

// ---------------------------------------------------------------------------------------------
// Inline annotations

/// Lines of the tree's C files that hold `marker` (`expect: `, `bkl: `): (file, line, the text
/// after the marker), in file and line order.
pub fn annotations(tree: &Tree, marker: &str) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for rel in tree.c_files() {
        let text = std::fs::read_to_string(tree.path(&rel)).unwrap();
        for (i, line) in text.lines().enumerate() {
            if let Some((_, rest)) = line.split_once(marker) {
                out.push((rel.clone(), i as u32 + 1, rest.to_string()));
            }
        }
    }
    out
}

/// A finding as the annotations name it: (file, line, rule).
pub type Expected = (String, u32, String);

/// The findings the tree's `expect: MR001, MR005` comments announce.
pub fn expectations(tree: &Tree) -> BTreeSet<Expected> {
    let mut out = BTreeSet::new();
    for (file, line, rest) in annotations(tree, "expect: ") {
        let rest = rest.split("*/").next().unwrap_or("");
        for code in rest.split(|c: char| c == ',' || c.is_whitespace()) {
            if code.starts_with("MR") {
                out.insert((file.clone(), line, code.to_string()));
            }
        }
    }
    out
}

/// What a report found, as the annotations name it.
pub fn found(report: &CheckReport) -> BTreeSet<Expected> {
    report
        .findings
        .iter()
        .map(|f| (f.file.clone(), f.line, f.rule.to_string()))
        .collect()
}

/// The one comparison of announced and found findings: `None` when they agree, else a
/// readable list of what is missing and what is unexpected.
pub fn expectation_diff(expected: &BTreeSet<Expected>, got: &BTreeSet<Expected>) -> Option<String> {
    let missing: Vec<_> = expected.difference(got).collect();
    let unexpected: Vec<_> = got.difference(expected).collect();
    if missing.is_empty() && unexpected.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (title, list) in [("missing", &missing), ("unexpected", &unexpected)] {
        if !list.is_empty() {
            out.push_str(&format!("{title}:\n"));
            for (file, line, code) in list.iter() {
                out.push_str(&format!("  {file}:{line}: {code}\n"));
            }
        }
    }
    Some(out)
}

/// Checks the tree and asserts that its findings are exactly those its comments announce.
/// Returns the report for further checks.
pub fn assert_expectations(tree: &Tree) -> CheckReport {
    assert_expectations_with(tree, &RuleFilter::default())
}

/// [`assert_expectations`] with rules chosen as `--select`/`--ignore` choose them (preview
/// rules run only when selected).
pub fn assert_expectations_with(tree: &Tree, filter: &RuleFilter) -> CheckReport {
    let report = check(tree, filter);
    if let Some(diff) = expectation_diff(&expectations(tree), &found(&report)) {
        panic!("{diff}\nall findings: {:#?}", report.findings);
    }
    report
}

// ---------------------------------------------------------------------------------------------
// The binary

/// The `modrace` binary, with a cache directory of this test process's own under the target
/// folder: a test never reads or fills the user's cache, and starts from an empty one.
pub fn modrace_bin() -> std::process::Command {
    static CACHE_HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let home = CACHE_HOME.get_or_init(|| {
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory")
    });
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_modrace"));
    cmd.env("XDG_CACHE_HOME", home.path());
    cmd
}
