//! `modrace entries`: the mail's task list. Every routine a module hands to the kernel
//! through a registration routine (an ops table, directly or as a member of another table)
//! or by storing it into a kernel structure, with the slot it sits in and whether that slot
//! takes a name or a kernel token.

use std::collections::BTreeMap;

use rustc_hash::FxHashSet as HashSet;

use serde::Serialize;

use crate::buildinfo::{BuildInfo, ModuleEvidence};
use crate::facts::Call;
use crate::index::{
    access_path, referenced_member, referenced_name, Index, TableContent, TableValue, VarRef,
};
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

/// A registration call, how many entries it led to and, when none, why.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationSite {
    pub routine: String,
    pub file: String,
    pub line: u32,
    pub args: Vec<String>,
    pub entries: usize,
    pub outcome: Outcome,
}

/// What became of a registration call: it led to routines, or the reason it led to none.
/// For a call with several candidate arguments, the first of these that applies to one of them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It led to at least one routine.
    Entries,
    /// A table in the tree, but nothing in it is a routine defined in the tree (all `NULL`,
    /// routines from elsewhere, or filled at run time through a pointer).
    EmptyTable,
    /// The name resolves to a variable of another struct type than the routine takes.
    TypeMismatch,
    /// A struct-typed local whose fields the function assigns, none to a routine of the tree.
    LocalTable,
    /// A parameter of the calling function: the table comes from its caller.
    Parameter,
    /// A local variable of the calling function, filled elsewhere (through a pointer).
    Local,
    /// A name this file declares nowhere the facts see (no file-scope declaration, no header
    /// it can include) while another file defines a global of that name: a file `#include`d
    /// into others (`scsi_module.c`), or a local variable, which the facts do not list.
    NotVisible,
    /// A function handed to a routine that takes a table.
    FunctionForTable,
    /// `NULL` or `0`.
    Null,
    /// A name the tree defines as no table or function: a local variable or a pointer (the
    /// facts list neither), a macro, or something defined outside the tree.
    UnknownName,
    /// Not a plain name: `dev->fops`, `&x[i].y`, a call, a literal.
    Expression,
    /// The call has fewer arguments than the knowledge base expects.
    MissingArgument,
    /// A routine only the name patterns know, called without arguments.
    NoArguments,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Entries => "entries",
            Outcome::EmptyTable => "empty-table",
            Outcome::TypeMismatch => "type-mismatch",
            Outcome::LocalTable => "local-table",
            Outcome::Parameter => "parameter",
            Outcome::Local => "local",
            Outcome::NotVisible => "not-visible",
            Outcome::FunctionForTable => "function-for-table",
            Outcome::Null => "null",
            Outcome::UnknownName => "unknown-name",
            Outcome::Expression => "expression",
            Outcome::MissingArgument => "missing-argument",
            Outcome::NoArguments => "no-arguments",
        }
    }
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
    /// Field assignments to locals that a registration in the same function hands over: they
    /// are reported through that registration, not as stores into a kernel structure.
    consumed: HashSet<(usize, usize)>,
}

