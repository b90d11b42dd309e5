//! Fix planning: findings and the texts of their files in, patches out. Pure: no IO.

use std::collections::HashMap;

use crate::entries::SlotRef;
use crate::facts::FrontEnd;
use crate::facts::{FileFacts, Function};
use crate::index::Index;
use crate::kb::{CountDiscipline, Kb};
use crate::rules::{CheckReport, Code, Finding, Role};
use crate::usecount::{reanalyse_patched, HelperEffects};

use super::{fix_routine, FixRequest, FixResult};

/// A fixed file: its text before and after.
#[derive(Debug, Clone)]
pub struct FilePatch {
    pub file: String,
    pub disk_path: std::path::PathBuf,
    pub original: Vec<u8>,
    pub patched: Vec<u8>,
    /// The findings (rule, line) this patch fixes.
    pub fixes: Vec<(Code, u32)>,
    /// The routines it rewrote, with their lines in `original`: a report can tell which
    /// changes fix which finding (SARIF gives each result its own `fixes`).
    pub routines: Vec<FixedRoutine>,
}

/// A routine a patch rewrote: its name and its first and last lines in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedRoutine {
    pub function: String,
    pub first_line: u32,
    pub last_line: u32,
}

impl FixedRoutine {
    fn of(function: &Function) -> Self {
        FixedRoutine {
            function: function.name.to_string(),
            first_line: function.line,
            last_line: function.end_line,
        }
    }
}

/// The texts of the files that hold fixable findings, for the fix planner.
pub fn read_sources(report: &CheckReport, index: &Index) -> HashMap<String, Vec<u8>> {
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

/// Plans the fixes for the MR001, MR002, MR003, MR101, MR103 and MR106 findings of `report`, on the texts in
/// `sources` (by path relative to the root; a file missing there is not fixed). Findings that
/// cannot be fixed mechanically get `fix: manual, because ...` as their help. Nothing is read
/// or written here: [`super::apply_patch`] writes.
pub fn plan(
    report: &mut CheckReport,
    index: &Index,
    kb: &Kb,
    front_end: &FrontEnd,
    sources: &HashMap<String, Vec<u8>>,
) -> Vec<FilePatch> {
    // Routines to fix, per file, in finding order.
    let mut by_file: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, f) in report.findings.iter().enumerate() {
        if f.rule.is_fixable() {
            by_file.entry(f.file.as_str()).or_default().push(i);
        }
    }
    let helpers = HelperEffects::default();
    let first = |names: &[String]| names.first().cloned().unwrap_or_default();
    let increment = first(&kb.data.use_count.increment);
    let decrement = first(&kb.data.use_count.decrement);
    let mut patches = Vec::new();
    let mut manual: Vec<(usize, String)> = Vec::new();
    for (file, finding_ids) in by_file {
        let Some(fi) = index.file_by_path(file) else {
            continue;
        };
        let disk_path = index.files[fi].disk_path.clone();
        let Some(original) = sources.get(file).cloned() else {
            continue;
        };
        let mut text = original.clone();
        let mut fixed = Vec::new();
        let mut fixed_routines = Vec::new();
        let (singles, finding_ids) = single_fixes(&report.findings, finding_ids);
        let env = Env {
            index,
            file: fi,
            kb,
            front_end,
        };
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
            let discipline = discipline_of(kb, &findings[0].slot);
            if let Some(why) = manual_reason(index, fi, fref, &findings) {
                manual.extend(ids.iter().map(|&i| (i, why.clone())));
                continue;
            }
            let request = FixRequest {
                function: routine.to_string(),
                line: index.function(fref).line,
                increment_first: findings.iter().any(|f| f.rule != Code::Mr002),
                old_increments: findings
                    .iter()
                    .filter(|f| f.rule == Code::Mr001)
                    .flat_map(|f| f.evidence.iter().filter(|e| e.role == Role::Increment))
                    .map(|e| e.span)
                    .collect(),
            };
            let reanalyse = |facts: &FileFacts, function: &Function| {
                reanalyse_patched(index, kb, &helpers, fi, &facts.calls, function, discipline)
            };
            match fix_routine(
                &mut text, file, &request, front_end, &reanalyse, &increment, &decrement,
            ) {
                FixResult::Fixed => {
                    fixed.extend(findings.iter().map(|f| (f.rule, f.line)));
                    fixed_routines.push(FixedRoutine::of(index.function(fref)));
                }
                FixResult::Manual(why) => manual.extend(ids.iter().map(|&i| (i, why.clone()))),
            }
        }
        for (i, fix) in singles {
            let f = &report.findings[i];
            match fix(&mut text, f, &env) {
                Ok(routine) => {
                    fixed.push((f.rule, f.line));
                    fixed_routines.push(routine);
                }
                Err(why) => manual.push((i, why)),
            }
        }
        if text != original {
            patches.push(FilePatch {
                file: file.to_string(),
                disk_path,
                original,
                patched: text,
                fixes: fixed,
                routines: fixed_routines,
            });
        }
    }
    for (i, why) in manual {
        report.findings[i].help = format!("fix: manual, because {why}");
    }
    patches
}

