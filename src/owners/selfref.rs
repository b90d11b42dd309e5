//! Self-references (MR105, MR106): a module pinning itself (`try_module_get(THIS_MODULE)`) or
//! dropping its own pin (`module_put(THIS_MODULE)`) in its own code.
//!
//! A self-pin is too late when nothing else holds the module while the routine runs: `rmmod`
//! may already be freeing the code that makes the call. A self-put is the last moment the
//! module is held: whatever of its code runs after it can be freed under it. Both are only safe
//! where something else protects the routine, so each routine that does one is judged by how
//! the core reaches it:
//! - **protected**: held by a table whose structure the core pins through an owner field
//!   (read from the tree, as for MR101) that is set, or by a table of a structure whose
//!   unregister drains the calls in flight (KB `owners.drained`);
//! - **unguarded**: held by a slot the core calls with no pin and no drain (KB
//!   `owners.unguarded`), or by a table the core pins whose owner is missing; a static helper
//!   whose every caller is unguarded is unguarded too;
//! - **thread**: the function of a kernel thread (KB `owners.thread_starters`): nothing pins a
//!   module while its thread runs;
//! - anything else is not judged: a routine called from the module's own code, exported, or
//!   handed to a consumer the knowledge base says nothing about.
//!
//! A protected reach wins over the others. Only modules that can be unloaded count (see
//! [`super::analyse`]).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use rayon::prelude::*;

use crate::buildinfo::BuildInfo;
use crate::facts::{FileFacts, InitList, Span};
use crate::index::{referenced_name, FnRef, Index, TableContent, VarRef};
use crate::kb::{Kb, OwnersKb};

use super::after::{after_call, After};
use super::{owner_state, OwnerBasis, OwnerState, Pin};

/// Whether a self-reference takes the pin or drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfRefKind {
    Pin,
    Put,
}

/// How the core reaches a routine, when that says whether the module is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A slot the core calls with neither pin nor drain; `evidence` in the knowledge base's
    /// words, else the pinned table's missing owner.
    Unguarded {
        strukt: String,
        field: String,
        evidence: String,
        file: String,
        line: u32,
    },
    /// Started as a kernel thread by `starter` at file:line.
    Thread {
        starter: String,
        file: String,
        line: u32,
    },
}

/// One self-reference in an unprotected routine.
#[derive(Debug, Clone)]
pub struct SelfRef {
    pub kind: SelfRefKind,
    pub function: String,
    pub file: String,
    /// The routine called (`try_module_get`, `module_put`) and where.
    pub routine: String,
    pub at: Span,
    pub reach: Reach,
    /// The helper's unguarded caller, when the routine is a helper of one.
    pub via_caller: Option<String>,
    /// For a put: the first statement of the module's code that runs after it, if any.
    pub after: Option<Span>,
    /// The module's exit routine: file and line.
    pub exit: (String, u32),
}

/// How the self-references were judged (`check`'s JSON `stats.self_refs`).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct SelfRefStats {
    /// Self-pins and self-puts in module code of modules that can be unloaded.
    pub sites: usize,
    pub protected: usize,
    pub unguarded: usize,
    pub thread: usize,
    /// Reached in no way the knowledge base or the tree's pins judge.
    pub not_judged: usize,
}

#[derive(Debug, Default)]
pub struct SelfRefReport {
    /// Self-references in unguarded routines and kernel threads, by file and line.
    pub refs: Vec<SelfRef>,
    pub stats: SelfRefStats,
}

/// A call naming the module itself: (routine, call index, kind).
struct Site {
    func: FnRef,
    call: u32,
    kind: SelfRefKind,
}

/// What the core's ways into a routine say.
#[derive(Debug, Clone)]
enum Verdict {
    Protected,
    Open(Reach),
}

