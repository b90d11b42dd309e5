//! `modrace entries`: the mail's task list. Every routine a module hands to the kernel
//! through a registration routine (an ops table, directly or as a member of another table)
//! or by storing it into a kernel structure, with the slot it sits in and whether that slot
//! takes a name or a kernel token.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::buildinfo::{BuildInfo, ModuleEvidence};
use crate::facts::Call;
use crate::index::{referenced_name, Index, TableContent, TableValue, VarRef};
use crate::kb::{Kb, RegistrationKind};

/// Nested tables deeper than this are not followed (no kernel table nests more than 3 deep).
const MAX_TABLE_DEPTH: usize = 6;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub function: String,
    pub file: String,
    pub line: u32,
    /// `struct.field`, or `routine(argN)` for a callback handed over directly.
    pub slot: String,
    /// The registration routine, or `struct.field=` for a store into a kernel structure.
    pub registered_via: String,
    pub registration_file: String,
    pub registration_line: u32,
    /// "name" or "token".
    pub takes: String,
    /// "kb" or "heuristic".
    pub takes_source: String,
    pub module_capable: bool,
    /// "makefile", "marker" or "none".
    pub module_evidence: String,
    /// "call" (a registration routine) or "assignment" (stored into a kernel structure).
    pub via_kind: String,
    /// Whether the core holds the big kernel lock where it calls the slot: held, not-held,
    /// mixed or unknown (see [`crate::bkl`]); empty until filled by `BklReport::annotate`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bkl: String,
}

/// A registration call and how many entries it led to.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationSite {
    pub routine: String,
    pub file: String,
    pub line: u32,
    pub args: Vec<String>,
    pub entries: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct EntriesReport {
    pub entries: Vec<Entry>,
    pub registrations: Vec<RegistrationSite>,
}

struct Via<'a> {
    routine: String,
    file: usize,
    line: u32,
    kind: &'a str,
}

struct Collector<'a> {
    index: &'a Index<'a>,
    kb: &'a Kb,
    build: &'a BuildInfo,
    entries: Vec<Entry>,
}

pub fn compute(index: &Index, kb: &Kb, build: &BuildInfo) -> EntriesReport {
    let mut c = Collector {
        index,
        kb,
        build,
        entries: Vec::new(),
    };
    let mut registrations = Vec::new();
    for (fi, f) in index.files.iter().enumerate() {
        for call in f.calls.iter().filter(|c| !c.indirect) {
            if !kb.is_registration(&call.callee) {
                continue;
            }
            let before = c.entries.len();
            c.registration(fi, call);
            registrations.push(RegistrationSite {
                routine: call.callee.clone(),
                file: f.path.clone(),
                line: call.line,
                args: call.args.clone(),
                entries: c.entries.len() - before,
            });
        }
        for a in &f.field_assigns {
            let Some(base_type) = &a.base_type else {
                continue;
            };
            let st = index.struct_name(base_type).to_string();
            if !kb.is_kernel_struct(&st) {
                continue;
            }
            let via = Via {
                routine: format!("{st}.{}=", a.field),
                file: fi,
                line: a.line,
                kind: "assignment",
            };
            let value = TableValue {
                field: a.field.clone(),
                value: TableContent::Expr(a.value.clone()),
                file: fi,
                line: a.line,
            };
            c.value(&value, &st, &via, &mut HashSet::new(), 0);
        }
    }
    let mut entries = c.entries;
    entries.sort();
    entries.dedup();
    EntriesReport {
        entries,
        registrations,
    }
}

impl<'a> Collector<'a> {
    fn registration(&mut self, fi: usize, call: &Call) {
        let reg = self.kb.registration(&call.callee);
        let kind = reg.map_or(RegistrationKind::Table, |r| r.kind);
        let args: Vec<usize> = match reg {
            Some(r) if r.args.is_some() => r.args.clone().unwrap_or_default(),
            Some(r) if r.arg.is_some() => r.arg.into_iter().collect(),
            _ => (0..call.args.len()).collect(),
        };
        let via = Via {
            routine: call.callee.clone(),
            file: fi,
            line: call.line,
            kind: "call",
        };
        for idx in args {
            let Some(arg) = call.args.get(idx) else {
                continue;
            };
            let Some(name) = referenced_name(arg) else {
                continue;
            };
            // A parameter or local of the caller is not a file-scope table.
            let caller = call
                .caller
                .map(|c| &self.index.files[fi].functions[c as usize]);
            if caller.is_some_and(|f| f.locals.binary_search_by(|l| l.as_str().cmp(name)).is_ok()) {
                continue;
            }
            if let Some(var) = self.index.resolve_variable(fi, name) {
                let st = self
                    .index
                    .struct_name(&self.index.variable(var).type_name)
                    .to_string();
                self.table(var, &st, &via, &mut HashSet::new(), 0);
            } else if kind == RegistrationKind::Callback {
                if let Some(func) = self.index.resolve_function(fi, name) {
                    let slot = format!("{}(arg{idx})", call.callee);
                    self.push(func, &slot, None, &via);
                }
            }
        }
    }

    fn table(
        &mut self,
        var: VarRef,
        struct_name: &str,
        via: &Via,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if depth > MAX_TABLE_DEPTH || !seen.insert(var) {
            return;
        }
        for value in self.index.table_values(var, struct_name) {
            self.value(&value, struct_name, via, seen, depth + 1);
        }
    }

