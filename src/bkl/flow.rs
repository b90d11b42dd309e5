//! What reaches a slot call, and whether the core pinned it first.
//!
//! Questions about one call through a slot, `base->field(...)`, all answered from the
//! calling function and the stores of the tree:
//! - **Core pin** (2.4): the core raised the use count of the table's module before the call,
//!   so `rmmod` cannot run under it whether or not the lock is held. Seen as `base` assigned
//!   from a call that returns a pinned table (`[bkl] core_pin.returns_pinned`: `fops_get`,
//!   `get_fs_type`, and every function whose returns are all such calls or NULL), directly or
//!   through a local, or as `try_inc_mod_count(base->owner)` (`core_pin.owner_fields`) before
//!   the call. The call need not be on every path after it: the analysis is path-insensitive
//!   here and takes an earlier line in the same function as "before".
//! - **Call-back** ([`callback`]): `base` is a table parameter, kept as written or stored into
//!   a new object by a helper, and every caller passes a table of its own file: the call goes
//!   back into the caller's module (`Protection::Registering`).
//! - **Provenance**: which tables `base` can be. A store in the calling function
//!   (`filp->f_op = &mem_fops`) names them; so does a field whose every store in the tree is a
//!   table (`inode->i_fop`: filesystems and `init_special_inode` store `&def_chr_fops`,
//!   `&def_blk_fops`, ...), followed through fields stored from other fields a few levels, and
//!   through `core_pin.returns_argument` (`fops_get(x)` is `x`), through what a getter returns
//!   (`get_blkfops(major)` returns `get_fops(.., blkdevs)`, whose `tb[major].fops` with `tb`
//!   bound to `blkdevs` reads the stores into that global alone), and through a parameter to
//!   what every caller passes (`register_blkdev`'s `fops`). One store that is not a table
//!   (a parameter, an unknown field) makes the answer "every implementation of the slot", as
//!   before, and nothing narrower is claimed.

use rustc_hash::{FxHashMap, FxHashSet};

use super::slots::Typer;
use super::Protection;
use crate::entries::Slot;
use crate::facts::{StmtKind, Value};
use crate::index::{FnRef, Index, VarRef};
use crate::kb::Kb;
use crate::usecount::drain::Drains;

mod callback;
mod provenance;

/// Fields stored from fields, getters and parameters are followed this many levels.
const MAX_FIELD_DEPTH: usize = 6;
/// A base with more tables than this is not narrowed (it is every implementation, in effect).
const MAX_TABLES: usize = 512;

/// Tables something can hold, by what it is (`None`: not all known).
type Known<K> = FxHashMap<K, Option<Vec<VarRef>>>;

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
    kb: &'a Kb,
    typer: &'a Typer<'a>,
    try_increment: &'a [String],
    owner_fields: &'a [String],
    /// Counters of calls in flight that an unregister waits for.
    drains: &'a Drains,
    returns_argument: &'a [String],
    /// Names of calls that return a pinned table: the knowledge base's, and the tree's
    /// functions whose every return is one.
    pinned_getters: FxHashSet<&'a str>,
    /// (struct, field) -> every store into it: assignments and table initializers.
    stores: FxHashMap<(&'a str, &'a str), Vec<Store>>,
    /// Initialized variables by struct type: their initializers store into its fields.
    tables_by_struct: FxHashMap<&'a str, Vec<VarRef>>,
    /// (global variable, field) -> the stores into `var.field` or `var[i].field`.
    var_stores: FxHashMap<(VarRef, &'a str), Vec<Store>>,
    /// Direct calls by callee name: (file, call index), for pins passed down as arguments.
    by_name: FxHashMap<&'a str, Vec<(usize, u32)>>,
    /// Functions stored in some slot: called through pointers too.
    stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    /// Tables each (function, parameter) and (global, field) can hold, once asked.
    param_cache: std::cell::RefCell<Known<(FnRef, usize)>>,
    var_cache: std::cell::RefCell<Known<(VarRef, String)>>,
    /// Tables a struct field can hold, once asked (`None`: not all known).
    field_cache: std::cell::RefCell<FieldTables<'a>>,
}