pub fn self_refs(index: &Index, kb: &Kb, build: &BuildInfo, basis: &OwnerBasis) -> SelfRefReport {
    let _t = crate::timing::Phase::start("self-refs");
    let owners = &kb.data.owners;
    let sites = sites(index, owners);
    if sites.is_empty() {
        return SelfRefReport::default();
    }
    // Modules that can be unloaded, with their exit routine.
    let sites: Vec<(Site, (String, u32))> = (sites.into_iter())
        .filter_map(|s| {
            let exit = basis.unloadable.exit_of(build, &index.files[s.func.file]);
            exit.map(|e| (s, e))
        })
        .collect();
    // The routines with a self-reference, and the routines that call them in their file.
    let mut wanted: HashSet<FnRef> = sites.iter().map(|(s, _)| s.func).collect();
    let callers = callers_of(index, &wanted);
    wanted.extend(callers.values().flatten().copied());
    let verdicts = verdicts(index, kb, basis, &wanted);
    let mut stats = SelfRefStats::default();
    let mut refs = Vec::new();
    for (site, exit) in sites {
        stats.sites += 1;
        let (verdict, via_caller) = match verdicts.get(&site.func) {
            Some(v) => (Some(v.clone()), None),
            None => helper_verdict(index, &verdicts, callers.get(&site.func)),
        };
        let reach = match verdict {
            Some(Verdict::Protected) => {
                stats.protected += 1;
                continue;
            }
            None => {
                stats.not_judged += 1;
                continue;
            }
            Some(Verdict::Open(reach)) => reach,
        };
        match reach {
            Reach::Thread { .. } => stats.thread += 1,
            Reach::Unguarded { .. } => stats.unguarded += 1,
        }
        let f = &index.files[site.func.file];
        let function = index.function(site.func);
        let call = &f.calls[site.call as usize];
        let after = match site.kind {
            SelfRefKind::Pin => None,
            SelfRefKind::Put => match after_call(&function.body, site.call) {
                Some(After::Code(span)) => Some(span),
                Some(After::Returns) => None,
                // Not known what follows: not judged.
                None => continue,
            },
        };
        refs.push(SelfRef {
            kind: site.kind,
            function: function.name.to_string(),
            file: f.path.to_string(),
            routine: call.callee.to_string(),
            at: Span {
                line: call.line,
                column: call.column,
                ..Span::default()
            },
            reach,
            via_caller: via_caller.map(str::to_string),
            after,
            exit,
        });
    }
    refs.sort_by(|a, b| (&a.file, a.at.line, a.at.column).cmp(&(&b.file, b.at.line, b.at.column)));
    SelfRefReport { refs, stats }
}

/// Every call that pins or drops the calling module itself, in a routine.
fn sites(index: &Index, owners: &OwnersKb) -> Vec<Site> {
    let this_module = owners.this_module.as_str();
    (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let f = &index.files[fi];
            (f.calls.iter().enumerate()).filter_map(move |(i, c)| {
                let func = c.caller? as usize;
                let arg = c.args.first()?;
                if arg.trim() != this_module {
                    return None;
                }
                let kind = if owners.is_self_pin_routine(&c.callee) {
                    SelfRefKind::Pin
                } else if owners.is_unpin_routine(&c.callee) {
                    SelfRefKind::Put
                } else {
                    return None;
                };
                Some(Site {
                    func: FnRef { file: fi, func },
                    call: i as u32,
                    kind,
                })
            })
        })
        .collect()
}

/// For each wanted static routine, the routines of its file that call it.
fn callers_of(index: &Index, wanted: &HashSet<FnRef>) -> HashMap<FnRef, Vec<FnRef>> {
    let mut out: HashMap<FnRef, Vec<FnRef>> = HashMap::default();
    for &r in wanted {
        let f = &index.files[r.file];
        let g = index.function(r);
        if !g.is_static {
            continue;
        }
        let mut callers: Vec<FnRef> = (f.calls.iter())
            .filter(|c| !c.indirect && c.callee == g.name)
            .filter_map(|c| c.caller)
            .map(|func| FnRef {
                file: r.file,
                func: func as usize,
            })
            .filter(|&c| c != r)
            .collect();
        callers.dedup();
        if !callers.is_empty() {
            out.insert(r, callers);
        }
    }
    out
}

