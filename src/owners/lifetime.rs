//! Unbalanced module references (MR104): a reference taken and dropped a different number of
//! times.
//!
//! Two shapes, both read off the tree:
//! - **across slots**: a table's routine in a slot of one lifetime class takes a reference
//!   (`try_module_get(X)`, `__module_get(X)`) and only routines in slots of another class of
//!   the same table drop it (a tty's `open`, once per open call, against its `cleanup`, once
//!   per tty object). How often the core calls each slot is knowledge-base data
//!   (`owners.lifetime`); the routines are the slot's own and the static helpers of its file
//!   it calls. `X` is compared with the root variable replaced by its declared structure
//!   (`tty->driver->owner` in one routine is `port->tty->driver->owner`'s `driver->owner` only
//!   if both start from the same type), so two routines naming the same module match.
//! - **on one path**: a routine that takes a reference on `X` itself drops `X` on a path where
//!   it holds none (never taken there, or already dropped): a put without its get, or a double
//!   put. Walked with the use-count path analysis ([`crate::paths`]), once per `X`; a get
//!   tested with `&&`/`||` or inside a loop is not judged (the walk does not model either).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use rayon::prelude::*;

use crate::buildinfo::BuildInfo;
use crate::ctext::is_ident_char;
use crate::facts::{Call, Event, Expr, FileFacts, Function, Span, StmtKind, Value};
use crate::index::{referenced_name, FnRef, Index, TableContent, VarRef};
use crate::kb::{Kb, OwnersKb};
use crate::paths::{self, CallOracle, CountEffect, Discipline, FailValue, Outcomes, SlotRules};

use super::OwnerBasis;

/// A reference site: which routine, where, the call made.
#[derive(Debug, Clone)]
pub struct RefSite {
    pub function: String,
    pub file: String,
    pub at: Span,
    pub routine: String,
}

/// A slot of a table and the class of how often the core calls it.
#[derive(Debug, Clone)]
pub struct SlotUse {
    pub field: String,
    pub class: String,
    pub evidence: String,
}

#[derive(Debug, Clone)]
pub enum Unbalanced {
    /// Taken in a slot of one class, dropped only in slots of another.
    AcrossSlots {
        strukt: String,
        table: String,
        /// The module expression, as the get wrote it.
        target: String,
        get: RefSite,
        get_slot: SlotUse,
        put: RefSite,
        put_slot: SlotUse,
    },
    /// A put on a path of a routine that holds no reference there.
    OnPath {
        target: String,
        put: RefSite,
        /// The routine's own get of the same module.
        get: RefSite,
    },
}

impl Unbalanced {
    /// The finding's location: the get for a slot mismatch, the put on a path.
    pub fn site(&self) -> &RefSite {
        match self {
            Unbalanced::AcrossSlots { get, .. } => get,
            Unbalanced::OnPath { put, .. } => put,
        }
    }
}

/// Every unbalanced reference of the tree, by file and line.
pub fn unbalanced(
    index: &Index,
    kb: &Kb,
    build: &BuildInfo,
    basis: &OwnerBasis,
) -> Vec<Unbalanced> {
    let _t = crate::timing::Phase::start("lifetimes");
    let owners = &kb.data.owners;
    let mut out: Vec<Unbalanced> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let f = &index.files[fi];
            // A module that cannot be unloaded cannot be unloaded too early or too late.
            let unloadable = basis.unloadable.exit_of(build, f).is_some();
            let mut found = across_slots(index, owners, fi);
            found.extend(on_paths(f, owners));
            found.retain(|u| unloadable || !names_self(u, owners));
            found
        })
        .collect();
    out.sort_by(|a, b| {
        let (x, y) = (a.site(), b.site());
        (&x.file, x.at.line, x.at.column).cmp(&(&y.file, y.at.line, y.at.column))
    });
    out
}

fn names_self(u: &Unbalanced, owners: &OwnersKb) -> bool {
    let target = match u {
        Unbalanced::AcrossSlots { target, .. } | Unbalanced::OnPath { target, .. } => target,
    };
    *target == owners.this_module
}

/// One get or put of a routine, with the module expression in comparable form.
struct RefCall<'a> {
    call: &'a Call,
    func: FnRef,
    /// The expression with its root variable replaced by the variable's structure.
    key: String,
    written: String,
    get: bool,
}

