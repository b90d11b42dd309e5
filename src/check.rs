//! `modrace check`: rule 2 of the mail on every name-taking entry routine of module code.
//!
//! Joins the entries (which routine sits in which slot), the may-sleep analysis and the
//! use-count path analysis, and hands each routine to the rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::buildinfo::BuildInfo;
use crate::chain::ChainStep;
use crate::entries::{self, Entry};
use crate::facts::{Call, Event, FileFacts, Function, Span};
use crate::index::{FnRef, Index};
use crate::kb::{CountDiscipline, Kb};
use crate::normalize::Normalizer;
use crate::paths::{self, CallOracle, CountEffect, Discipline, FailValue, SlotRules};
use crate::rules::{self, EntryContext, Finding};

/// Answers "may this call sleep, and why" for the check. The may-sleep analysis implements it.
pub trait SleepOracle: Sync {
    /// The chain from the call `calls[call]` of file `file` down to a sleeping primitive, or
    /// `None` when the call does not sleep (under the analysis' unknown-callee policy).
    fn call_chain(&self, index: &Index, file: usize, call: usize) -> Option<Vec<ChainStep>>;
}

/// Which rules to report.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub select: Vec<String>,
    pub ignore: Vec<String>,
}

impl RuleFilter {
    pub fn allows(&self, code: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|c| c.eq_ignore_ascii_case(code));
        (self.select.is_empty() || listed(&self.select)) && !listed(&self.ignore)
    }
}

#[derive(Debug, Default, Serialize)]
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
    pub by_rule: std::collections::BTreeMap<String, usize>,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
    pub stats: CheckStats,
}

/// The words whose presence makes the whole-tree scan keep a function's statement tree: the
/// use-count macros, so helpers that pin or unpin can be summarised, and the lock primitives,
/// so the BKL analysis can walk the functions that take or drop the lock.
pub fn body_words(kb: &Kb) -> Vec<String> {
    let u = &kb.data.use_count;
    let b = &kb.data.bkl;
    u.increment
        .iter()
        .chain(&u.decrement)
        .chain(&u.try_increment)
        .chain(&b.lock)
        .chain(&b.unlock)
        .chain(&b.depth_preserving)
        .cloned()
        .collect()
}

/// Each file's index by its path relative to the scanned root (the paths findings and entries
/// carry).
fn files_by_path<'a>(index: &Index<'a>) -> HashMap<&'a str, usize> {
    index
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.as_str(), i))
        .collect()
}

/// What the check needs that does not depend on the may-sleep analysis, so that it can be
/// computed beside it: the entries, and the rule-1 findings (made where the core calls the
/// slots, not in the modules).
pub struct Prepared {
    entries: Vec<Entry>,
    mr004: Vec<Finding>,
    helpers: HelperEffects,
    pins: CorePins,
}

pub fn prepare(index: &Index, kb: &Kb, build: &BuildInfo, filter: &RuleFilter) -> Prepared {
    let entries = entries::compute(index, kb, build).entries;
    let mr004 = if filter.allows("MR004") {
        crate::bkl::mr004_findings(index, kb, &entries, filter)
    } else {
        Vec::new()
    };
    Prepared {
        entries,
        mr004,
        helpers: HelperEffects::new(index),
        pins: CorePins::new(index, kb),
    }
}

/// Checks every name-taking, module-capable entry routine of the index. The scan must have
/// kept the statement trees of every function ([`BodyPolicy::All`]): an entry routine whose
/// body was not lowered has no path to walk.
///
/// [`BodyPolicy::All`]: crate::facts::BodyPolicy::All
pub fn run(
    index: &Index,
    kb: &Kb,
    build: &BuildInfo,
    sleep: &dyn SleepOracle,
    filter: &RuleFilter,
) -> CheckReport {
    run_prepared(index, kb, prepare(index, kb, build, filter), sleep, filter)
}