/// A static helper reached only through its callers: unguarded when every caller is (and not
/// a thread: a thread's helpers run while the thread holds what it holds).
fn helper_verdict<'i>(
    index: &'i Index,
    verdicts: &HashMap<FnRef, Verdict>,
    callers: Option<&Vec<FnRef>>,
) -> (Option<Verdict>, Option<&'i str>) {
    let Some(callers) = callers else {
        return (None, None);
    };
    let mut first = None;
    for c in callers {
        match verdicts.get(c) {
            Some(Verdict::Open(r @ Reach::Unguarded { .. })) => {
                first.get_or_insert((r.clone(), *c));
            }
            _ => return (None, None),
        }
    }
    match first {
        Some((reach, c)) => (
            Some(Verdict::Open(reach)),
            Some(index.function(c).name.as_ref()),
        ),
        None => (None, None),
    }
}

/// How the core reaches each wanted routine: through tables, stores into structures, and
/// thread starters, wherever in the tree.
fn verdicts(
    index: &Index,
    kb: &Kb,
    basis: &OwnerBasis,
    wanted: &HashSet<FnRef>,
) -> HashMap<FnRef, Verdict> {
    let names: HashSet<&str> = wanted
        .iter()
        .map(|&r| index.function(r).name.as_ref())
        .collect();
    let pins = &basis.pins;
    // A pinned table with no owner leaves its routines unguarded only when it is handed to a
    // consumer that pins through it (MR101's tables), not covered by another owner.
    let handed: HashSet<VarRef> = basis.handed.keys().copied().collect();
    let found: Vec<(FnRef, Verdict)> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let mut out = Vec::new();
            let cx = Lookup {
                index,
                owners: &kb.data.owners,
                pins,
                handed: &handed,
                names: &names,
                wanted,
                file: fi,
            };
            cx.tables(&mut out);
            cx.stores(&mut out);
            cx.threads(&mut out);
            out
        })
        .collect();
    let mut verdicts: HashMap<FnRef, Verdict> = HashMap::default();
    // First by file and line: the first unguarded reach names the finding's evidence.
    for (r, v) in found {
        match (verdicts.get(&r), &v) {
            (Some(Verdict::Protected), _) => {}
            (Some(Verdict::Open(Reach::Unguarded { .. })), Verdict::Open(_)) => {}
            _ => {
                verdicts.insert(r, v);
            }
        }
    }
    verdicts
}

struct Lookup<'a> {
    index: &'a Index<'a>,
    owners: &'a OwnersKb,
    pins: &'a [Pin],
    handed: &'a HashSet<VarRef>,
    names: &'a HashSet<&'a str>,
    wanted: &'a HashSet<FnRef>,
    file: usize,
}

