//! What reaches a slot call, and whether the core pinned it first.
//!
//! Two questions about one call through a slot, `base->field(...)`, both answered from the
//! calling function and the stores of the tree:
//! - **Core pin** (2.4): the core raised the use count of the table's module before the call,
//!   so `rmmod` cannot run under it whether or not the lock is held. Seen as `base` assigned
//!   from a call that returns a pinned table (`[bkl] core_pin.returns_pinned`: `fops_get`,
//!   `get_fs_type`, and every function whose returns are all such calls or NULL), directly or
//!   through a local, or as `try_inc_mod_count(base->owner)` (`core_pin.owner_fields`) before
//!   the call. The call need not be on every path after it: the analysis is path-insensitive
//!   here and takes an earlier line in the same function as "before".
//! - **Provenance**: which tables `base` can be. A store in the calling function
//!   (`filp->f_op = &mem_fops`) names them; so does a field whose every store in the tree is a
//!   table (`inode->i_fop`: filesystems and `init_special_inode` store `&def_chr_fops`,
//!   `&def_blk_fops`, ...), followed through fields stored from other fields a few levels, and
//!   through `core_pin.returns_argument` (`fops_get(x)` is `x`). One store that is not a table
//!   (a parameter, an unknown field) makes the answer "every implementation of the slot", as
//!   before, and nothing narrower is claimed.

use rustc_hash::{FxHashMap, FxHashSet};

use super::slots::Typer;
use super::Protection;
use crate::entries::Slot;
use crate::facts::{StmtKind, Value};
use crate::index::{referenced_name, FnRef, Index, TableContent, VarRef};
use crate::kb::Kb;

/// Fields stored from fields are followed this many levels.
const MAX_FIELD_DEPTH: usize = 3;
/// A base with more tables than this is not narrowed (it is every implementation, in effect).
const MAX_TABLES: usize = 512;

/// (struct, field) -> the tables it can hold (`None`: not all known).
type FieldTables<'a> = FxHashMap<(&'a str, &'a str), Option<Vec<VarRef>>>;

/// One store into a struct field somewhere in the tree.
struct Store {
    file: usize,
    function: Option<u32>,
    value: String,
}

pub struct Flow<'a> {
    index: &'a Index<'a>,
    typer: &'a Typer<'a>,
    try_increment: &'a [String],
    owner_fields: &'a [String],
    returns_argument: &'a [String],
    /// Names of calls that return a pinned table: the knowledge base's, and the tree's
    /// functions whose every return is one.
    pinned_getters: FxHashSet<&'a str>,
    /// (struct, field) -> every store into it: assignments and table initializers.
    stores: FxHashMap<(&'a str, &'a str), Vec<Store>>,
    /// Direct calls by callee name: (file, call index), for pins passed down as arguments.
    by_name: FxHashMap<&'a str, Vec<(usize, u32)>>,
    /// Functions stored in some slot: called through pointers too.
    stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    /// Tables a struct field can hold, once asked (`None`: not all known).
    field_cache: std::cell::RefCell<FieldTables<'a>>,
}

