//! References a routine takes on a module and keeps on a failure path: after a successful
//! `try_module_get(X)` (or `__module_get(X)`), a return that fails (a negative errno, `NULL`)
//! with no `module_put(X)` on the way leaves X pinned for good.
//!
//! Each routine that takes a reference is walked once per module expression it pins, with the
//! use-count path analysis ([`crate::paths`]): the get raises the count on the paths where it
//! succeeds (its own failure branch is not a leak), the put lowers it, and a routine that
//! returns success with the reference held hands it to whatever it set up (the `Pin`
//! discipline: an open routine whose release puts).

use rayon::prelude::*;

use crate::ctext::is_ident_char;
use crate::facts::{Call, Event, Expr, FieldAssign, Function, Span, StmtKind, Text, Value};
use crate::index::Index;
use crate::kb::{Kb, OwnersKb};
use crate::paths::{self, CallOracle, CountEffect, Discipline, Outcomes, SlotRules};

use super::puts::PutSummaries;
use crate::usecount::fail_value;

/// A failure return that keeps a module reference.
#[derive(Debug, Clone)]
pub struct GetLeak {
    pub function: String,
    pub file: String,
    /// The module expression pinned, as written (spaces dropped).
    pub target: String,
    /// The routine that took the reference.
    pub get_routine: String,
    pub get_at: Span,
    pub return_at: Span,
    /// The routine that drops it, to name in the help.
    pub put_routine: String,
}

/// Every leaking failure return in the tree, by file and line.
pub fn get_leaks(index: &Index, kb: &Kb) -> Vec<GetLeak> {
    let owners = &kb.data.owners;
    let Some(put) = owners.unpin_routines.first() else {
        return Vec::new();
    };
    let mut leaks: Vec<GetLeak> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let f = &index.files[fi];
            let puts = PutSummaries::new(index, owners);
            let mut out = Vec::new();
            for (func, function) in f.functions.iter().enumerate() {
                if function.body.is_empty() || returns_nothing(function) {
                    continue;
                }
                for (target, get_routine) in
                    targets(function, &f.calls, &f.field_assigns, func as u32, owners)
                {
                    let report = walk(fi, &f.calls, function, &target, owners, &puts);
                    // One finding per reference: the first leaking return that fails by
                    // what it returns (`-EIO`, `NULL`), not by the walk's reading of a variable.
                    let definite = report
                        .leaks
                        .iter()
                        .filter(|l| fails_as_written(function, &f.calls, owners, l.1));
                    if let Some(&(get_at, return_at)) = definite.min_by_key(|l| l.1.start) {
                        out.push(GetLeak {
                            function: function.name.to_string(),
                            file: f.path.to_string(),
                            target: target.clone(),
                            get_routine,
                            get_at,
                            return_at,
                            put_routine: put.clone(),
                        });
                    }
                }
            }
            out
        })
        .collect();
    leaks.sort_by(|a, b| {
        (&a.file, a.return_at.line, &a.target).cmp(&(&b.file, b.return_at.line, &b.target))
    });
    leaks
}

/// The reference walk of one module expression in one routine.
fn walk(
    file: usize,
    calls: &[Call],
    function: &Function,
    target: &str,
    owners: &OwnersKb,
    puts: &PutSummaries,
) -> paths::PathReport {
    let oracle = GetOracle {
        file,
        calls,
        owners,
        target,
        puts,
    };
    let rules = SlotRules {
        discipline: Discipline::Pin,
        fail: fail_value(function),
    };
    paths::analyse(function, &oracle, rules)
}

/// The failure returns (their spans) of `function`, of file `file` with the calls `calls` (a
/// patched text's, for a fix's re-check), that keep the reference on the module expression
/// `target` (as written; spaces do not count), and the puts on paths that never took it.
pub fn leaking_returns(
    index: &Index,
    kb: &Kb,
    file: usize,
    calls: &[Call],
    function: &Function,
    target: &str,
) -> Vec<Span> {
    let owners = &kb.data.owners;
    let puts = PutSummaries::new(index, owners);
    let report = walk(file, calls, function, &squeeze(target), owners, &puts);
    let mut out: Vec<Span> = report.leaks.iter().map(|l| l.1).collect();
    out.extend(report.maybe_leaks.iter().copied());
    out.extend(report.dec_without_inc.iter().copied());
    out
}