/// The slot-lifetime mismatches of the tables file `fi` defines.
fn across_slots(index: &Index, owners: &OwnersKb, fi: usize) -> Vec<Unbalanced> {
    let f = &index.files[fi];
    let mut out = Vec::new();
    for (vi, v) in f.variables.iter().enumerate() {
        if v.init.is_none() || v.is_array {
            continue;
        }
        let strukt = index.struct_name(&v.type_name);
        if !owners.has_lifetimes(strukt) {
            continue;
        }
        let var = VarRef { file: fi, var: vi };
        // Each classed slot's routine and the references it (or a helper of its file) makes.
        let mut refs: Vec<(SlotUse, RefCall)> = Vec::new();
        for t in index.table_values(var, strukt) {
            let Some(class) = owners.lifetime(strukt, &t.field) else {
                continue;
            };
            let TableContent::Expr(e) = &t.value else {
                continue;
            };
            let Some(r) = referenced_name(e).and_then(|n| index.resolve_function(t.file, n)) else {
                continue;
            };
            let slot = SlotUse {
                field: t.field.clone(),
                class: class.class.clone(),
                evidence: class.evidence.clone(),
            };
            for rc in routine_refs(index, owners, r) {
                refs.push((slot.clone(), rc));
            }
        }
        out.extend(mismatches(index, strukt, &v.name, &refs));
    }
    out
}

/// For each module expression of a table: gets only in slots of one class and puts only in
/// slots of other classes.
fn mismatches(
    index: &Index,
    strukt: &str,
    table: &str,
    refs: &[(SlotUse, RefCall)],
) -> Vec<Unbalanced> {
    let mut keys: Vec<&str> = refs.iter().map(|(_, r)| r.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let of = |get: bool| {
            (refs.iter())
                .filter(move |(_, r)| r.key == key && r.get == get)
                .collect::<Vec<_>>()
        };
        let (gets, puts) = (of(true), of(false));
        let (Some((get_slot, get)), Some((put_slot, put))) = (gets.first(), puts.first()) else {
            continue;
        };
        let get_classes: HashSet<&str> = gets.iter().map(|(s, _)| s.class.as_str()).collect();
        let put_classes: HashSet<&str> = puts.iter().map(|(s, _)| s.class.as_str()).collect();
        if !get_classes.is_disjoint(&put_classes) {
            continue;
        }
        out.push(Unbalanced::AcrossSlots {
            strukt: strukt.to_string(),
            table: table.to_string(),
            target: get.written.clone(),
            get: site(index, get),
            get_slot: get_slot.clone(),
            put: site(index, put),
            put_slot: put_slot.clone(),
        });
    }
    out
}

fn site(index: &Index, r: &RefCall) -> RefSite {
    RefSite {
        function: index.function(r.func).name.to_string(),
        file: index.files[r.func.file].path.to_string(),
        at: Span::at(r.call.line, r.call.column),
        routine: r.call.callee.to_string(),
    }
}

/// The gets and puts routine `r` makes, directly or in a static helper of its file it calls.
fn routine_refs<'a>(index: &'a Index, owners: &OwnersKb, r: FnRef) -> Vec<RefCall<'a>> {
    let f = &index.files[r.file];
    let mut routines = vec![r];
    for c in f.calls.iter().filter(|c| c.caller == Some(r.func as u32)) {
        if c.indirect {
            continue;
        }
        let Some(h) = index.resolve_function(r.file, &c.callee) else {
            continue;
        };
        if h.file == r.file && index.function(h).is_static && !routines.contains(&h) {
            routines.push(h);
        }
    }
    let mut out = Vec::new();
    for g in routines {
        let gf = index.function(g);
        for c in f.calls.iter().filter(|c| c.caller == Some(g.func as u32)) {
            let get = owners.takes_reference(&c.callee);
            if !get && !owners.is_unpin_routine(&c.callee) {
                continue;
            }
            let Some(arg) = c.args.first() else { continue };
            let written = squeeze(arg);
            let Some(key) = comparable(index, gf, &written, owners) else {
                continue;
            };
            out.push(RefCall {
                call: c,
                func: g,
                key,
                written,
                get,
            });
        }
    }
    out
}

/// A module expression two routines can compare: the module itself as is, a path from a
/// parameter or local with its root replaced by the root's structure, a file-scope name as is.
/// `None` for an expression whose root is an untyped local (a different value in each routine).
fn comparable(index: &Index, function: &Function, expr: &str, owners: &OwnersKb) -> Option<String> {
    if expr == owners.this_module {
        return Some(expr.to_string());
    }
    let body = expr.trim_start_matches(['(', '&', '*']);
    let end = body.find(|c: char| !is_ident_char(c)).unwrap_or(body.len());
    let (root, rest) = body.split_at(end);
    if root.is_empty() {
        return None;
    }
    if let Some(st) = index.local_struct(function, root) {
        return Some(format!("struct {st}{rest}"));
    }
    let local = function.locals.iter().any(|l| l == root)
        || function
            .params
            .iter()
            .any(|p| p.name.as_deref() == Some(root));
    (!local).then(|| body.to_string())
}