/// What is known about one slot call besides the lock.
#[derive(Debug, Clone, Default)]
pub struct SiteFlow {
    pub pin: Option<Protection>,
    /// The functions the call can reach, when the tables its base can be are all known.
    pub targets: Option<FxHashSet<FnRef>>,
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `(*a->b)` -> (`a`, `b`); `a.b` -> (`a`, `b`).
fn split_member(expr: &str) -> Option<(String, String)> {
    let mut e = squash(expr);
    loop {
        let t = e.trim_start_matches('*');
        if t.starts_with('(') && t.ends_with(')') {
            e = t[1..t.len() - 1].to_string();
        } else {
            e = t.to_string();
            break;
        }
    }
    let (at, len) = match (e.rfind("->"), e.rfind('.')) {
        (Some(a), Some(d)) if d > a => (d, 1),
        (Some(a), _) => (a, 2),
        (None, Some(d)) => (d, 1),
        (None, None) => return None,
    };
    Some((e[..at].to_string(), e[at + len..].to_string()))
}

impl<'a> Flow<'a> {
    pub fn new(
        index: &'a Index<'a>,
        kb: &'a Kb,
        typer: &'a Typer<'a>,
        stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    ) -> Self {
        let mut by_name: FxHashMap<&str, Vec<(usize, u32)>> = FxHashMap::default();
        for (fi, f) in index.files.iter().enumerate() {
            for (ci, c) in f.calls.iter().enumerate() {
                if !c.indirect && c.caller.is_some() {
                    by_name
                        .entry(c.callee.as_str())
                        .or_default()
                        .push((fi, ci as u32));
                }
            }
        }
        let pin = &kb.data.bkl.core_pin;
        let mut flow = Flow {
            index,
            typer,
            try_increment: &kb.data.use_count.try_increment,
            owner_fields: &pin.owner_fields,
            returns_argument: &pin.returns_argument,
            pinned_getters: pin.returns_pinned.iter().map(String::as_str).collect(),
            stores: FxHashMap::default(),
            by_name,
            stored,
            field_cache: Default::default(),
        };
        flow.find_getters();
        flow.find_stores();
        flow
    }

    /// Functions whose every return is a pinned table or NULL (`get_chrfops`).
    fn find_getters(&mut self) {
        let mut found = Vec::new();
        for (fi, f) in self.index.files.iter().enumerate() {
            for func in f.functions.iter().filter(|g| !g.body.is_empty()) {
                let mut returns = func.body.stmts.iter().filter_map(|s| match &s.kind {
                    StmtKind::Return(e) => Some(e.as_ref().map(|e| &e.value)),
                    _ => None,
                });
                let pinned = |v: &Value| match v {
                    Value::Call(c) => self.is_pinned_call(fi, *c),
                    _ => false,
                };
                let local_pinned = |name: &str| {
                    let mut any = false;
                    for e in func.body.exprs() {
                        for a in e.assigns.iter().filter(|a| a.var == name) {
                            match &a.value {
                                Value::Null | Value::Int(0) => {}
                                v if pinned(v) => any = true,
                                _ => return false,
                            }
                        }
                    }
                    any
                };
                let mut any = false;
                let all = returns.all(|v| match v {
                    Some(Value::Null | Value::Int(0)) => true,
                    Some(Value::Var(n)) if local_pinned(n) => {
                        any = true;
                        true
                    }
                    Some(v) if pinned(v) => {
                        any = true;
                        true
                    }
                    _ => false,
                });
                if all && any {
                    found.push(func.name.as_str());
                }
            }
        }
        self.pinned_getters.extend(found);
    }

    fn is_pinned_call(&self, file: usize, call: u32) -> bool {
        let c = &self.index.files[file].calls[call as usize];
        !c.indirect && self.pinned_getters.contains(c.callee.as_str())
    }

    fn find_stores(&mut self) {
        let index = self.index;
        for (fi, f) in index.files.iter().enumerate() {
            for a in &f.field_assigns {
                let ty = match (&a.base_type, a.caller) {
                    (Some(t), _) => Some(t.clone()),
                    (None, Some(c)) => self.typer.expr_type(fi, &f.functions[c as usize], &a.base),
                    (None, None) => None,
                };
                // A store whose base has no known type could be into any struct: the fields
                // it names cannot be narrowed.
                let st: &'a str = match ty {
                    Some(t) => intern(index, &t),
                    None => "",
                };
                self.stores
                    .entry((st, a.field.as_str()))
                    .or_default()
                    .push(Store {
                        file: fi,
                        function: a.caller,
                        value: a.value.clone(),
                    });
            }
            for (vi, v) in f.variables.iter().enumerate() {
                let st = index.struct_name(&v.type_name);
                let Some(def) = index.struct_def(st) else {
                    continue;
                };
                if v.init.is_none() {
                    continue;
                }
                let var = VarRef { file: fi, var: vi };
                for tv in index.table_values(var, st) {
                    let (TableContent::Expr(_), Some(field)) =
                        (&tv.value, def.fields.iter().find(|d| d.name == tv.field))
                    else {
                        continue;
                    };
                    if field.struct_type.is_none() {
                        continue;
                    }
                    let TableContent::Expr(value) = tv.value else {
                        continue;
                    };
                    self.stores
                        .entry((def.name.as_str(), field.name.as_str()))
                        .or_default()
                        .push(Store {
                            file: tv.file,
                            function: tv.scope,
                            value,
                        });
                }
            }
        }
    }
}