/// The return at `at` returns a literal failure: a negated error code, a negative number or a
/// null pointer, written in the return or assigned to the returned variable by the statement
/// just before it (`err = -ENOMEM; return err;`).
fn fails_as_written(function: &Function, calls: &[Call], owners: &OwnersKb, at: Span) -> bool {
    // A routine that fails with an error pointer (`ERR_PTR(-ENOENT)`) may succeed with NULL.
    let error_pointer = |v: &Value| matches!(v, Value::Call(i) if calls.get(*i as usize).is_some_and(|c| owners.is_error_pointer_routine(&c.callee)));
    let null_succeeds = function.body.stmts.iter().any(
        |s| matches!(&s.kind, StmtKind::Return(Some(Expr { value, .. })) if error_pointer(value)),
    );
    let fails = |value: &Value| match value {
        Value::NegErrno(_) => true,
        Value::Null => !null_succeeds,
        Value::Int(n) => *n < 0,
        _ => false,
    };
    let stmts = &function.body.stmts;
    let Some(ret) = stmts.iter().position(|s| s.span.start == at.start) else {
        return false;
    };
    match &stmts[ret].kind {
        StmtKind::Return(Some(Expr {
            value: Value::Var(var),
            ..
        })) => set_just_before(stmts, ret as u32).is_some_and(|e| {
            (e.assigns.iter().rev())
                .find(|a| a.var == *var)
                .is_some_and(|a| fails(&a.value))
        }),
        StmtKind::Return(Some(Expr { value, .. })) => fails(value),
        _ => false,
    }
}

/// The expression statement right before statement `id` in its block (`err = -ENOMEM;` before
/// `return err;`): what it assigns is what the return returns.
fn set_just_before(stmts: &[crate::facts::Stmt], id: u32) -> Option<&Expr> {
    let items = stmts.iter().find_map(|s| match &s.kind {
        StmtKind::Block(items) if items.contains(&id) => Some(items),
        _ => None,
    })?;
    let k = items.iter().position(|&i| i == id)?;
    let before = *items.get(k.checked_sub(1)?)?;
    match &stmts[before as usize].kind {
        StmtKind::Expr(e) => Some(e),
        _ => None,
    }
}

/// A `void` routine cannot say it failed.
fn returns_nothing(function: &Function) -> bool {
    function.return_type.trim() == "void"
}

/// The module expressions routine `func` takes a reference on, each with the first routine
/// that takes it. Not judged: a get that follows a put of the same expression in the routine
/// (the reference outlives the call: one event takes it, another drops it), and a get inside
/// another call's argument that is a test (`unlikely(a && !get(..))`): the walk reads `&&`
/// and `||` only in conditions and returned values.
fn targets(
    function: &Function,
    calls: &[Call],
    fields: &[FieldAssign],
    func: u32,
    owners: &OwnersKb,
) -> Vec<(String, String)> {
    let mut short_circuit = Vec::new();
    for (i, c) in calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.caller == Some(func))
    {
        let wrapped = calls
            .iter()
            .filter(|w| w.caller == Some(func) && w.line == c.line);
        let tested = |a: &Text| (a.contains("&&") || a.contains("||")) && a.contains(&*c.callee);
        if wrapped.flat_map(|w| w.args.iter()).any(tested) {
            short_circuit.push(i as u32);
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let this_module = owners.this_module.as_str();
    for (i, c) in calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.caller == Some(func))
    {
        if short_circuit.contains(&(i as u32)) {
            if let Some(arg) = c.args.first() {
                skipped.push(squeeze(arg));
            }
            continue;
        }
        let gets = owners.takes_reference(&c.callee);
        let Some(arg) = c.args.first().filter(|_| gets) else {
            continue;
        };
        let target = squeeze(arg);
        // Not judged: a get in a loop (the walk merges iterations), or whose module is reached
        // from a variable the routine then stores in another object's field (put later
        // through that field).
        let handed = root_of(&target)
            .filter(|_| target != this_module)
            .is_some_and(|root| stored_in_field(fields, func, c.line, root));
        // A routine that drops the same reference before it takes it (an event handler
        // that gets on one event and puts on another) keeps it across calls.
        let put_first = (calls.iter()).any(|p| {
            p.caller == Some(func)
                && p.line < c.line
                && owners.is_unpin_routine(&p.callee)
                && p.args.first().is_some_and(|a| squeeze(a) == target)
        });
        if in_loop(function, i as u32) || handed || put_first {
            skipped.push(target);
            continue;
        }
        if !out.iter().any(|(t, _)| *t == target) {
            out.push((target, c.callee.to_string()));
        }
    }
    out.retain(|(t, _)| !skipped.contains(t));
    out
}