/// [`run`] with the part computed beside the may-sleep analysis.
pub fn run_prepared(
    index: &Index,
    kb: &Kb,
    prepared: Prepared,
    sleep: &dyn SleepOracle,
    filter: &RuleFilter,
) -> CheckReport {
    let started = Instant::now();
    let Prepared {
        entries,
        mr004,
        helpers,
        pins,
    } = prepared;
    let file_of = files_by_path(index);
    // One check per routine, in its first name-taking slot.
    let mut seen = std::collections::HashSet::new();
    let targets: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.takes == "name" && e.module_capable)
        .filter(|e| seen.insert((e.file.as_str(), e.function.as_str())))
        .collect();
    let _rules = crate::timing::Phase::start("rules");
    let results: Vec<(Vec<Finding>, bool, bool)> = targets
        .par_iter()
        .filter_map(|e| {
            let &file = file_of.get(e.file.as_str())?;
            let fref = index.resolve_function(file, &e.function)?;
            Some(check_one(index, kb, sleep, &helpers, &pins, e, fref))
        })
        .collect();
    let mut report = CheckReport::default();
    for (findings, incomplete, core) in results {
        report.stats.checked += 1;
        report.stats.incomplete += incomplete as usize;
        report.stats.core_pinned += core as usize;
        report
            .findings
            .extend(findings.into_iter().filter(|f| filter.allows(f.rule)));
    }
    report.findings.extend(mr004);
    report.findings.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.rule).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.rule,
        ))
    });
    report.stats.files = index.files.len();
    report.stats.entries = entries.len();
    report.stats.findings = report.findings.len();
    for f in &report.findings {
        *report.stats.by_rule.entry(f.rule.to_string()).or_default() += 1;
    }
    report.stats.seconds = started.elapsed().as_secs_f64();
    report
}