/// What is known about one slot call besides the lock.
#[derive(Debug, Clone, Default)]
pub struct SiteFlow {
    pub pin: Option<Protection>,
    /// The functions the call can reach, when the tables its base can be are all known.
    pub targets: Option<FxHashSet<FnRef>>,
    /// Why `targets` is every routine of the slot, when a caller passes a member's address.
    pub every_routine: Option<String>,
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
        drains: &'a Drains,
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
            kb,
            typer,
            try_increment: &kb.data.use_count.try_increment,
            owner_fields: &pin.owner_fields,
            drains,
            returns_argument: &pin.returns_argument,
            pinned_getters: pin.returns_pinned.iter().map(String::as_str).collect(),
            stores: FxHashMap::default(),
            var_stores: FxHashMap::default(),
            tables_by_struct: FxHashMap::default(),
            by_name,
            stored,
            field_cache: Default::default(),
            param_cache: Default::default(),
            var_cache: Default::default(),
        };
        flow.find_getters();
        flow.find_stores();
        flow
    }

    /// Functions whose every return is a pinned table or NULL (`get_chrfops`).
    fn find_getters(&mut self) {
        let mut found = Vec::new();
        for (fi, f) in self.index.files.iter().enumerate() {
            // A getter returns a pinned call's value, so it makes one: the calls say which
            // functions can be, without reading every body.
            let calling: FxHashSet<u32> = (f.calls.iter().enumerate())
                .filter(|&(ci, c)| c.caller.is_some() && self.is_pinned_call(fi, ci as u32))
                .filter_map(|(_, c)| c.caller)
                .collect();
            let candidates = (f.functions.iter().enumerate())
                .filter(|&(i, g)| calling.contains(&(i as u32)) && !g.body.is_empty());
            for (_, func) in candidates {
                let pinned = |v: &Value| match v {
                    Value::Call(c) => self.is_pinned_call(fi, *c),
                    _ => false,
                };
                if returns_only(func, Returned::DirectlyOrThroughLocals, pinned) {
                    found.push(func.name.as_str());
                }
            }
        }
        self.pinned_getters.extend(found);
    }

    pub(crate) fn is_pinned_call(&self, file: usize, call: u32) -> bool {
        let c = &self.index.files[file].calls[call as usize];
        !c.indirect && self.pinned_getters.contains(c.callee.as_str())
    }

    fn find_stores(&mut self) {
        use rayon::prelude::*;
        let (index, typer) = (self.index, self.typer);
        let per_file: Vec<Keyed<'a>> = (0..index.files.len())
            .into_par_iter()
            .map(|fi| stores_of_file(index, typer, fi))
            .collect();
        for (by_type, by_var, tables) in per_file {
            for (st, var) in tables {
                self.tables_by_struct.entry(st).or_default().push(var);
            }
            for (k, store) in by_type {
                self.stores.entry(k).or_default().push(store);
            }
            for (k, store) in by_var {
                self.var_stores.entry(k).or_default().push(store);
            }
        }
    }
}