/// The variable a module expression starts from: `client` in `client->dev.driver->owner`.
fn root_of(target: &str) -> Option<&str> {
    let t = target.trim_start_matches(['(', '&', '*']);
    let end = t.find(|c: char| !is_ident_char(c)).unwrap_or(t.len());
    (end > 0 && end < t.len()).then(|| &t[..end])
}

/// Whether `root` is stored into a field (`port->client = client`) at or after line `from` of
/// routine `func`: the field then keeps the reference, and whatever reads it back (an error
/// label, a remove routine) may put it. Not a store of `root`: a value computed from it
/// (`rdev->supply = create(supply_rdev)`), a field of the object itself (`new->priv =
/// new->ops->init()`), a call given it (`kfree(new)`; a call that takes the reference over
/// is a put in the walk's summaries).
fn stored_in_field(fields: &[FieldAssign], func: u32, from: u32, root: &str) -> bool {
    (fields.iter())
        .filter(|a| a.caller == Some(func) && a.line >= from)
        .any(|a| {
            let value = squeeze(&a.value);
            let stores = value == root || root_of(&value) == Some(root);
            stores && !has_word(&a.base, root)
        })
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
    })
}

/// Whether call `call` runs inside a loop of the routine: a `for`/`while`/`do` around it, or
/// a label before it that a later `goto` jumps back to.
fn in_loop(function: &Function, call: u32) -> bool {
    let stmts = &function.body.stmts;
    fn exprs(s: &crate::facts::Stmt) -> Vec<&Expr> {
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
    let Some(at) = stmts
        .iter()
        .find(|s| {
            exprs(s)
                .iter()
                .any(|e| e.events.contains(&Event::Call(call)))
        })
        .map(|s| s.span.start)
    else {
        return false;
    };
    let looped = stmts.iter().any(|s| {
        matches!(
            s.kind,
            StmtKind::While { .. } | StmtKind::DoWhile { .. } | StmtKind::For { .. }
        ) && s.span.start <= at
            && at < s.span.end
    });
    let back_jump = stmts.iter().any(|s| match &s.kind {
        StmtKind::Label { name, .. } if s.span.start < at => stmts
            .iter()
            .any(|g| matches!(&g.kind, StmtKind::Goto(to) if to == name) && g.span.start > at),
        _ => false,
    });
    looped || back_jump
}

fn squeeze(expr: &str) -> String {
    expr.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The count of one module expression: gets raise it, puts lower it, nothing else touches it.
struct GetOracle<'a> {
    file: usize,
    calls: &'a [Call],
    owners: &'a OwnersKb,
    target: &'a str,
    puts: &'a PutSummaries<'a>,
}

impl CallOracle for GetOracle<'_> {
    fn may_sleep(&self, _call: u32) -> bool {
        false
    }

    fn call_effect(&self, call: u32) -> CountEffect {
        let Some(c) = self.calls.get(call as usize) else {
            return CountEffect::None;
        };
        let o = self.owners;
        if c.args.first().is_none_or(|a| squeeze(a) != self.target) {
            let helper = !c.indirect && !o.is_unpin_routine(&c.callee);
            if helper && self.puts.routine_puts(self.file, &c.callee) {
                return CountEffect::Decrement;
            }
            // From here on the object the call sets up owns the reference.
            if c.args.iter().any(|a| self.puts.hands_over(self.file, a)) {
                return CountEffect::Decrement;
            }
            return CountEffect::None;
        }
        if o.is_pin_routine(&c.callee) {
            // Succeeds (true) when it took the reference.
            CountEffect::Split(Outcomes::pins_when(true))
        } else if o.is_self_pin_routine(&c.callee) {
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

    fn short_circuits(&self) -> bool {
        true
    }
}
