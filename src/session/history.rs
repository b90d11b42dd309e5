//! `history`: `check` on each release of a git directory, read by blob id, and the findings
//! followed from release to release (`rules::history`). A release takes the facts of the
//! files it shares with the release before from that release's scan, the others from the
//! fact cache (keyed by blob id) or from their bytes, so only changed files are parsed; the
//! whole-tree phases run on every release, as `check` runs them.

use std::collections::HashMap;

use anyhow::Result;

use super::{nonempty, CheckInput, Session};
use crate::buildinfo::BuildInfo;
use crate::cache::Key;
use crate::entries;
use crate::facts::FileFacts;
use crate::index::Index;
use crate::kb::KernelVersion;
use crate::rules::history::{Cause, History, Release, Seen, Tracker};
use crate::rules::{CheckReport, FindingKey, RuleFilter, Triage};
use crate::scan::{self, Scan};
use crate::sleep::{SleepAnalysis, UnknownPolicy};
use crate::source::git::{GitDir, Snapshot};

/// What `history` runs on.
pub struct HistoryInput<'a> {
    pub git: &'a GitDir,
    /// The releases, in order.
    pub tags: &'a [String],
    pub filter: &'a RuleFilter,
    pub unknown: UnknownPolicy,
}

/// One release checked, and what the check read (for the next release and for the causes
/// of the findings that went away).
pub struct ReleaseCheck {
    pub report: CheckReport,
    pub scan: Scan,
    pub build: BuildInfo,
}

impl Session {
    /// `check` on a release read from git, with the default triage. `previous` is the scan
    /// of the release before made by this session: its facts of unchanged blobs are reused.
    pub fn check_release(
        &self,
        git: &GitDir,
        snapshot: &Snapshot,
        previous: Option<Scan>,
        filter: &RuleFilter,
        unknown: UnknownPolicy,
    ) -> Result<ReleaseCheck> {
        let plan = self.check_plan(filter);
        let lowering = scan::Lowering {
            front_end: &self.front_end,
            bodies: &plan.bodies,
            macros: &plan.macros,
        };
        let cache = self.facts_cache_keeping(&plan.bodies, &plan.macros);
        let (scan, build) = rayon::join(
            || scan::scan_snapshot(git, snapshot, previous, &lowering, cache),
            || {
                BuildInfo::from_files(snapshot.files.iter().map(|f| {
                    let read = move || {
                        let bytes = git.read(f.id, &f.path)?;
                        crate::source::source_bytes(&f.path, bytes)
                    };
                    (f.path.as_str(), format!("{}:{}", f.path, f.id), read)
                }))
            },
        );
        let mut scan = nonempty_release(scan, &snapshot.tag)?;
        let mut build = build;
        scan.warnings.append(&mut build.warnings);
        let read = |rel: &str| {
            let f = snapshot.file(rel)?;
            git.read(f.id, rel).ok()
        };
        let input = CheckInput {
            scan: &scan,
            build: &build,
            read: &read,
        };
        let sleep = |index: &Index, build: &BuildInfo| {
            SleepAnalysis::compute(index, &self.kb, unknown, Some(build))
        };
        let (mut report, _) = self.check_scanned(&input, filter, &sleep, false, &Triage::default());
        scan.warnings.append(&mut report.warnings);
        Ok(ReleaseCheck {
            report,
            scan,
            build,
        })
    }
}

fn nonempty_release(mut scan: Scan, tag: &str) -> Result<Scan> {
    scan.roots = vec![std::path::PathBuf::from(format!("tag {tag}"))];
    nonempty(scan)
}