/// The findings fixed one by one (MR106's threads, MR101's tables), each with its fix, and
/// the findings whose routines are rewritten whole.
fn single_fixes(findings: &[Finding], ids: Vec<usize>) -> (Vec<(usize, SingleFix)>, Vec<usize>) {
    let mut singles: Vec<(usize, SingleFix)> = Vec::new();
    let mut rest = Vec::new();
    for i in ids {
        match findings[i].rule {
            Code::Mr101 => singles.push((i, add_owner_of)),
            Code::Mr106 => singles.push((i, end_thread)),
            Code::Mr103 => singles.push((i, put_before_return)),
            _ => rest.push(i),
        }
    }
    // Threads and failure returns first, bottom up (each is found by its line, which a fix
    // moves only below it), then tables in finding order (each is found by its name).
    singles.sort_by_key(|&(i, _)| match findings[i].rule {
        Code::Mr106 | Code::Mr103 => (0, std::cmp::Reverse(findings[i].line)),
        _ => (1, std::cmp::Reverse(0)),
    });
    (singles, rest)
}

/// A fix of one finding on its own: the routine (or table) it rewrote, or why a human must.
type SingleFix = fn(&mut Vec<u8>, &Finding, &Env) -> Result<FixedRoutine, String>;

/// What a fix of one finding may read: the tree, the finding's file in it, the knowledge base.
struct Env<'a> {
    index: &'a Index<'a>,
    file: usize,
    kb: &'a Kb,
    front_end: &'a FrontEnd,
}

/// MR101's fix: the owner field of the finding's slot, set to the module itself; the table's
/// lines stand for the routine a report ties the fix to.
fn add_owner_of(text: &mut Vec<u8>, f: &Finding, env: &Env) -> Result<FixedRoutine, String> {
    let (kb, front_end) = (env.kb, env.front_end);
    let this_module = &kb.data.owners.this_module;
    let field = f.slot.field().map(|s| s.field.as_str());
    let at = match field {
        Some(field) if !this_module.is_empty() => {
            super::owner::add_owner(text, &f.file, &f.function, field, this_module, front_end)?
        }
        _ => return Err("the knowledge base names no value for a module's own owner".to_string()),
    };
    Ok(FixedRoutine {
        function: f.function.clone(),
        first_line: at.first_line,
        last_line: at.last_line,
    })
}