fn squeeze(expr: &str) -> String {
    expr.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The puts on a path without a reference, in the routines of file `f` that take one.
fn on_paths(f: &FileFacts, owners: &OwnersKb) -> Vec<Unbalanced> {
    let mut out = Vec::new();
    for (func, function) in f.functions.iter().enumerate() {
        if function.body.is_empty() {
            continue;
        }
        let func = func as u32;
        let mine = || {
            f.calls
                .iter()
                .enumerate()
                .filter(move |(_, c)| c.caller == Some(func))
        };
        // Module expressions the routine both takes and drops.
        let mut by_target: HashMap<String, (Vec<u32>, Vec<u32>)> = HashMap::default();
        for (i, c) in mine() {
            let Some(arg) = c.args.first() else { continue };
            let entry = by_target.entry(squeeze(arg)).or_default();
            if owners.takes_reference(&c.callee) {
                entry.0.push(i as u32);
            } else if owners.is_unpin_routine(&c.callee) {
                entry.1.push(i as u32);
            }
        }
        let unmodelled = unmodelled_calls(function, &f.calls, func);
        let mut targets: Vec<_> = (by_target.into_iter())
            .filter(|(_, (gets, puts))| !gets.is_empty() && !puts.is_empty())
            .filter(|(_, (gets, puts))| !gets.iter().chain(puts).any(|i| unmodelled.contains(i)))
            .collect();
        targets.sort_by(|a, b| a.0.cmp(&b.0));
        for (target, (gets, _)) in targets {
            let first_get = gets.iter().map(|&i| f.calls[i as usize].line).min();
            if first_get.is_some_and(|line| rewritten_after(f, function, func, &target, line)) {
                continue;
            }
            // The puts reached with no reference when a get may fail, less those reached so
            // even when every get succeeds: what is left is a put on a get's failure path.
            // The others belong to references the routine holds across calls (a state
            // machine's "up" takes one and its "down" drops it) or to paths the walk cannot
            // tell apart (two tests of one flag): not judged.
            let walk = |gets_succeed| {
                let oracle = RefOracle {
                    calls: &f.calls,
                    owners,
                    target: &target,
                    gets_succeed,
                };
                let rules = SlotRules {
                    discipline: Discipline::Pin,
                    fail: FailValue::Nonzero,
                };
                paths::analyse(function, &oracle, rules)
            };
            let (may_fail, succeed) = (walk(false), walk(true));
            if may_fail.incomplete || succeed.incomplete {
                continue;
            }
            let Some(&at) = (may_fail.dec_without_inc.iter())
                .filter(|s| !succeed.dec_without_inc.iter().any(|t| t.start == s.start))
                .min_by_key(|s| s.start)
            else {
                continue;
            };
            let Some(put) = (f.calls.iter())
                .filter(|c| c.caller == Some(func) && owners.is_unpin_routine(&c.callee))
                .find(|c| {
                    c.line == at.line && c.args.first().is_some_and(|a| squeeze(a) == target)
                })
            else {
                continue;
            };
            let get = &f.calls[gets[0] as usize];
            let at_call = |c: &Call| RefSite {
                function: function.name.to_string(),
                file: f.path.to_string(),
                at: Span::at(c.line, c.column),
                routine: c.callee.to_string(),
            };
            out.push(Unbalanced::OnPath {
                target,
                put: at_call(put),
                get: at_call(get),
            });
        }
    }
    out
}

/// Whether the module expression may name another module after line `from`: its root
/// variable is assigned (`if (!try_module_get(mod)) mod = NULL;`, after which the put is of
/// nothing), or a member on its path is (`vc->vc_sw = new` before `module_put(vc->vc_sw->owner)`).
fn rewritten_after(f: &FileFacts, function: &Function, func: u32, target: &str, from: u32) -> bool {
    let body = target.trim_start_matches(['(', '&', '*']);
    let end = body.find(|c: char| !is_ident_char(c)).unwrap_or(body.len());
    let root = &body[..end];
    let assigned = (function.body.stmts.iter())
        .filter(|s| s.span.line >= from)
        .flat_map(stmt_exprs)
        .any(|e| e.assigns.iter().any(|a| a.var == root));
    let member = (f.field_assigns.iter())
        .filter(|a| a.caller == Some(func) && a.line >= from)
        .any(|a| {
            let path = format!("{}->{}", squeeze(&a.base), a.field);
            let dotted = format!("{}.{}", squeeze(&a.base), a.field);
            [path, dotted].iter().any(|p| {
                body.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with("->") || rest.starts_with('.'))
            })
        });
    assigned || member
}