/// One file's stores, keyed by (struct, field) and by (global variable, field), and its
/// initialized variables of struct types (their initializers are read when asked).
type Keyed<'a> = (
    Vec<((&'a str, &'a str), Store)>,
    Vec<((VarRef, &'a str), Store)>,
    Vec<(&'a str, VarRef)>,
);

fn stores_of_file<'a>(index: &'a Index<'a>, typer: &Typer<'a>, fi: usize) -> Keyed<'a> {
    let f = &index.files[fi];
    let (mut by_type, mut by_var) = (Vec::new(), Vec::new());
    for a in &f.field_assigns {
        let ty = match (&a.base_type, a.caller) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(c)) => typer.expr_type(fi, &f.functions[c as usize], &a.base),
            (None, None) => None,
        };
        // A store whose base has no known type could be into any struct: the fields it
        // names cannot be narrowed.
        let st: &'a str = ty.map_or("", |t| intern(index, &t));
        let store = || Store {
            file: fi,
            function: a.caller,
            value: a.value.to_string(),
        };
        let base = squash(&a.base);
        let name = base.split_once('[').map_or(base.as_str(), |(n, _)| n);
        let global = crate::ctext::is_identifier(name)
            && !a.caller.is_some_and(|c| index.is_local(fi, c, name));
        if let Some(var) = global.then(|| index.resolve_variable(fi, name)).flatten() {
            by_var.push(((var, a.field.as_str()), store()));
        }
        by_type.push(((st, a.field.as_str()), store()));
    }
    let mut tables = Vec::new();
    for (vi, v) in f.variables.iter().enumerate() {
        if v.init.is_some() {
            if let Some(def) = index.struct_def(&v.type_name) {
                tables.push((def.name.as_str(), VarRef { file: fi, var: vi }));
            }
        }
    }
    (by_type, by_var, tables)
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
    pub(crate) fn base_of(&self, caller: FnRef, call: u32) -> Option<String> {
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
        let targets = self.targets(caller, line, &base, slot);
        SiteFlow {
            pin: self.pin(caller, line, &base, 0),
            every_routine: targets
                .is_none()
                .then(|| self.member_argument(caller, &base))
                .flatten(),
            targets,
        }
    }

    /// Stores `lhs = value` in `f` up to `line`, where `lhs` is `base` as written.
    pub(crate) fn local_stores(&self, f: FnRef, line: u32, base: &str) -> Vec<(&'a str, u32)> {
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
            if !self.try_increment.iter().any(|t| t == c.callee.as_str()) {
                continue;
            }
            let owner = c.args.first().and_then(|a| split_member(a));
            if owner.is_some_and(|(b, fld)| b == base && self.owner_fields.contains(&fld)) {
                return Some(Protection::CorePin {
                    by: c.callee.to_string(),
                    line: c.line,
                });
            }
        }
        if let Some(drain) = self.drain(f, line, base) {
            return Some(drain);
        }
        if depth == 0 {
            if let Some(registering) = self.registering(f, base) {
                return Some(registering);
            }
            if let Some(own) = self.called_back(f, line, base) {
                return Some(own);
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

    /// `f` is a registration routine of the knowledge base and `base` its table argument (or
    /// a member of it: `fb_info->fbops`): the call reaches the registering module's routine.
    fn registering(&self, f: FnRef, base: &str) -> Option<Protection> {
        let function = self.index.function(f);
        let reg = self.kb.registration(&function.name)?;
        let param = function.params.get(reg.arg?)?.name.as_deref()?;
        let rest = base.strip_prefix(param)?;
        (rest.is_empty() || rest.starts_with("->") || rest.starts_with('.')).then(|| {
            Protection::Registering {
                routine: function.name.to_string(),
            }
        })
    }

    /// `base->F++` before the call in `f`, with `F` a counter the unregister drains.
    fn drain(&self, f: FnRef, line: u32, base: &str) -> Option<Protection> {
        let function = self.index.function(f);
        let ty = self.index.local_struct(function, base)?;
        self.index.files[f.file]
            .field_assigns
            .iter()
            .filter(|a| a.caller == Some(f.func as u32) && a.line <= line)
            .filter(|a| squash(&a.base) == base && a.value.contains("++"))
            .find(|a| self.drains.is_counter(ty, &a.field))
            .map(|a| Protection::Drain {
                by: squash(&a.value),
                line: a.line,
            })
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
                    Some(calls[c as usize].callee.to_string())
                }
                _ => None,
            })
        })
    }
}

/// How a value `returns_only` accepts may reach a return.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    /// Only through a local assigned from it (`p = alloc(); ...; return p;`).
    ThroughLocals,
    /// Also as the returned expression itself (`return get(x);`).
    DirectlyOrThroughLocals,
}

/// Whether every return of `func` is NULL, 0 or an accepted value (as `how` allows it to
/// reach the return), and at least one is. A local counts when every assignment to it is
/// NULL, 0 or accepted, and one is accepted.
pub(crate) fn returns_only(
    func: &crate::facts::Function,
    how: Returned,
    accepted: impl Fn(&Value) -> bool,
) -> bool {
    let local_accepted = |name: &str| {
        let mut any = false;
        for a in func.body.exprs().flat_map(|e| &e.assigns) {
            if a.var == name {
                match &a.value {
                    Value::Null | Value::Int(0) => {}
                    v if accepted(v) => any = true,
                    _ => return false,
                }
            }
        }
        any
    };
    let mut any = false;
    let all = (func.body.stmts.iter()).all(|s| match &s.kind {
        StmtKind::Return(e) => match e.as_ref().map(|e| &e.value) {
            Some(Value::Null | Value::Int(0)) => true,
            Some(Value::Var(n)) if local_accepted(n) => {
                any = true;
                true
            }
            Some(v) if how == Returned::DirectlyOrThroughLocals && accepted(v) => {
                any = true;
                true
            }
            _ => false,
        },
        _ => true,
    });
    all && any
}