fn intern<'a>(index: &'a Index<'a>, type_name: &str) -> &'a str {
    index
        .struct_def(type_name)
        .map(|d| d.name.as_str())
        .unwrap_or("")
}

impl<'a> Flow<'a> {
    /// The base of the call's callee: `f->f_op` for `f->f_op->open(...)`, and for a call
    /// through a local loaded from a field (`fn = fmt->load_binary`), that field's base.
    fn base_of(&self, caller: FnRef, call: u32) -> Option<String> {
        let file = &self.index.files[caller.file];
        let c = &file.calls[call as usize];
        let expr = if c.indirect {
            c.callee.as_str()
        } else {
            file.field_loads
                .iter()
                .find(|l| l.caller == caller.func as u32 && l.var == c.callee)?
                .value
                .as_str()
        };
        split_member(expr).map(|(b, _)| b)
    }

    pub fn site(&self, caller: FnRef, call: u32, slot: &Slot) -> SiteFlow {
        let Some(base) = self.base_of(caller, call) else {
            return SiteFlow::default();
        };
        let line = self.index.files[caller.file].calls[call as usize].line;
        SiteFlow {
            pin: self.pin(caller, line, &base, 0),
            targets: self.targets(caller, line, &base, slot),
        }
    }

    /// Stores `lhs = value` in `f` up to `line`, where `lhs` is `base` as written.
    fn local_stores(&self, f: FnRef, line: u32, base: &str) -> Vec<(&'a str, u32)> {
        let file = &self.index.files[f.file];
        let mut out = Vec::new();
        for a in &file.field_assigns {
            if a.caller != Some(f.func as u32) || a.line > line {
                continue;
            }
            let lhs = squash(&a.base);
            let matches = base
                .strip_prefix(lhs.as_str())
                .and_then(|r| r.strip_prefix("->").or_else(|| r.strip_prefix('.')))
                == Some(a.field.as_str());
            if matches {
                out.push((a.value.as_str(), a.line));
            }
        }
        // `base = value` for a plain local.
        if crate::ctext::is_identifier(base) {
            for e in self.index.function(f).body.exprs() {
                for a in e.assigns.iter().filter(|a| a.var == base && e.line <= line) {
                    if let Value::Call(c) = a.value {
                        if self.is_pinned_call(f.file, c) {
                            out.push((
                                self.index.files[f.file].calls[c as usize].callee.as_str(),
                                e.line,
                            ));
                        }
                    }
                }
            }
        }
        out
    }

    fn pin(&self, f: FnRef, line: u32, base: &str, depth: usize) -> Option<Protection> {
        let file = &self.index.files[f.file];
        let func = Some(f.func as u32);
        for c in file.calls.iter() {
            if c.caller != func || c.line > line || c.indirect {
                continue;
            }
            if !self.try_increment.contains(&c.callee) {
                continue;
            }
            let owner = c.args.first().and_then(|a| split_member(a));
            if owner.is_some_and(|(b, fld)| b == base && self.owner_fields.contains(&fld)) {
                return Some(Protection::CorePin {
                    by: c.callee.clone(),
                    line: c.line,
                });
            }
        }
        let stores = self.local_stores(f, line, base);
        for &(value, at) in &stores {
            if let Some(by) = self.pinned_value(f, value) {
                return Some(Protection::CorePin { by, line: at });
            }
        }
        if stores.is_empty() {
            return self.pinned_parameter(f, base, depth);
        }
        None
    }