/// Calls the path walk cannot place: under `&&`/`||` (it evaluates both sides), inside a
/// loop (it merges iterations), or behind a label a later `goto` jumps back to.
fn unmodelled_calls(function: &Function, calls: &[Call], func: u32) -> HashSet<u32> {
    fn walk(v: &Value, under: bool, out: &mut HashSet<u32>) {
        match v {
            Value::Call(i) if under => {
                out.insert(*i);
            }
            Value::Not(a) => walk(a, under, out),
            Value::Cmp(a, _, b) => {
                walk(a, under, out);
                walk(b, under, out);
            }
            Value::And(a, b) | Value::Or(a, b) => {
                walk(a, true, out);
                walk(b, true, out);
            }
            _ => {}
        }
    }
    let mut out = HashSet::default();
    for e in function.body.exprs() {
        walk(&e.value, false, &mut out);
    }
    // A call inside another call's argument (`unlikely(!get(..))`): the walk may not tie the
    // outer call's value to the get's, and so not see which branch the get's failure takes.
    let mine = || (calls.iter().enumerate()).filter(|(_, c)| c.caller == Some(func));
    for (i, c) in mine() {
        let wrapped = mine().filter(|(j, w)| *j != i && w.line == c.line);
        if (wrapped.flat_map(|(_, w)| w.args.iter())).any(|a| a.contains(&*c.callee)) {
            out.insert(i as u32);
        }
    }
    let stmts = &function.body.stmts;
    let loops: Vec<(u32, u32)> = (stmts.iter())
        .filter(|s| {
            matches!(
                s.kind,
                StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. }
            )
        })
        .map(|s| (s.span.start, s.span.end))
        .collect();
    let back_jumps: Vec<(u32, u32)> = (stmts.iter())
        .filter_map(|s| match &s.kind {
            StmtKind::Label { name, .. } => (stmts.iter())
                .filter(|g| matches!(&g.kind, StmtKind::Goto(to) if to == name))
                .map(|g| g.span.start)
                .max()
                .filter(|&g| g > s.span.start)
                .map(|g| (s.span.start, g)),
            _ => None,
        })
        .collect();
    for s in stmts {
        let in_loop =
            (loops.iter().chain(&back_jumps)).any(|&(a, b)| a <= s.span.start && s.span.start < b);
        if !in_loop {
            continue;
        }
        for e in stmt_exprs(s) {
            for ev in &e.events {
                if let Event::Call(i) = ev {
                    out.insert(*i);
                }
            }
        }
    }
    out
}

fn stmt_exprs(s: &crate::facts::Stmt) -> Vec<&Expr> {
    match &s.kind {
        StmtKind::Expr(e)
        | StmtKind::Declare(e)
        | StmtKind::If { cond: e, .. }
        | StmtKind::Switch { cond: e, .. }
        | StmtKind::While { cond: e, .. }
        | StmtKind::DoWhile { cond: e, .. } => vec![e],
        StmtKind::Return(Some(e)) => vec![e],
        _ => Vec::new(),
    }
}

/// The count of one module expression: gets raise it (`try_module_get` where it succeeds),
/// puts lower it, nothing else touches it.
struct RefOracle<'a> {
    calls: &'a [Call],
    owners: &'a OwnersKb,
    target: &'a str,
    /// Read every get as taking its reference.
    gets_succeed: bool,
}

impl CallOracle for RefOracle<'_> {
    fn may_sleep(&self, _call: u32) -> bool {
        false
    }

    fn call_effect(&self, call: u32) -> CountEffect {
        let Some(c) = self.calls.get(call as usize) else {
            return CountEffect::None;
        };
        if c.args.first().is_none_or(|a| squeeze(a) != self.target) {
            return CountEffect::None;
        }
        let o = self.owners;
        if o.is_pin_routine(&c.callee) && !self.gets_succeed {
            CountEffect::Split(Outcomes::pins_when(true))
        } else if o.takes_reference(&c.callee) {
            CountEffect::Increment
        } else if o.is_unpin_routine(&c.callee) {
            CountEffect::Decrement
        } else {
            CountEffect::None
        }
    }

    fn name_effect(&self, _name: &str) -> CountEffect {
        CountEffect::None
    }
}
