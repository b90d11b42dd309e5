//! The rule engine: runs every rule on the analyses' results and applies `--select`/`--ignore`
//! once.
//!
//! Suppression comments and the baseline are applied here too (`triage`), after the filter.
//!
//! Rule 2 (MR001-MR003, MR005, MR006) is checked per name-taking entry routine of module
//! code, on its use-count paths; rule 1 (MR004) at the core's call sites of name-taking slots,
//! on the lock analysis.

use std::collections::{BTreeMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::bkl::BklReport;
use crate::entries::Entry;
use crate::facts::Span;
use crate::index::{FnRef, Index};
use crate::kb::{CountDiscipline, EraChoice, Kb, RuleFamily, Takes};
use crate::owners::{GetLeak, OwnerReport, OwnerStats, Unbalanced};
use crate::usecount::release::ReleaseCheck;
use crate::usecount::{self, SleepOracle, UseCountKnowledge};

use super::triage::{self, Suppressed, Triage};
use super::{Code, EntryContext, Finding};
use crate::diag::Warning;
use crate::owners::{SelfRefReport, SelfRefStats};

/// Which rules to report.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub select: Vec<Code>,
    pub ignore: Vec<Code>,
}

impl RuleFilter {
    pub fn allows(&self, code: Code) -> bool {
        (self.select.is_empty() || self.select.contains(&code)) && !self.ignore.contains(&code)
    }

    /// Whether rule `code` runs on a tree of an era with rule family `family`: selected, one
    /// of that era's rules, and named by `--select` if it is a preview rule.
    pub fn runs(&self, code: Code, family: RuleFamily) -> bool {
        let asked = !code.is_preview() || self.select.contains(&code);
        code.family() == family && self.allows(code) && asked
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckStats {
    pub files: usize,
    pub entries: usize,
    /// Name-taking routines of module-capable code: the ones rule 2 applies to.
    pub checked: usize,
    /// Routines whose slot the core pins itself (rule 2 does not apply).
    pub core_pinned: usize,
    /// Routines whose path analysis hit its bounds; their findings are a lower bound.
    pub incomplete: usize,
    pub findings: usize,
    pub by_rule: BTreeMap<Code, usize>,
    /// Findings a `modrace: ignore` comment suppressed (not in `findings`).
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed: usize,
    /// Findings the `--baseline` listed (not in `findings`); only with a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_hidden: Option<usize>,
    /// How MR101 judged the tables handed to consumers, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_tables: Option<OwnerStats>,
    /// How MR105/MR106 judged the module's references on itself, when one of them ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_refs: Option<SelfRefStats>,
    /// Wall time; only with `--timings` (outputs are the same from run to run without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// The era whose knowledge and rules the run used, and how it was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub era: Option<EraReport>,
    pub findings: Vec<Finding>,
    /// The findings comments suppressed, with their reasons; only with `--show-suppressed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Vec<Suppressed>>,
    pub stats: CheckStats,
    /// Suppression comments that name no rule, for the run's warnings.
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct EraReport {
    pub name: String,
    pub rules: RuleFamily,
    #[serde(flatten)]
    pub chosen: EraChoice,
}

/// What the rules read: the analyses of one tree.
pub struct Analyses<'a> {
    pub index: &'a Index<'a>,
    pub kb: &'a Kb,
    pub entries: &'a [Entry],
    /// The lock analysis; `None` when MR004 is not asked for.
    pub bkl: Option<&'a BklReport>,
    pub sleep: &'a dyn SleepOracle,
    pub use_counts: &'a UseCountKnowledge,
    /// The owner analysis; `None` when MR101 is not asked for.
    pub owners: Option<&'a OwnerReport>,
    /// Failure returns that keep a module reference; `None` when MR103 is not asked for.
    pub get_leaks: Option<&'a [GetLeak]>,
    /// Self-references in unprotected routines; `None` when neither MR105 nor MR106 is asked
    /// for.
    pub self_refs: Option<&'a SelfRefReport>,
    /// Module references taken and dropped unequally; `None` when MR104 is not asked for.
    pub lifetimes: Option<&'a [Unbalanced]>,
}

/// Runs every rule. The scan must have kept the statement trees of every function
/// ([`BodyPolicy::All`]): an entry routine whose body was not lowered has no path to walk.
///
/// [`BodyPolicy::All`]: crate::facts::BodyPolicy::All
pub fn run(an: &Analyses, filter: &RuleFilter, triage: &Triage) -> CheckReport {
    let index = an.index;
    // One check per routine, in its first name-taking slot.
    let mut seen = HashSet::new();
    let targets: Vec<&Entry> = an
        .entries
        .iter()
        .filter(|e| e.takes == Takes::Name && e.module_capable)
        .filter(|e| seen.insert((e.file.as_str(), e.function.as_str())))
        .collect();
    let _rules = crate::timing::Phase::start("rules");
    let family = an.kb.data.era.rules;
    let runs = |c: Code| filter.runs(c, family);
    // Rule 2 walks each routine's paths; its codes all come from that one walk.
    let rule2 = [
        Code::Mr001,
        Code::Mr002,
        Code::Mr003,
        Code::Mr005,
        Code::Mr006,
        Code::Mr007,
    ];
    let targets = if rule2.into_iter().any(runs) {
        targets
    } else {
        Vec::new()
    };
    let results: Vec<RoutineResult> = targets
        .par_iter()
        .filter_map(|e| {
            let file = index.file_by_path(&e.file)?;
            let fref = index.resolve_function(file, &e.function)?;
            Some(check_routine(an, e, fref))
        })
        .collect();
    let mut findings = Vec::new();
    let mut stats = CheckStats::default();
    for r in results {
        stats.checked += 1;
        stats.incomplete += r.incomplete as usize;
        stats.core_pinned += r.core_pinned as usize;
        findings.extend(r.findings);
    }
    if let Some(bkl) = an.bkl {
        super::mr004::check(bkl, &mut findings);
    }
    let mut owner_tables = None;
    if let Some(owners) = an.owners {
        let this_module = &an.kb.data.owners.this_module;
        super::mr101::check(&owners.tables, this_module, &mut findings);
        owner_tables = Some(owners.stats);
    }
    if let Some(leaks) = an.get_leaks {
        super::mr103::check(leaks, &mut findings);
    }
    if let Some(found) = an.lifetimes {
        super::mr104::check(found, &mut findings);
    }
    let mut self_refs = None;
    if let Some(report) = an.self_refs {
        super::mr105::check(&report.refs, &mut findings);
        let exit_routine =
            (an.kb.data.owners.self_unpin_routines.first()).map_or("", String::as_str);
        super::mr106::check(&report.refs, exit_routine, &mut findings);
        self_refs = Some(report.stats);
    }
    findings.retain(|f| runs(f.rule));
    findings.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.rule).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.rule,
        ))
    });
    stats.owner_tables = owner_tables;
    stats.self_refs = self_refs;
    stats.files = index.files.len();
    stats.entries = an.entries.len();
    let mut report = CheckReport {
        findings,
        stats,
        ..CheckReport::default()
    };
    // Counts the findings per rule too.
    triage::apply(&mut report, index, triage);
    report
}