    /// `base` is a parameter every caller passes pinned (`read_super(.., type, ..)` from
    /// `do_mount`'s `get_fs_type`): the pin of the callers, a few calls up. A function that
    /// sits in a slot is called through pointers too, and is not judged so.
    fn pinned_parameter(&self, f: FnRef, base: &str, depth: usize) -> Option<Protection> {
        if depth >= MAX_FIELD_DEPTH || self.stored.contains_key(&f) {
            return None;
        }
        let function = self.index.function(f);
        let k = function
            .params
            .iter()
            .position(|p| p.name.as_deref() == Some(base))?;
        let calls = self.by_name.get(function.name.as_str())?;
        let mut found = None;
        for &(fi, ci) in calls {
            if self.index.resolve_function(fi, &function.name) != Some(f) {
                continue;
            }
            let c = &self.index.files[fi].calls[ci as usize];
            let g = FnRef {
                file: fi,
                func: c.caller? as usize,
            };
            let arg = squash(c.args.get(k)?);
            if !crate::ctext::is_identifier(&arg) {
                return None;
            }
            found = Some(self.pin(g, c.line, &arg, depth + 1)?);
        }
        found
    }

    /// The getter a stored value comes from, when it returns a pinned table: `fops_get(x)`
    /// written in place, or a local assigned from one.
    fn pinned_value(&self, f: FnRef, value: &str) -> Option<String> {
        let v = squash(value);
        if let Some((name, _)) = v.split_once('(') {
            return self.pinned_getters.contains(name).then(|| name.to_string());
        }
        if self.pinned_getters.contains(v.as_str()) {
            return Some(v);
        }
        if !crate::ctext::is_identifier(&v) {
            return None;
        }
        let calls = &self.index.files[f.file].calls;
        self.index.function(f).body.exprs().find_map(|e| {
            e.assigns.iter().find_map(|a| match a.value {
                Value::Call(c) if a.var == v && self.is_pinned_call(f.file, c) => {
                    Some(calls[c as usize].callee.clone())
                }
                _ => None,
            })
        })
    }

    /// The functions a call through `base` can reach in `slot`, when every table `base` can
    /// be is known.
    fn targets(&self, f: FnRef, line: u32, base: &str, slot: &Slot) -> Option<FxHashSet<FnRef>> {
        let function = self.index.function(f);
        let local = self.local_stores(f, line, base);
        let mut tables = Vec::new();
        if local.is_empty() && crate::ctext::is_identifier(base) {
            tables = self.parameter_tables(f, base)?;
        } else if local.is_empty() {
            let (owner, field) = split_member(base)?;
            let ty = self.typer.expr_type(f.file, function, &owner)?;
            tables = self.field_tables(&ty, &field, 0)?;
        } else {
            for (value, _) in local {
                tables.extend(self.value_tables(f.file, Some(f.func as u32), value, 0)?);
            }
        }
        let mut out = FxHashSet::default();
        for var in tables {
            let st = self.index.struct_name(&self.index.variable(var).type_name);
            for tv in self.index.table_values(var, st) {
                if tv.field != slot.field {
                    continue;
                }
                if let TableContent::Expr(e) = &tv.value {
                    let g =
                        referenced_name(e).and_then(|n| self.index.resolve_function(tv.file, n));
                    out.extend(g);
                }
            }
        }
        Some(out)
    }