fn check_one(
    index: &Index,
    kb: &Kb,
    sleep: &dyn SleepOracle,
    helpers: &HelperEffects,
    pins: &CorePins,
    entry: &Entry,
    fref: FnRef,
) -> (Vec<Finding>, bool, bool) {
    let function = index.function(fref);
    let calls = &index.files[fref.file].calls;
    let (struct_name, field) = entry.slot.split_once('.').unwrap_or(("", &entry.slot));
    let mut discipline = kb.count_discipline(struct_name, field);
    if owner_pinned(index, kb, pins, fref.file, &entry.function, struct_name) {
        discipline = CountDiscipline::Core;
    }
    if entry.via_kind == "assignment" {
        let container = entry.registered_via.split('.').next().unwrap_or("");
        if kb
            .data
            .slot_heuristic
            .pinned_containers
            .iter()
            .any(|c| c == container)
        {
            discipline = CountDiscipline::Core;
        }
    }
    let rules = SlotRules {
        discipline: walk_discipline(discipline),
        fail: fail_value(function),
    };
    let oracle = FileOracle::new(index, kb, fref.file, calls, sleep, helpers);
    let report = paths::analyse(function, &oracle, rules);
    let sleep_chain = |call: u32| {
        sleep
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
    let release = kb
        .slot(struct_name, field)
        .and_then(|s| s.release_on_failure.as_deref());
    let cx = EntryContext {
        function: &entry.function,
        file: &entry.file,
        line: function.line,
        column: 1,
        slot: &entry.slot,
        registered_via: &entry.registered_via,
        paths: &report,
        sleep_chain: &sleep_chain,
        call_text: &call_text,
        release_on_failure: release,
        core_pins: discipline == CountDiscipline::Core,
    };
    let mut findings = Vec::new();
    rules::check_entry(&cx, &mut findings);
    (
        findings,
        report.incomplete,
        discipline == CountDiscipline::Core,
    )
}

/// 2.4 moved pinning into the core: when the slot's struct has an owner field and the
/// routine's table sets it to the module itself, the core pins the module before the call
/// (`fops_get`, `try_inc_mod_count(owner)`).
fn owner_pinned(
    index: &Index,
    kb: &Kb,
    pins: &CorePins,
    file: usize,
    function: &str,
    struct_name: &str,
) -> bool {
    let owner_fields = &kb.data.slot_heuristic.owner_fields;
    let Some(def) = index.struct_def(struct_name) else {
        return false;
    };
    let Some(owner) = def
        .fields
        .iter()
        .find(|f| owner_fields.contains(&f.name) || pins.pins(struct_name, &f.name))
    else {
        return false;
    };
    let own = &kb.data.use_count.own_module;
    let is_own = |v: &str| own.iter().any(|o| o == v.trim());
    let facts = &index.files[file];
    // `SET_MODULE_OWNER(dev)`, or `x->owner = THIS_MODULE`, in the routine's file: its objects
    // are made at run time, so the file is the finest grain the facts give.
    let setters = &kb.data.slot_heuristic.owner_setters;
    if facts.calls.iter().any(|c| setters.contains(&c.callee))
        || facts.field_assigns.iter().any(|a| {
            a.field == owner.name
                && is_own(&a.value)
                && a.base_type
                    .as_deref()
                    .is_none_or(|t| index.struct_name(t) == struct_name)
        })
    {
        return true;
    }
    let mut names: Vec<&str> = facts.variables.iter().map(|v| v.name.as_str()).collect();
    for c in facts.calls.iter().filter(|c| c.caller.is_none()) {
        if let Some(m) = kb.table_macro(&c.callee) {
            names.extend(c.args.get(m.var_arg).map(|a| a.as_str()));
        }
    }
    names.into_iter().any(|name| {
        let Some(var) = index.resolve_variable(file, name) else {
            return false;
        };
        if index.struct_name(&index.variable(var).type_name) != struct_name {
            return false;
        }
        let values = index.table_values(var, struct_name);
        let text = |t: &crate::index::TableValue| match &t.value {
            crate::index::TableContent::Expr(e) => e.clone(),
            crate::index::TableContent::List(_) => String::new(),
        };
        let holds_routine = values
            .iter()
            .any(|t| referenced_name_is(&text(t), function));
        let sets_owner = values
            .iter()
            .any(|t| t.field == owner.name && is_own(&text(t)));
        holds_routine && sets_owner
    })
}

fn referenced_name_is(expr: &str, name: &str) -> bool {
    crate::index::referenced_name(expr) == Some(name)
}

/// What the path walk checks for a slot: a bracket slot must drop the count on every return;
/// the others (core-pinned ones never reach the rules' findings) pin on success.
fn walk_discipline(d: CountDiscipline) -> Discipline {
    match d {
        CountDiscipline::Bracket => Discipline::Bracket,
        CountDiscipline::Pin | CountDiscipline::Core => Discipline::Pin,
    }
}

/// A pointer-returning routine fails with NULL, the others with a nonzero value.
fn fail_value(function: &Function) -> FailValue {
    if function.return_type.contains('*') {
        FailValue::Null
    } else {
        FailValue::Nonzero
    }
}

/// Module fields through which the tree's core pins a module before calling into it, read off
/// the tree: `try_inc_mod_count(fmt->module)` with `fmt` a `struct linux_binfmt *` (2.4's
/// search_binary_handler) makes `linux_binfmt.module` one. 2.3.41 has the same field, set to
/// THIS_MODULE by every binary format, but no core site pins through it: a field name alone
/// says nothing, the tree's own calls do.
#[derive(Debug, Default)]
pub struct CorePins {
    /// (struct, field) pairs: a handful in a tree, so a list.
    fields: Vec<(String, String)>,
}

impl CorePins {
    pub fn new(index: &Index, kb: &Kb) -> Self {
        let mut fields = Vec::new();
        let pinning = &kb.data.use_count.try_increment;
        for f in index.files {
            for c in f.calls.iter().filter(|c| pinning.contains(&c.callee)) {
                let (Some(arg), Some(caller)) = (c.args.first(), c.caller) else {
                    continue;
                };
                let arg: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
                let Some((var, field)) = arg.split_once("->").or_else(|| arg.split_once('.'))
                else {
                    continue;
                };
                let is_word = |w: &str| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !is_word(var) || !is_word(field) {
                    continue;
                }
                let function = &f.functions[caller as usize];
                if let Some((_, ty)) = function.local_types.iter().find(|(n, _)| n == var) {
                    fields.push((index.struct_name(ty).to_string(), field.to_string()));
                }
            }
        }
        fields.sort();
        fields.dedup();
        CorePins { fields }
    }

    /// Whether the core pins through `struct_name.field`.
    pub fn pins(&self, struct_name: &str, field: &str) -> bool {
        self.fields
            .iter()
            .any(|(s, f)| s == struct_name && f == field)
    }
}

/// Use-count effects of helper functions (`foo_get()` that always does MOD_INC_USE_COUNT),
/// computed once per helper.
#[derive(Default)]
pub struct HelperEffects {
    memo: Mutex<HashMap<FnRef, CountEffect>>,
    /// Macros whose every definition in the tree is empty (`#define DPRINTK(x...)` in the
    /// branch the preprocessor settings take): calls to them are no work.
    empty_macros: std::collections::HashSet<String>,
}

impl HelperEffects {
    fn new(index: &Index) -> Self {
        let mut empty: HashMap<&str, bool> = HashMap::new();
        for f in index.files {
            for m in &f.macros {
                let body: String = m.body.split_whitespace().collect();
                let is_empty = matches!(
                    body.as_str(),
                    "" | "do{}while(0)" | "do{}while(0);" | "(void)0" | "((void)0)" | "{}"
                );
                *empty.entry(m.name.as_str()).or_insert(true) &= is_empty;
            }
        }
        HelperEffects {
            memo: Mutex::default(),
            empty_macros: empty
                .into_iter()
                .filter(|(_, e)| *e)
                .map(|(n, _)| n.to_string())
                .collect(),
        }
    }
}

/// Helpers calling helpers are followed this deep.
const MAX_HELPER_DEPTH: u8 = 3;

struct FileOracle<'a> {
    index: &'a Index<'a>,
    kb: &'a Kb,
    file: usize,
    /// The calls the body's events refer to: the index's, or those of a patched text whose
    /// re-analysis asks no sleep questions (`fixes`).
    calls: &'a [Call],
    sleep: &'a dyn SleepOracle,
    helpers: &'a HelperEffects,
    depth: u8,
}