    fn value(
        &mut self,
        value: &TableValue,
        struct_name: &str,
        via: &Via,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        match &value.value {
            TableContent::Expr(expr) => {
                let Some(name) = referenced_name(expr) else {
                    return;
                };
                if name == "NULL" {
                    return;
                }
                if let Some(func) = self.index.resolve_function(value.file, name) {
                    if value.field.is_empty() {
                        return;
                    }
                    self.push(
                        func,
                        &format!("{struct_name}.{}", value.field),
                        Some((struct_name, &value.field)),
                        via,
                    );
                } else if let Some(var) = self.index.resolve_variable(value.file, name) {
                    let st = self
                        .index
                        .struct_name(&self.index.variable(var).type_name)
                        .to_string();
                    self.table(var, &st, via, seen, depth);
                }
            }
            TableContent::List(list) => {
                // An embedded struct field: its type comes from the struct definition.
                let Some(sub) = self
                    .index
                    .struct_def(struct_name)
                    .and_then(|d| d.fields.iter().find(|f| f.name == value.field))
                    .and_then(|f| f.struct_type.clone())
                else {
                    return;
                };
                let sub = self.index.struct_name(&sub).to_string();
                let mut values = Vec::new();
                self.index.list_values(list, &sub, value.file, &mut values);
                for v in values {
                    self.value(&v, &sub, via, seen, depth + 1);
                }
            }
        }
    }

    fn push(
        &mut self,
        func: crate::index::FnRef,
        slot: &str,
        slot_key: Option<(&str, &str)>,
        via: &Via,
    ) {
        let file = &self.index.files[func.file];
        let f = self.index.function(func);
        let (takes, source) = match slot_key {
            Some((s, field)) => self.kb.takes(s, field),
            None => (crate::kb::Takes::Token, crate::kb::TakesSource::Heuristic),
        };
        let (module_capable, evidence) = module_capable(self.build, file);
        self.entries.push(Entry {
            function: f.name.clone(),
            file: file.path.clone(),
            line: f.line,
            slot: slot.to_string(),
            registered_via: via.routine.clone(),
            registration_file: self.index.files[via.file].path.clone(),
            registration_line: via.line,
            takes: takes.as_str().to_string(),
            takes_source: source.as_str().to_string(),
            module_capable,
            module_evidence: evidence.as_str().to_string(),
            via_kind: via.kind.to_string(),
            bkl: String::new(),
        });
    }
}

/// The Makefile's word when it builds the file into a module; otherwise the file's own markers
/// (`#ifdef MODULE`, `init_module`, `module_init`).
pub fn module_capable(build: &BuildInfo, file: &crate::facts::FileFacts) -> (bool, ModuleEvidence) {
    let by_makefile = if file.path.ends_with(".c") {
        build.from_makefile(&file.path)
    } else {
        None
    };
    match by_makefile {
        Some(true) => (true, ModuleEvidence::Makefile),
        _ if file.markers.any() => (true, ModuleEvidence::Marker),
        Some(false) => (false, ModuleEvidence::Makefile),
        None => (false, ModuleEvidence::None),
    }
}

impl EntriesReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&format!(
                "{}:{}: {} slot={} via={} ({}:{}) takes={} module={}{}\n",
                e.file,
                e.line,
                e.function,
                e.slot,
                e.registered_via,
                e.registration_file,
                e.registration_line,
                e.takes,
                if e.module_capable {
                    e.module_evidence.as_str()
                } else {
                    "no"
                },
                if e.bkl.is_empty() {
                    String::new()
                } else {
                    format!(" bkl={}", e.bkl)
                },
            ));
        }
        out.push_str(&self.summary());
        out
    }

    /// Counts per registration routine and per slot, and registration calls that led nowhere.
    pub fn summary(&self) -> String {
        let mut by_via: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_slot: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for e in &self.entries {
            *by_via.entry(e.registered_via.as_str()).or_default() += 1;
            let s = by_slot.entry(e.slot.as_str()).or_default();
            s.0 += 1;
            if e.takes == "name" && e.module_capable {
                s.1 += 1;
            }
        }
        let names = self.entries.iter().filter(|e| e.takes == "name").count();
        let name_modules = self
            .entries
            .iter()
            .filter(|e| e.takes == "name" && e.module_capable)
            .count();
        let empty = self.registrations.iter().filter(|r| r.entries == 0).count();
        let mut out = format!(
            "\n{} entries ({} take a name, {} of them module-capable) from {} registration calls ({} of which led to no routine in the tree)\n",
            self.entries.len(),
            names,
            name_modules,
            self.registrations.len(),
            empty
        );
        let mut via: Vec<_> = by_via.into_iter().collect();
        via.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        out.push_str("\nper registration routine:\n");
        for (k, v) in via.iter().take(40) {
            out.push_str(&format!("  {v:6}  {k}\n"));
        }
        let mut slots: Vec<_> = by_slot.into_iter().filter(|(_, (_, n))| *n > 0).collect();
        slots.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
        out.push_str("\nname-taking slots (entries, module-capable):\n");
        for (k, (all, m)) in slots {
            out.push_str(&format!("  {all:6} {m:6}  {k}\n"));
        }
        out
    }
}