    /// The tables every direct caller passes as parameter `base` (`qdisc_create_dflt(dev,
    /// &pfifo_qdisc_ops)`); a function that sits in a slot is called through pointers too.
    fn parameter_tables(&self, f: FnRef, base: &str) -> Option<Vec<VarRef>> {
        if self.stored.contains_key(&f) {
            return None;
        }
        let function = self.index.function(f);
        let k = function
            .params
            .iter()
            .position(|p| p.name.as_deref() == Some(base))?;
        let mut out = Vec::new();
        let mut any = false;
        for &(fi, ci) in self.by_name.get(function.name.as_str())? {
            if self.index.resolve_function(fi, &function.name) != Some(f) {
                continue;
            }
            let c = &self.index.files[fi].calls[ci as usize];
            out.extend(self.value_tables(fi, c.caller, c.args.get(k)?, 0)?);
            any = true;
        }
        any.then_some(out)
    }

    /// The tables a stored value can be.
    fn value_tables(
        &self,
        file: usize,
        function: Option<u32>,
        value: &str,
        depth: usize,
    ) -> Option<Vec<VarRef>> {
        let v = squash(value);
        if matches!(v.as_str(), "NULL" | "0") {
            return Some(Vec::new());
        }
        if let Some((name, rest)) = v.split_once('(') {
            let arg = rest.strip_suffix(')')?;
            return self
                .returns_argument
                .iter()
                .any(|r| r == name)
                .then(|| self.value_tables(file, function, arg, depth))
                .flatten();
        }
        let name = v.trim_start_matches('&');
        // `&tables[i]`: an element of an array of tables.
        let name = match name.split_once('[') {
            Some((n, rest)) if rest.ends_with(']') => n,
            _ => name,
        };
        if crate::ctext::is_identifier(name) {
            let local = function.is_some_and(|c| self.index.is_local(file, c, name));
            if local {
                return None;
            }
            // A global the file's headers do not declare as C would see it (the second name
            // of `extern struct file_operations a, b;`): the one definition of the tree.
            let var = self
                .index
                .resolve_variable(file, name)
                .or_else(|| self.index.resolve_undeclared(name));
            let Some(var) = var else {
                // A function stored where a table belongs (a mistake of the tree's) brings
                // no table.
                return self.index.resolve_function(file, name).map(|_| Vec::new());
            };
            let st = self.index.struct_name(&self.index.variable(var).type_name);
            return self.index.struct_def(st).map(|_| vec![var]);
        }
        let (owner, field) = split_member(&v)?;
        let func = &self.index.files[file].functions[function? as usize];
        let ty = self.typer.expr_type(file, func, &owner)?;
        self.field_tables(&ty, &field, depth + 1)
    }

    /// Every table stored into `ty.field` anywhere in the tree, if all stores are tables.
    fn field_tables(&self, ty: &str, field: &str, depth: usize) -> Option<Vec<VarRef>> {
        if depth > MAX_FIELD_DEPTH {
            return None;
        }
        let st = intern(self.index, ty);
        let def = self.index.struct_def(st)?;
        let key = (
            st,
            def.fields.iter().find(|f| f.name == field)?.name.as_str(),
        );
        if let Some(known) = self.field_cache.borrow().get(&key) {
            return known.clone();
        }
        // A field stored from itself adds nothing: it is empty while it is being computed.
        self.field_cache.borrow_mut().insert(key, Some(Vec::new()));
        let mut out: Option<Vec<VarRef>> = Some(Vec::new());
        let untyped = self.stores.get(&("", key.1)).into_iter().flatten();
        for s in self.stores.get(&key).into_iter().flatten().chain(untyped) {
            match (
                &mut out,
                self.value_tables(s.file, s.function, &s.value, depth),
            ) {
                (Some(o), Some(t)) if o.len() + t.len() <= MAX_TABLES => o.extend(t),
                _ => {
                    if std::env::var_os("MODRACE_FLOW_DEBUG").is_some() {
                        eprintln!(
                            "{}.{} <- {} ({})",
                            key.0, key.1, s.value, self.index.files[s.file].path
                        );
                    }
                    out = None;
                    break;
                }
            }
        }
        if let Some(o) = &mut out {
            o.sort_by_key(|v| (v.file, v.var));
            o.dedup();
        }
        self.field_cache.borrow_mut().insert(key, out.clone());
        out
    }
}