impl<'a> FileOracle<'a> {
    /// An oracle for a body whose calls are numbered as `calls`.
    fn new(
        index: &'a Index<'a>,
        kb: &'a Kb,
        file: usize,
        calls: &'a [Call],
        sleep: &'a dyn SleepOracle,
        helpers: &'a HelperEffects,
    ) -> Self {
        FileOracle {
            index,
            kb,
            file,
            calls,
            sleep,
            helpers,
            depth: 0,
        }
    }

    fn effect_of_name(&self, name: &str) -> Option<CountEffect> {
        let u = &self.kb.data.use_count;
        let has = |list: &[String]| list.iter().any(|n| n == name);
        if has(&u.increment) {
            Some(CountEffect::Increment)
        } else if has(&u.decrement) {
            Some(CountEffect::Decrement)
        } else if has(&u.try_increment) {
            Some(CountEffect::IncrementWhen(true))
        } else {
            None
        }
    }

    /// Whether a function's body touches the use count at all (directly).
    fn touches_count(&self, function: &Function, file: usize) -> bool {
        let calls = &self.index.files[file].calls;
        function.body.exprs().any(|e| {
            e.events.iter().any(|ev| match ev {
                Event::Name(n) => self.effect_of_name(n).is_some(),
                Event::Call(c) => calls
                    .get(*c as usize)
                    .is_some_and(|c| self.effect_of_name(&c.callee).is_some()),
            })
        })
    }