struct RoutineResult {
    findings: Vec<Finding>,
    incomplete: bool,
    core_pinned: bool,
}

/// Rule 2 on one entry routine.
fn check_routine(an: &Analyses, entry: &Entry, fref: FnRef) -> RoutineResult {
    let (index, kb) = (an.index, an.kb);
    let function = index.function(fref);
    let calls = &index.files[fref.file].calls;
    let walked = usecount::analyse_entry(index, kb, an.sleep, an.use_counts, entry, fref);
    let sleep_chain = |call: u32| {
        an.sleep
            .call_chain(index, fref.file, call as usize)
            .unwrap_or_default()
    };
    let call_text = |call: u32| {
        let c = &calls[call as usize];
        (
            format!("{}({})", c.callee, c.args.join(", ")),
            Span {
                line: c.line,
                column: c.column,
                ..Span::default()
            },
        )
    };
    let release = entry
        .slot
        .field()
        .and_then(|s| kb.slot(&s.strukt, &s.field))
        .and_then(|s| s.release_on_failure.as_deref())
        .filter(|_| !walked.paths.leaks.is_empty())
        .map(|field| {
            let check = ReleaseCheck::new(index, kb, an.use_counts, an.entries, entry, fref);
            (field, check)
        });
    let core_pinned = walked.discipline == CountDiscipline::Core;
    let cx = EntryContext {
        function: &entry.function,
        file: &entry.file,
        line: function.line,
        column: 1,
        slot: &entry.slot,
        via: &entry.via,
        paths: &walked.paths,
        sleep_chain: &sleep_chain,
        call_text: &call_text,
        release_on_failure: release.as_ref().map(|(field, check)| (*field, check)),
        core_pins: core_pinned,
    };
    let mut findings = Vec::new();
    super::check_entry(&cx, &mut findings);
    RoutineResult {
        findings,
        incomplete: walked.paths.incomplete,
        core_pinned,
    }
}