pub fn compute(index: &Index, kb: &Kb, build: &BuildInfo) -> EntriesReport {
    let _t = crate::timing::Phase::start("entries");
    let mut c = Collector {
        index,
        kb,
        build,
        entries: Vec::new(),
        consumed: HashSet::default(),
    };
    let mut registrations = Vec::new();
    for (fi, f) in index.files.iter().enumerate() {
        for call in f.calls.iter().filter(|c| !c.indirect) {
            if !kb.is_registration(&call.callee) {
                continue;
            }
            let before = c.entries.len();
            let outcome = c.registration(fi, call);
            registrations.push(RegistrationSite {
                routine: call.callee.clone(),
                file: f.path.clone(),
                line: call.line,
                args: call.args.clone(),
                entries: c.entries.len() - before,
                outcome,
            });
        }
    }
    for (fi, f) in index.files.iter().enumerate() {
        for (ai, a) in f.field_assigns.iter().enumerate() {
            let Some(base_type) = &a.base_type else {
                continue;
            };
            let st = index.struct_name(base_type).to_string();
            if !kb.is_kernel_struct(&st) || c.consumed.contains(&(fi, ai)) {
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
                scope: a.caller,
            };
            c.value(&value, &st, &via, &mut HashSet::default(), 0);
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
    fn registration(&mut self, fi: usize, call: &Call) -> Outcome {
        let reg = self.kb.registration(&call.callee);
        // A routine only the name patterns make a registration: a variable argument is a
        // table, a function argument a callback.
        let kind = reg.map(|r| r.kind);
        let args: Vec<usize> = match reg {
            Some(r) if r.args.is_some() => r.args.clone().unwrap_or_default(),
            Some(r) if r.arg.is_some() => r.arg.into_iter().collect(),
            _ => (0..call.args.len()).collect(),
        };
        // The structs the routine takes, when the knowledge base says so.
        let takes: Vec<String> = reg
            .filter(|_| kind == Some(RegistrationKind::Table))
            .into_iter()
            .flat_map(|r| r.struct_name.iter().chain(&r.other_structs))
            .filter(|s| !s.starts_with("fnptr:"))
            .map(|s| self.index.struct_name(s).to_string())
            .collect();
        let takes = Accepts(&takes);
        let via = Via {
            routine: call.callee.clone(),
            file: fi,
            line: call.line,
            kind: "call",
        };
        let mut outcome = None;
        for idx in args {
            let before = self.entries.len();
            let o = self.argument(fi, call, idx, kind, takes, &via);
            let o = if self.entries.len() > before {
                Outcome::Entries
            } else {
                o
            };
            outcome = Some(outcome.map_or(o, |p: Outcome| p.min(o)));
        }
        outcome.unwrap_or(Outcome::NoArguments)
    }

    /// Follows argument `idx` of a registration call; the reason when it leads nowhere.
    fn argument(
        &mut self,
        fi: usize,
        call: &Call,
        idx: usize,
        kind: Option<RegistrationKind>,
        takes: Accepts,
        via: &Via,
    ) -> Outcome {
        let Some(arg) = call.args.get(idx) else {
            return Outcome::MissingArgument;
        };
        let Some(name) = referenced_name(arg) else {
            if is_null(arg) {
                return Outcome::Null;
            }
            // `register_isdn(&card->interface)` after `card->interface.command = f;`.
            let path = access_path(arg).zip(call.caller);
            return match (path, takes.0.first()) {
                (Some((path, caller)), Some(st)) if kind == Some(RegistrationKind::Table) => {
                    let values = self.index.path_table(fi, caller, path);
                    // Another function's copy counts only where this one fills nothing.
                    let copied = self.copied_table(fi, path, values.is_empty(), takes, via);
                    if values.is_empty() && !copied {
                        return Outcome::Expression;
                    }
                    let mut seen = HashSet::default();
                    for v in &values {
                        self.value(v, st, via, &mut seen, 1);
                    }
                    Outcome::LocalTable
                }
                _ => Outcome::Expression,
            };
        };
        if name == "NULL" {
            return Outcome::Null;
        }
        if kind == Some(RegistrationKind::Callback) {
            // Only a function is a callback; a variable here is the callback's private data.
            return match self.index.resolve_function(fi, name) {
                Some(func)
                    if !call
                        .caller
                        .is_some_and(|c| self.index.is_local(fi, c, name)) =>
                {
                    let slot = format!("{}(arg{idx})", call.callee);
                    self.push(func, &slot, None, via);
                    Outcome::Entries
                }
                _ if call
                    .caller
                    .is_some_and(|c| self.index.is_local(fi, c, name)) =>
                {
                    Outcome::Parameter
                }
                _ => Outcome::UnknownName,
            };
        }
        let resolved = self.index.resolve_variable(fi, name);
        if let Some(caller) = call.caller {
            // A static inside the calling function is a table like a file-scope one.
            let static_here = resolved.is_some_and(|v| {
                self.index.variable(v).is_static
                    && v.file == fi
                    && self
                        .index
                        .enclosing_function(fi, self.index.variable(v).line)
                        == Some(caller)
            });
            if !static_here && self.index.is_typed_local(fi, caller, name) {
                self.copied_table(fi, name, false, takes, via);
                return self.local_table(fi, caller, name, takes, via, &mut HashSet::default(), 0);
            }
            if !static_here && self.index.is_local(fi, caller, name) {
                let f = &self.index.files[fi].functions[caller as usize];
                return if f.params.iter().any(|p| p.name.as_deref() == Some(name)) {
                    Outcome::Parameter
                } else {
                    Outcome::Local
                };
            }
        }
        if let Some(var) = resolved {
            let declared = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            let Some(st) = self.table_type(&declared, takes) else {
                return Outcome::TypeMismatch;
            };
            self.table(var, &st, via, &mut HashSet::default(), 0);
            return Outcome::EmptyTable;
        }
        if let Some(func) = self.index.resolve_function(fi, name) {
            // A routine only the patterns know: a function argument is a callback.
            if kind.is_none() {
                let slot = format!("{}(arg{idx})", call.callee);
                self.push(func, &slot, None, via);
                return Outcome::Entries;
            }
            return Outcome::FunctionForTable;
        }
        if let Some(var) = self.index.resolve_undeclared(name) {
            // Undeclared here: only the exact type the routine takes makes it this table.
            let st = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            if takes.0.contains(&st) {
                self.table(var, &st, via, &mut HashSet::default(), 0);
                return Outcome::EmptyTable;
            }
        }
        if self.index.defined_elsewhere(name) {
            Outcome::NotVisible
        } else {
            Outcome::UnknownName
        }
    }

    /// A struct registered after a copy from a template (`memcpy(&btv->video_dev,
    /// &bttv_template, n)` before `video_register_device(&btv->video_dev, ...)`): the
    /// template's routines, when the template has the struct the routine takes.
    fn copied_table(
        &mut self,
        fi: usize,
        dst: &str,
        by_member: bool,
        takes: Accepts,
        via: &Via,
    ) -> bool {
        let before = self.entries.len();
        for src in self.index.copied_from(fi, dst, by_member) {
            let Some(var) = referenced_name(src).and_then(|n| self.index.resolve_variable(fi, n))
            else {
                continue;
            };
            let st = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            if takes.0.contains(&st) {
                self.table(var, &st, via, &mut HashSet::default(), 0);
            }
        }
        self.entries.len() > before
    }

    /// A struct-typed local (or parameter) of function `func` handed over: what the function
    /// stores into its fields.
    #[allow(clippy::too_many_arguments)]
    fn local_table(
        &mut self,
        fi: usize,
        func: u32,
        name: &str,
        takes: Accepts,
        via: &Via,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) -> Outcome {
        let (declared, values) = self.index.local_table(fi, func, name);
        let Some(declared) = declared.map(|d| self.index.struct_name(d).to_string()) else {
            return Outcome::Local;
        };
        let Some(st) = self.table_type(&declared, takes) else {
            return Outcome::TypeMismatch;
        };
        self.consumed
            .extend(self.index.local_assigns(fi, func, name));
        for v in &values {
            self.value(v, &st, via, seen, depth + 1);
        }
        Outcome::LocalTable
    }

    /// The struct type to read a table of type `declared` as, handed to a routine that takes
    /// `takes`: its own when the routine takes it (or the knowledge base does not say), the
    /// routine's when `declared` is no struct the tree defines (`struct NET_DEVICE`, a macro),
    /// and `None` when it is another struct: then the name means some other object.
    fn table_type(&self, declared: &str, takes: Accepts) -> Option<String> {
        let known = |s: &str| self.index.struct_def(s).is_some();
        if takes.0.is_empty() || takes.0.iter().any(|t| t == declared) {
            Some(declared.to_string())
        } else if !known(declared) {
            Some(takes.0[0].clone())
        } else if !takes.0.iter().any(|t| known(t)) {
            // The knowledge base names a type this tree does not define (2.3's md_personality
            // is 2.4's mdk_personality_t): no evidence against the variable.
            Some(declared.to_string())
        } else {
            None
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

    /// Whether field `field` of `struct_name` can hold a table of struct `table`: its declared
    /// type says so, or the tree does not tell. An integer or function-pointer field cannot.
    fn holds_table(&self, struct_name: &str, field: &str, table: &str) -> bool {
        let declared = self
            .index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field));
        match declared {
            None => true,
            Some(f) if f.is_fn_ptr => false,
            // A `void *` holds private data, unless the knowledge base says the kernel casts
            // it back to a table (`ide_module_t.info`).
            Some(f) if f.struct_type.is_none() => {
                f.is_pointer
                    && self
                        .kb
                        .member(struct_name, field)
                        .is_some_and(|m| self.index.struct_name(&m.target) == table)
            }
            Some(f) => f
                .struct_type
                .as_deref()
                .is_some_and(|t| self.index.struct_name(t) == table),
        }
    }

    /// Whether field `field` of `struct_name` can hold a function: a function pointer, a
    /// pointer to a typedef that is no struct (`read_proc_t *read_proc`), or a field the tree
    /// does not define. `driver->major = error`, with `error` a local the facts do not list,
    /// must not find some function called `error`.
    fn holds_function(&self, struct_name: &str, field: &str) -> bool {
        let declared = self
            .index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field));
        let Some(f) = declared else {
            return true;
        };
        f.is_fn_ptr
            || match &f.struct_type {
                None => f.is_pointer,
                Some(t) => self.index.struct_def(t).is_none(),
            }
    }

    /// Whether the field's declared type is exactly the table's struct: the evidence an
    /// undeclared name needs.
    fn declared_as(&self, struct_name: &str, field: &str, table: &str) -> bool {
        self.index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field))
            .and_then(|f| f.struct_type.as_deref())
            .is_some_and(|t| self.index.struct_name(t) == table)
    }

    fn value(
        &mut self,
        value: &TableValue,
        struct_name: &str,
        via: &Via,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if depth > MAX_TABLE_DEPTH {
            return;
        }
        match &value.value {
            TableContent::Expr(expr) => {
                let Some(name) = referenced_name(expr) else {
                    if let Some((table, member)) = referenced_member(expr) {
                        self.member_value(value, table, member, struct_name, via, seen, depth);
                    }
                    return;
                };
                if name == "NULL" {
                    return;
                }
                if let Some(scope) = value.scope {
                    // `misc.fops = &fops` with both locals; a pointer (`i->i_sb = sb`) is some
                    // object the kernel already has, not a table being filled.
                    if self.index.is_typed_local(value.file, scope, name) && is_address_of(expr) {
                        // A local table stored into this one (`misc.fops = &fops`).
                        let sub = self.index.local_table(value.file, scope, name).0;
                        let sub = sub.map(|s| self.index.struct_name(s).to_string());
                        if sub.is_some_and(|s| self.holds_table(struct_name, &value.field, &s)) {
                            self.local_table(
                                value.file,
                                scope,
                                name,
                                Accepts(&[]),
                                via,
                                seen,
                                depth,
                            );
                        }
                        return;
                    }
                    if self.index.is_local(value.file, scope, name) {
                        return;
                    }
                }
                if let Some(func) = self.index.resolve_function(value.file, name) {
                    if value.field.is_empty() || !self.holds_function(struct_name, &value.field) {
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
                    if value.field.is_empty() || self.holds_table(struct_name, &value.field, &st) {
                        self.table(var, &st, via, seen, depth);
                    }
                } else if let Some(var) = self.index.resolve_undeclared(name) {
                    let st = self
                        .index
                        .struct_name(&self.index.variable(var).type_name)
                        .to_string();
                    if self.declared_as(struct_name, &value.field, &st) {
                        self.table(var, &st, via, seen, depth);
                    }
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

    /// `ent->read_proc = drm_proc_list[i].f`: what field `member` of table `table` holds
    /// (in any element) is stored into `value`'s slot.
    #[allow(clippy::too_many_arguments)]
    fn member_value(
        &mut self,
        value: &TableValue,
        table: &str,
        member: &str,
        struct_name: &str,
        via: &Via,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if value
            .scope
            .is_some_and(|s| self.index.is_local(value.file, s, table))
        {
            return;
        }
        let Some(var) = self.index.resolve_variable(value.file, table) else {
            return;
        };
        let st = self
            .index
            .struct_name(&self.index.variable(var).type_name)
            .to_string();
        for held in self.index.table_values(var, &st) {
            if held.field != member {
                continue;
            }
            if let TableContent::Expr(e) = &held.value {
                let moved = TableValue {
                    field: value.field.clone(),
                    value: TableContent::Expr(e.clone()),
                    file: held.file,
                    line: held.line,
                    scope: held.scope,
                };
                self.value(&moved, struct_name, via, seen, depth + 1);
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

/// The struct types a registration routine takes; empty when the knowledge base does not say.
#[derive(Clone, Copy)]
struct Accepts<'t>(&'t [String]);

/// Whether an expression takes an address: `&x`, `(void *) &x`.
fn is_address_of(expr: &str) -> bool {
    expr.trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .starts_with('&')
        || expr.contains(") &")
        || expr.contains(")&")
}

/// `0` or a cast of it: a null pointer written without `NULL`.
fn is_null(arg: &str) -> bool {
    let t: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
    t == "0" || t.ends_with(")0") || t == "(0)"
}

/// The Makefile's word when it names the file's object; otherwise the file's own markers
/// (`#ifdef MODULE`, `init_module`, `module_init`).
pub fn module_capable(build: &BuildInfo, file: &crate::facts::FileFacts) -> (bool, ModuleEvidence) {
    let by_makefile = if file.path.ends_with(".c") {
        build.from_makefile(&file.path)
    } else {
        None
    };
    // A Makefile that names the object only as built in wins over the file's markers:
    // 2.4 uses `module_init` in built-in code too (af_inet.c, where CONFIG_INET is a bool).
    match by_makefile {
        Some(made_module) => (made_module, ModuleEvidence::Makefile),
        None if file.markers.any() => (true, ModuleEvidence::Marker),
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

    /// One line per registration call: where, the routine and its arguments, how many routines
    /// it led to or why none.
    pub fn sites_text(&self) -> String {
        let mut out = String::new();
        for r in &self.registrations {
            out.push_str(&format!(
                "{}:{}: {}({}) -> {}\n",
                r.file,
                r.line,
                r.routine,
                r.args.join(", "),
                if r.entries > 0 {
                    format!("{} entries", r.entries)
                } else {
                    r.outcome.as_str().to_string()
                }
            ));
        }
        let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
        for r in &self.registrations {
            *by_outcome.entry(r.outcome).or_default() += 1;
        }
        out.push_str(&format!(
            "\n{} registration calls:\n",
            self.registrations.len()
        ));
        for (o, n) in by_outcome {
            out.push_str(&format!("  {n:6}  {}\n", o.as_str()));
        }
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
        let mut reasons: BTreeMap<Outcome, usize> = BTreeMap::new();
        for r in self.registrations.iter().filter(|r| r.entries == 0) {
            *reasons.entry(r.outcome).or_default() += 1;
        }
        if !reasons.is_empty() {
            let list: Vec<String> = reasons
                .iter()
                .map(|(o, n)| format!("{n} {}", o.as_str()))
                .collect();
            out.push_str(&format!(
                "calls that led to no routine, by reason (see --sites): {}\n",
                list.join(", ")
            ));
        }
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