    fn helper_effect(&self, fref: FnRef) -> CountEffect {
        if let Some(e) = self.helpers.memo.lock().unwrap().get(&fref) {
            return *e;
        }
        let function = self.index.function(fref);
        let effect = if self.depth >= MAX_HELPER_DEPTH || !self.touches_count(function, fref.file) {
            CountEffect::None
        } else {
            let inner = FileOracle {
                file: fref.file,
                calls: &self.index.files[fref.file].calls,
                depth: self.depth + 1,
                ..*self
            };
            let rules = SlotRules {
                discipline: Discipline::Pin,
                fail: fail_value(function),
            };
            paths::analyse(function, &inner, rules).net_effect(rules.fail)
        };
        self.helpers.memo.lock().unwrap().insert(fref, effect);
        effect
    }
}

impl CallOracle for FileOracle<'_> {
    fn may_sleep(&self, call: u32) -> bool {
        self.sleep
            .call_chain(self.index, self.file, call as usize)
            .is_some()
    }

    fn call_effect(&self, call: u32) -> CountEffect {
        let Some(c) = self.calls.get(call as usize) else {
            return CountEffect::None;
        };
        if let Some(e) = self.effect_of_name(&c.callee) {
            // `__MOD_INC_USE_COUNT(host->module)` pins another module.
            let own = &self.kb.data.use_count.own_module;
            let arg = c.args.first().map(|a| a.replace(' ', ""));
            return match arg {
                Some(a) if !own.contains(&a) => CountEffect::OtherModule,
                _ => e,
            };
        }
        if c.indirect {
            return CountEffect::None;
        }
        match self.index.resolve_function(self.file, &c.callee) {
            Some(f) => self.helper_effect(f),
            None => CountEffect::None,
        }
    }

    fn name_effect(&self, name: &str) -> CountEffect {
        self.effect_of_name(name).unwrap_or(CountEffect::None)
    }

    fn is_noop(&self, call: u32) -> bool {
        self.calls.get(call as usize).is_some_and(|c| {
            !c.indirect
                && self.helpers.empty_macros.contains(&c.callee)
                && self.index.resolve_function(self.file, &c.callee).is_none()
        })
    }
}

/// Writes a patch in place: through a temporary file in the same directory and a rename,
/// keeping the file's permissions; refuses a read-only file and a file that changed since
/// it was read.
pub fn apply_patch(patch: &FilePatch) -> anyhow::Result<()> {
    use anyhow::{bail, Context};
    use std::io::Write;
    let path = &patch.disk_path;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.permissions().readonly() {
        bail!("{} is read-only; not changed", path.display());
    }
    let now = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if now != patch.original {
        bail!(
            "{} changed since modrace read it; not changed",
            path.display()
        );
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(&patch.patched)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), meta.permissions())?;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Used when re-checking a fixed routine: after the fix the increment comes first, so only
/// the use count matters.
struct NeverSleeps;

impl SleepOracle for NeverSleeps {
    fn call_chain(&self, _: &Index, _: usize, _: usize) -> Option<Vec<ChainStep>> {
        None
    }
}

/// A fixed file: its text before and after.
#[derive(Debug)]
pub struct FilePatch {
    pub file: String,
    pub disk_path: std::path::PathBuf,
    pub original: Vec<u8>,
    pub patched: Vec<u8>,
    /// The findings (rule, line) this patch fixes.
    pub fixes: Vec<(String, u32)>,
}