impl Lookup<'_> {
    fn facts(&self) -> &FileFacts {
        &self.index.files[self.file]
    }

    /// The wanted routine an expression names, seen from file `file`.
    fn routine(&self, file: usize, expr: &str) -> Option<FnRef> {
        let name = referenced_name(expr).filter(|n| self.names.contains(n))?;
        let r = self.index.resolve_function(file, name)?;
        self.wanted.contains(&r).then_some(r)
    }

    /// Tables (file-scope variables with an initializer) that hold a wanted routine.
    fn tables(&self, out: &mut Vec<(FnRef, Verdict)>) {
        let f = self.facts();
        for (vi, v) in f.variables.iter().enumerate() {
            let Some(init) = &v.init else { continue };
            if !names_any(init, self.names) {
                continue;
            }
            let var = VarRef {
                file: self.file,
                var: vi,
            };
            let strukt = self.index.struct_name(&v.type_name).to_string();
            for t in self.index.table_values(var, &strukt) {
                let TableContent::Expr(e) = &t.value else {
                    continue;
                };
                let Some(r) = self.routine(t.file, e) else {
                    continue;
                };
                if let Some(verdict) = self.table_verdict(var, &strukt, &t.field, t.line) {
                    out.push((r, verdict));
                }
            }
        }
    }

    fn table_verdict(&self, var: VarRef, strukt: &str, field: &str, line: u32) -> Option<Verdict> {
        if self.owners.is_drained(strukt) {
            return Some(Verdict::Protected);
        }
        let pin = self.pins.iter().find(|p| p.strukt == strukt);
        if let Some(pin) = pin {
            return match owner_state(self.index, var, pin) {
                OwnerState::Set => Some(Verdict::Protected),
                OwnerState::Missing(_) if self.handed.contains(&var) => {
                    Some(Verdict::Open(Reach::Unguarded {
                        strukt: strukt.to_string(),
                        field: field.to_string(),
                        evidence: format!(
                            "the core pins struct {strukt} through its {}, which `{}` does not set",
                            pin.field,
                            self.index.variable(var).name
                        ),
                        file: self.facts().path.to_string(),
                        line,
                    }))
                }
                _ => None,
            };
        }
        self.unguarded(strukt, field, line)
    }

    fn unguarded(&self, strukt: &str, field: &str, line: u32) -> Option<Verdict> {
        let u = self.owners.unguarded(strukt, field)?;
        Some(Verdict::Open(Reach::Unguarded {
            strukt: strukt.to_string(),
            field: field.to_string(),
            evidence: u.evidence.clone(),
            file: self.facts().path.to_string(),
            line,
        }))
    }

    /// Stores of a wanted routine into a structure's field: `dev->D.ctrl = frob_ctrl`.
    fn stores(&self, out: &mut Vec<(FnRef, Verdict)>) {
        let f = self.facts();
        for a in &f.field_assigns {
            let Some(r) = self.routine(self.file, &a.value) else {
                continue;
            };
            let Some(caller) = a.caller else { continue };
            let path = format!("{}.{}", a.base, a.field);
            let Some((strukt, field)) = super::pinned_member(self.index, f, caller, &path) else {
                continue;
            };
            if self.owners.is_drained(&strukt) {
                out.push((r, Verdict::Protected));
            } else if let Some(v) = self.unguarded(&strukt, &field, a.line) {
                out.push((r, v));
            }
        }
    }

    /// Routines started as kernel threads.
    fn threads(&self, out: &mut Vec<(FnRef, Verdict)>) {
        let f = self.facts();
        for c in f
            .calls
            .iter()
            .filter(|c| self.owners.is_thread_starter(&c.callee))
        {
            let Some(r) = c.args.first().and_then(|a| self.routine(self.file, a)) else {
                continue;
            };
            if self.stopped(c) {
                out.push((r, Verdict::Protected));
                continue;
            }
            out.push((
                r,
                Verdict::Open(Reach::Thread {
                    starter: c.callee.to_string(),
                    file: f.path.to_string(),
                    line: c.line,
                }),
            ));
        }
    }
}

impl Lookup<'_> {
    /// Whether the thread a starter call makes is stopped by the module: its task is stored
    /// in a field (`dev->task = kthread_run(..)`) that a thread stopper of the file is given.
    /// The stopper waits for the thread's function to return: the module's teardown drains it.
    fn stopped(&self, start: &crate::facts::Call) -> bool {
        let f = self.facts();
        let stored = (f.field_assigns.iter()).filter(|a| {
            a.caller == start.caller && a.line == start.line && a.value.contains(&*start.callee)
        });
        let last_member = |e: &str| {
            let e = e.trim().trim_end_matches(')');
            let at = e.rfind(['.', '>']).map_or(0, |i| i + 1);
            e[at..].trim().to_string()
        };
        let stops: Vec<String> = (f.calls.iter())
            .filter(|c| self.owners.is_thread_stopper(&c.callee))
            .filter_map(|c| c.args.first().map(|a| last_member(a)))
            .collect();
        stored
            .into_iter()
            .any(|a| stops.iter().any(|s| *s == *a.field))
    }
}

/// Whether an initializer names one of `names` anywhere.
fn names_any(init: &InitList, names: &HashSet<&str>) -> bool {
    (init.exprs()).any(|e| referenced_name(e).is_some_and(|n| names.contains(n)))
}