/// MR106's fix, for a kernel thread's put followed by its return: put and exit in one call.
fn end_thread(text: &mut Vec<u8>, f: &Finding, env: &Env) -> Result<FixedRoutine, String> {
    let (kb, front_end) = (env.kb, env.front_end);
    let owners = &kb.data.owners;
    if !matches!(f.slot, SlotRef::Callback { .. }) {
        return Err("the put must become the routine's last act; move it by hand".to_string());
    }
    let (Some(put), Some(exit_routine)) = (
        owners.unpin_routines.first(),
        owners.self_unpin_routines.first(),
    ) else {
        return Err("the knowledge base names no routine that puts and exits".to_string());
    };
    let fix = super::thread::PutAndExit {
        function: &f.function,
        line: f.line,
        put,
        this_module: &owners.this_module,
        exit_routine,
    };
    let (first_line, last_line) = super::thread::put_and_exit(text, &f.file, &fix, front_end)?;
    Ok(FixedRoutine {
        function: f.function.clone(),
        first_line,
        last_line,
    })
}

/// MR103's fix: the get's own put before the failure return, re-checked by walking the
/// reference again in the patched routine.
fn put_before_return(text: &mut Vec<u8>, f: &Finding, env: &Env) -> Result<FixedRoutine, String> {
    let Some(put) = env.kb.data.owners.unpin_routines.first() else {
        return Err("the knowledge base names no routine that drops a reference".to_string());
    };
    let get_line = (f.evidence.iter())
        .find(|e| e.role == Role::Increment)
        .map(|e| e.span.line)
        .ok_or_else(|| "the finding does not say where the reference was taken".to_string())?;
    let SlotRef::Callback { routine, .. } = &f.slot else {
        return Err("the finding does not name the routine that took the reference".to_string());
    };
    let fix = super::getleak::PutBefore {
        function: &f.function,
        return_line: f.line,
        get_line,
        get_routine: routine,
        put,
        frees: &env.kb.data.owners.free_routines,
    };
    let still_leaks = |facts: &FileFacts, function: &Function, target: &str| {
        crate::owners::leaking_returns(env.index, env.kb, env.file, &facts.calls, function, target)
    };
    let (first_line, last_line) =
        super::getleak::put_before_return(text, &f.file, &fix, env.front_end, &still_leaks)?;
    Ok(FixedRoutine {
        function: f.function.clone(),
        first_line,
        last_line,
    })
}

/// How the core reads the count of a routine in `slot`. A callback handed over directly sits
/// in no slot of a structure: the defaults apply.
fn discipline_of(kb: &Kb, slot: &SlotRef) -> CountDiscipline {
    let (strukt, field) = slot
        .field()
        .map_or(("", ""), |s| (s.strukt.as_str(), s.field.as_str()));
    kb.count_discipline(strukt, field)
}

/// Why a routine's findings need a human, if they do.
fn manual_reason(
    index: &Index,
    file: usize,
    routine: crate::index::FnRef,
    findings: &[&Finding],
) -> Option<String> {
    if findings.iter().any(|f| f.rule == Code::Mr003) {
        // Pinning in open without unpinning in release would make the module unremovable
        // after its first use.
        return Some("the routine's release (or close, put_super) must drop the count as well; add both by hand".to_string());
    }
    // Moving the call would move everything the helper does before its pin.
    helper_pin(index, file, routine, findings).map(|helper| {
        format!("the count is raised inside `{helper}`, after what may sleep there; move the pin in the helper, or pin first here and drop the helper's")
    })
}

/// The routine's own helper (a function of the tree, called directly) on the line of an
/// MR001 finding's increment: the pin happens inside it.
fn helper_pin<'a>(
    index: &'a Index,
    file: usize,
    routine: crate::index::FnRef,
    findings: &[&Finding],
) -> Option<&'a str> {
    let lines: Vec<u32> = findings
        .iter()
        .filter(|f| f.rule == Code::Mr001)
        .flat_map(|f| f.evidence.iter().filter(|e| e.role == Role::Increment))
        .map(|e| e.span.line)
        .collect();
    let facts = &index.files[file];
    facts
        .calls
        .iter()
        .filter(|c| c.caller.is_some_and(|k| k as usize == routine.func) && !c.indirect)
        .filter(|c| lines.contains(&c.line))
        .find(|c| index.resolve_function(file, &c.callee).is_some())
        .map(|c| c.callee.as_str())
}