/// Writes the fixes for MR001, MR002 and MR003 findings. Findings that cannot be fixed
/// mechanically get `fix: manual, because ...` as their help.
pub fn fixes(
    report: &mut CheckReport,
    index: &Index,
    kb: &Kb,
    normalizer: &Normalizer,
) -> Vec<FilePatch> {
    use crate::fix::{fix_routine, FixRequest, FixResult};
    let file_of = files_by_path(index);
    // Routines to fix, per file, in finding order.
    let mut by_file: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, f) in report.findings.iter().enumerate() {
        if matches!(f.rule, "MR001" | "MR002" | "MR003") {
            by_file.entry(f.file.as_str()).or_default().push(i);
        }
    }
    let helpers = HelperEffects::default();
    let increment = kb
        .data
        .use_count
        .increment
        .first()
        .cloned()
        .unwrap_or_default();
    let decrement = kb
        .data
        .use_count
        .decrement
        .first()
        .cloned()
        .unwrap_or_default();
    let mut patches = Vec::new();
    let mut manual: Vec<(usize, String)> = Vec::new();
    for (file, finding_ids) in by_file {
        let Some(&fi) = file_of.get(file) else {
            continue;
        };
        let disk_path = index.files[fi].disk_path.clone();
        let Ok(original) = std::fs::read(&disk_path) else {
            continue;
        };
        let mut text = original.clone();
        let mut fixed = Vec::new();
        // Bottom up: a fix moves only the text below it, so the spans of the routines above
        // stay true.
        let mut routines: Vec<(u32, &str)> = finding_ids
            .iter()
            .filter_map(|&i| {
                let name = report.findings[i].function.as_str();
                let line = index.function(index.resolve_function(fi, name)?).line;
                Some((line, name))
            })
            .collect();
        routines.sort_unstable_by(|a, b| b.cmp(a));
        routines.dedup();
        let routines: Vec<&str> = routines.into_iter().map(|(_, n)| n).collect();
        for routine in routines {
            let ids: Vec<usize> = finding_ids
                .iter()
                .copied()
                .filter(|&i| report.findings[i].function == routine)
                .collect();
            let findings: Vec<&Finding> = ids.iter().map(|&i| &report.findings[i]).collect();
            let Some(fref) = index.resolve_function(fi, routine) else {
                continue;
            };
            let slot = &findings[0].slot;
            let (struct_name, field) = slot.split_once('.').unwrap_or(("", slot));
            let discipline = walk_discipline(kb.count_discipline(struct_name, field));
            if findings.iter().any(|f| f.rule == "MR003") {
                // Pinning in open without unpinning in release would make the module
                // unremovable after its first use.
                manual.extend(ids.iter().map(|&i| {
                    (
                        i,
                        "the routine's release (or close, put_super) must drop the count as well; add both by hand".to_string(),
                    )
                }));
                continue;
            }
            let request = FixRequest {
                function: routine.to_string(),
                line: index.function(fref).line,
                increment_first: findings.iter().any(|f| f.rule != "MR002"),
                old_increments: findings
                    .iter()
                    .filter(|f| f.rule == "MR001")
                    .filter_map(|f| f.evidence.get(1).map(|e| e.span))
                    .collect(),
            };
            let reanalyse = |facts: &FileFacts, function: &Function| {
                let oracle = FileOracle::new(index, kb, fi, &facts.calls, &NeverSleeps, &helpers);
                let rules = SlotRules {
                    discipline,
                    fail: fail_value(function),
                };
                paths::analyse(function, &oracle, rules)
            };
            match fix_routine(
                &mut text, file, &request, normalizer, &reanalyse, &increment, &decrement,
            ) {
                FixResult::Fixed => {
                    fixed.extend(findings.iter().map(|f| (f.rule.to_string(), f.line)))
                }
                FixResult::Manual(why) => manual.extend(ids.iter().map(|&i| (i, why.clone()))),
            }
        }
        if text != original {
            patches.push(FilePatch {
                file: file.to_string(),
                disk_path,
                original,
                patched: text,
                fixes: fixed,
            });
        }
    }
    for (i, why) in manual {
        report.findings[i].help = format!("fix: manual, because {why}");
    }
    patches
}