/// Runs `check` on every release of `input` and follows the findings. `session_for` gives
/// the session for a release whose top-level Makefile says `version` (its era's knowledge
/// base); a release whose session has the same options as the one before shares its facts
/// (those of files that mention a release macro only when the releases are the same).
/// `progress` hears of each release done (its index and tag).
pub fn run_history(
    input: &HistoryInput,
    session_for: &dyn Fn(Option<KernelVersion>) -> Result<Session>,
    progress: &dyn Fn(usize, &Release),
) -> Result<History> {
    let git = input.git;
    let mut tracker = Tracker::default();
    let mut current: Option<Session> = None;
    let mut previous: Option<Scan> = None;
    let routines = Routines::default();
    for (at, tag) in input.tags.iter().enumerate() {
        let snapshot = git.snapshot(tag)?;
        let version = snapshot
            .file("Makefile")
            .and_then(|f| git.read(f.id, "Makefile").ok())
            .and_then(|text| crate::source::makefile_version(&text));
        let mut session = session_for(version)?;
        session.set_tree_version(version);
        // The options key says what facts depend on (the knowledge base among them); how its
        // era was chosen (the release's Makefile) does not change them.
        let same = (current.as_ref()).is_some_and(|c| c.options == session.options);
        if !same {
            previous = None;
        }
        let session = &*current.insert(session);
        let run =
            session.check_release(git, &snapshot, previous.take(), input.filter, input.unknown)?;
        let paths: HashMap<&str, usize> = (run.scan.files.iter().enumerate())
            .map(|(i, f)| (f.path.as_str(), i))
            .collect();
        let seen: Vec<Seen> = (run.report.findings.iter())
            .map(|f| {
                let key = FindingKey::of(f);
                let facts = paths.get(f.file.as_str()).map(|&i| &run.scan.files[i]);
                let fingerprint = routines.fingerprint(git, &snapshot, facts, &key.function);
                let module = match run.build.origin(&f.file) {
                    Some(origin) => origin.module.clone(),
                    None => f.file.rsplit('/').next().unwrap_or(&f.file).to_string(),
                };
                Seen {
                    key,
                    module,
                    line: f.line,
                    fingerprint,
                }
            })
            .collect();
        let release = Release {
            tag: tag.clone(),
            era: session.kb.data.era.name.clone(),
            files: run.scan.files.len(),
            parsed: run.scan.parsed,
            findings: run.report.findings.len(),
            by_rule: run.report.stats.by_rule.clone().into_iter().collect(),
            born: 0,
            died: 0,
            warnings: run.scan.warnings.len(),
        };
        let cause = |key: &FindingKey, last: u64| {
            let Some(&i) = paths.get(key.file.as_str()) else {
                return Cause::FileRemoved;
            };
            let facts = &run.scan.files[i];
            if !defines(facts, &key.function) {
                return Cause::FunctionRemoved;
            }
            if !entries::module_capable(&run.build, facts).0 {
                return Cause::NotModular;
            }
            if routines.fingerprint(git, &snapshot, Some(facts), &key.function) != last {
                Cause::RoutineChanged
            } else {
                Cause::OtherChange
            }
        };
        tracker.release(release, seen, cause);
        progress(at, tracker_last(&tracker));
        drop(paths);
        previous = Some(run.scan);
    }
    Ok(tracker.finish())
}

fn tracker_last(tracker: &Tracker) -> &Release {
    tracker.last_release().expect("a release was just added")
}

/// Whether the file defines a routine or a variable (a table) of that name.
fn defines(facts: &FileFacts, name: &str) -> bool {
    facts.functions.iter().any(|f| f.name == name) || facts.variables.iter().any(|v| v.name == name)
}

/// Fingerprints of routines' texts, by the blob, the name and the lines the facts give it (a
/// file that tests the release may span other lines in another): a blob is read once for
/// all the releases that share it.
#[derive(Default)]
struct Routines {
    known: std::cell::RefCell<HashMap<RoutineId, u64>>,
}

/// A routine's text: its blob, its name and the (first, last) lines of its definitions.
type RoutineId = (Key, String, Vec<(u32, u32)>);

impl Routines {
    /// A hash of the text of the routine `name` of the file `facts` describes (the lines its
    /// definitions span), or of the whole file when it defines no routine of that name.
    fn fingerprint(
        &self,
        git: &GitDir,
        snapshot: &Snapshot,
        facts: Option<&FileFacts>,
        name: &str,
    ) -> u64 {
        let Some(facts) = facts else { return 0 };
        let Some(file) = snapshot.file(&facts.path) else {
            return 0;
        };
        let blob = scan::blob_key(file.id);
        let spans: Vec<(u32, u32)> = (facts.functions.iter())
            .filter(|f| f.name == name)
            .map(|f| (f.line, f.end_line))
            .collect();
        let id = (blob, name.to_string(), spans);
        if let Some(&fp) = self.known.borrow().get(&id) {
            return fp;
        }
        let spans = &id.2;
        let fp = match (spans.is_empty(), git.read(file.id, &facts.path)) {
            (false, Ok(bytes)) => {
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                for &(from, to) in spans {
                    let from = (from as usize).saturating_sub(1).min(lines.len());
                    let to = (to as usize).clamp(from, lines.len());
                    for l in &lines[from..to] {
                        h.update(l);
                        h.update(b"\n");
                    }
                }
                h.digest()
            }
            _ => blob.0 as u64,
        };
        self.known.borrow_mut().insert(id, fp);
        fp
    }
}
