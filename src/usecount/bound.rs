//! Opens of a bound device (issue 13): the open is safe because it does nothing until it has
//! found a device that a pinning routine of its module bound.
//!
//! usb-serial's and bluetooth's tty opens (2.2 to 2.4) never pin: the tty driver is registered
//! at init, but the open first looks its device up in the file's device table
//! (`serial = get_serial_by_minor(MINOR(tty->device))`) and fails (`-ENODEV`) when the lookup
//! yields nothing; a device is in the table only between the probe, which pins the module when
//! it binds a device, and the disconnect, which empties the slot and drops that pin. So the
//! open's every success runs under the probe's pin, and before the test it calls nothing.
//!
//! The model, read off the tree; all of these must hold:
//! - **the lookup**: a function of the open's file that returns a pointer to a struct `S`, has
//!   no parameter of that type and calls nothing that does work (only empty or pure macros):
//!   what it returns it read from the file's storage; or a read of an element of a file-scope
//!   array of pointers to `S` itself (2.4's videodev: `vfl = video_device[minor]`);
//! - **the table**: every variable of the file of type `S` is a static array (of pointers),
//!   and every store of a value other than NULL or 0 into one (`table[i] = dev`) sits in a
//!   function whose every way in is covered by a pin of the module ([`super::cover`]: it pins
//!   whenever it succeeds, or each of its callers does; the probe, or the allocator only the
//!   probe calls);
//! - **the test**: the open assigns the lookup's result to a local `v`, and every path from
//!   its start to a return that may succeed goes through a branch that holds only when `v` is
//!   not null: `if (!v) return -ENODEV;`, `v == NULL`, `!v || ...`, or a call of a function the
//!   file sees (its own, or a header's) that returns nonzero when its pointer argument is null (`if (x_paranoia_check(v,
//!   ...)) return -ENODEV;`, whose first test is `if (!v) return -1;`);
//! - **nothing before it**: on those paths, up to the test, the open calls only the lookup,
//!   such checks and macros that do no work, or runs with its own count raised (videodev
//!   raises and drops it around the `request_module` that may load a device's driver).
//!
//! That the disconnect empties the slot before it drops the pin is assumed, not checked (the
//! judged trees all do). A real MR003 stays: an open that sleeps, allocates or calls anything
//! before its test, or that can succeed without a device, or whose table the module's init
//! fills unpinned.

use super::{cover, FileOracle, NeverSleeps, UseCountKnowledge};
use crate::cfg::{Cfg, Op, ENTRY};
use crate::entries::Entry;
use crate::facts::{CmpOp, Event, Function, StmtKind, Value};
use crate::index::{FnRef, Index};
use crate::kb::Kb;
use crate::paths::CountEffect;

/// The lookup and the routine whose pin holds the device, when the open of `entry` is one of a
/// bound device.
pub fn bound(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
) -> Option<(String, String)> {
    let file = index.file_by_path(&entry.file)?;
    let open = index.resolve_function(file, &entry.function)?;
    let calls = &index.files[file].calls;
    let oracle = FileOracle::new(index, kb, file, calls, &NeverSleeps, &known.helpers);
    let function = index.function(open);
    // The locals assigned a lookup's result, with the lookup and its binder.
    for a in function.body.exprs().flat_map(|e| e.assigns.iter()) {
        if let Value::Element(table) = &a.value {
            let facts = &index.files[file];
            let ty = facts.var_types.iter().find(|(n, _)| n == table);
            let Some(binder) = ty.and_then(|(_, ty)| tables_binder(&oracle, file, ty)) else {
                continue;
            };
            let test = Test {
                oracle: &oracle,
                var: a.var.as_str(),
                lookup: None,
            };
            if test.guards(function) {
                return Some((format!("{table}[]"), binder));
            }
            continue;
        }
        let Value::Call(c) = a.value else { continue };
        let Some(call) = calls.get(c as usize).filter(|c| !c.indirect) else {
            continue;
        };
        let Some(lookup) = index.resolve_function(file, &call.callee) else {
            continue;
        };
        if lookup.file != file {
            continue;
        }
        let Some(binder) = binder(&oracle, lookup) else {
            continue;
        };
        let test = Test {
            oracle: &oracle,
            var: a.var.as_str(),
            lookup: Some(c),
        };
        if test.guards(function) {
            return Some((index.function(lookup).name.to_string(), binder));
        }
    }
    None
}

/// The struct a pointer type points to (`struct usb_serial *` gives `usb_serial`).
fn pointee(index: &Index, ty: &str) -> Option<String> {
    if !ty.contains('*') {
        return None;
    }
    let word = ty.replace('*', " ");
    let word = word.split_whitespace().last()?;
    Some(index.struct_name(word).to_string())
}

/// The pinning routine that fills the table `lookup` reads, when `lookup` is a pure read of
/// the file's device table (see the module docs).
fn binder(oracle: &FileOracle, lookup: FnRef) -> Option<String> {
    let index = oracle.index;
    let facts = &index.files[lookup.file];
    let f = index.function(lookup);
    let strukt = pointee(index, &f.return_type)?;
    let of_type = |ty: &str| index.struct_name(ty.trim_end_matches(['*', ' '])) == strukt;
    if f.params.iter().any(|p| of_type(&p.ty)) {
        return None;
    }
    let own_calls =
        (facts.calls.iter().enumerate()).filter(|(_, c)| c.caller == Some(lookup.func as u32));
    if own_calls.clone().any(|(k, _)| !oracle.is_quiet(k as u32)) {
        return None;
    }
    tables_binder(oracle, lookup.file, &strukt)
}

/// The pinning routine that fills the file's tables of struct `strukt` (named as a type is
/// written), when every one of them is filled only under such a pin.
fn tables_binder(oracle: &FileOracle, file: usize, strukt: &str) -> Option<String> {
    let index = oracle.index;
    let facts = &index.files[file];
    let strukt = index.struct_name(strukt.trim_end_matches(['*', ' ']));
    // The file's storage of `S`: every file-scope name of that type (pointer arrays are not
    // among the facts' tables, their types are) must be an array the file stores into, and
    // none a table by value.
    let tables: Vec<&str> = (facts.var_types.iter())
        .filter(|(_, ty)| index.struct_name(ty) == strukt)
        .map(|(name, _)| name.as_str())
        .collect();
    let stored = |t: &str| facts.element_stores.iter().any(|s| s.array == t);
    let by_value = |t: &str| facts.variables.iter().any(|v| v.name == t && !v.is_array);
    if tables.is_empty() || tables.iter().any(|&t| !stored(t) || by_value(t)) {
        return None;
    }
    let mut first = None;
    for store in (facts.element_stores.iter())
        .filter(|s| tables.contains(&s.array.as_str()) && !is_null(&s.value))
    {
        let pin = cover::pinned_ways_in(oracle, store.caller as usize)?;
        first.get_or_insert(pin);
    }
    first
}

fn is_null(value: &str) -> bool {
    let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(v.trim_start_matches("(void*)"), "0" | "NULL" | "((void*)0)")
}

/// The open's test of the lookup's result.
struct Test<'a> {
    oracle: &'a FileOracle<'a>,
    var: &'a str,
    /// The lookup's call (none for a read of the table itself).
    lookup: Option<u32>,
}

impl Test<'_> {
    /// Whether every path to a return that may succeed passes a branch edge on which the
    /// local is not null, calling nothing but the lookup, the checks and no-op macros before.
    fn guards(&self, function: &Function) -> bool {
        let cfg = Cfg::build(&function.body);
        let pointer = function.return_type.contains('*');
        // Per node, whether it was reached with the count down and with it raised.
        let mut seen = vec![[false; 2]; cfg.nodes.len()];
        let mut work = vec![(ENTRY, false)];
        let mut assigned = false;
        let mut cut = false;
        while let Some((id, mut raised)) = work.pop() {
            if std::mem::replace(&mut seen[id][raised as usize], true) {
                continue;
            }
            let node = cfg.node(id);
            let mut succ: Vec<usize> = node.succ.clone();
            match node.op {
                Op::Nop => {}
                Op::Eval(e) | Op::Branch(e) => {
                    let Some(r) = self.calls_allowed(&e.events, &e.value, raised) else {
                        return false;
                    };
                    raised = r;
                    assigned |= e.assigns.iter().any(|a| a.var == self.var);
                    if let (Op::Branch(_), true) = (&node.op, assigned) {
                        // Cut the edge on which the local is known to be set.
                        let keep = match self.nonnull_edge(&e.value) {
                            Some(true) => Some(1),
                            Some(false) => Some(0),
                            None => None,
                        };
                        if let Some(k) = keep {
                            succ = node.succ.get(k).copied().into_iter().collect();
                            cut = true;
                        }
                    }
                }
                Op::Return(e) => {
                    if !e.is_some_and(|e| is_failure(&e.value, pointer)) {
                        return false;
                    }
                    continue;
                }
            }
            work.extend(succ.into_iter().map(|s| (s, raised)));
        }
        // The walk must have met the test: some branch edge was cut.
        cut
    }

    /// Whether the events are only the lookup, null checks of the local, no-op macros and
    /// calls made with the count raised (`raised` before them): the count after them, if so.
    fn calls_allowed(&self, events: &[Event], value: &Value, raised: bool) -> Option<bool> {
        let mut raised = raised;
        for ev in events {
            let allowed = match ev {
                Event::Call(c) => {
                    raised
                        || Some(*c) == self.lookup
                        || self.oracle.is_quiet(*c)
                        || (mentions_call(value, *c) && self.null_check(*c))
                }
                Event::Name(n) => {
                    match self.oracle.effect_of_name(n) {
                        Some(CountEffect::Increment) => raised = true,
                        Some(CountEffect::Decrement) => raised = false,
                        _ => {}
                    }
                    true
                }
                Event::Bump { .. } | Event::Step { .. } => true,
            };
            if !allowed {
                return None;
            }
        }
        Some(raised)
    }

    /// Which edge of a branch on `v` implies the local is not null: `Some(true)` for the
    /// true edge (`if (v)`, `v != NULL`), `Some(false)` for the false one (`!v`, a check).
    fn nonnull_edge(&self, v: &Value) -> Option<bool> {
        match v {
            Value::Var(x) if x == self.var => Some(true),
            Value::Not(a) => self.nonnull_edge(a).map(|e| !e),
            Value::Cmp(a, op, b) => {
                let (x, k) = match (&**a, &**b) {
                    (Value::Var(x), k) | (k, Value::Var(x)) => (x, k),
                    _ => return None,
                };
                let zero = matches!(k, Value::Null | Value::Int(0));
                match op {
                    CmpOp::Eq if zero && x == self.var => Some(false),
                    CmpOp::Ne if zero && x == self.var => Some(true),
                    _ => None,
                }
            }
            Value::Call(c) if self.null_check(*c) => Some(false),
            Value::Or(a, b) => [a, b]
                .iter()
                .any(|x| self.nonnull_edge(x) == Some(false))
                .then_some(false),
            Value::And(a, b) => [a, b]
                .iter()
                .any(|x| self.nonnull_edge(x) == Some(true))
                .then_some(true),
            _ => None,
        }
    }

    /// Whether call `c` passes the local to a function the file sees that returns nonzero when
    /// that argument is null (its first test of the parameter, before any return).
    fn null_check(&self, c: u32) -> bool {
        let (index, file) = (self.oracle.index, self.oracle.file);
        let Some(call) = index.files[file].calls.get(c as usize) else {
            return false;
        };
        let Some(k) = call.args.iter().position(|a| a.trim() == self.var) else {
            return false;
        };
        if call.indirect {
            return false;
        }
        let Some(f) = (index.resolve_function(file, &call.callee))
            .or_else(|| header_static(index, file, &call.callee))
        else {
            return false;
        };
        let function = index.function(f);
        let Some(param) = function.params.get(k).and_then(|p| p.name.as_deref()) else {
            return false;
        };
        let inner = Test {
            oracle: self.oracle,
            var: param,
            lookup: None,
        };
        let body = &function.body;
        let Some(StmtKind::Block(top)) = body.stmts.first().map(|s| &s.kind) else {
            return false;
        };
        for &id in top {
            match &body.stmt(id).kind {
                StmtKind::If {
                    cond,
                    then: then_id,
                    ..
                } if inner.nonnull_edge_plain(&cond.value) == Some(false) => {
                    return returns_failure(body, *then_id);
                }
                StmtKind::Return(_) => return false,
                _ => {}
            }
        }
        false
    }

    /// [`Self::nonnull_edge`] without calls (a check's own test of its parameter).
    fn nonnull_edge_plain(&self, v: &Value) -> Option<bool> {
        match v {
            Value::Call(_) => None,
            Value::Not(a) => self.nonnull_edge_plain(a).map(|e| !e),
            Value::Or(a, b) => [a, b]
                .iter()
                .any(|x| self.nonnull_edge_plain(x) == Some(false))
                .then_some(false),
            other => self.nonnull_edge(other),
        }
    }
}

/// A static function `name` of a header beside `file` (`#include "x.h"`), which the index
/// keeps per header.
fn header_static(index: &Index, file: usize, name: &str) -> Option<FnRef> {
    let dir = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let here = dir(&index.files[file].path);
    (index.files.iter().enumerate())
        .filter(|(_, f)| f.path.ends_with(".h") && dir(&f.path) == here)
        .find_map(|(k, f)| {
            let func = f.functions.iter().position(|g| g.name == name)?;
            Some(FnRef { file: k, func })
        })
}

/// Whether statement `id` (a return, or a block holding one) returns a nonzero constant.
fn returns_failure(body: &crate::facts::Body, id: u32) -> bool {
    match &body.stmt(id).kind {
        StmtKind::Return(Some(e)) => is_failure(&e.value, false),
        StmtKind::Block(list) => list.iter().any(|&s| returns_failure(body, s)),
        _ => false,
    }
}

/// A returned value that can only be a failure: a nonzero constant, an error code, or a null
/// pointer from a pointer-returning routine.
fn is_failure(v: &Value, pointer: bool) -> bool {
    match v {
        Value::Int(k) => (*k == 0) == pointer,
        Value::NegErrno(_) => !pointer,
        Value::Null => pointer,
        _ => false,
    }
}

/// Whether `v` holds the call `c` (the call a branch tests).
fn mentions_call(v: &Value, c: u32) -> bool {
    match v {
        Value::Call(k) => *k == c,
        Value::Not(a) => mentions_call(a, c),
        Value::Cmp(a, _, b) | Value::And(a, b) | Value::Or(a, b) | Value::BitAnd(a, b) => {
            mentions_call(a, c) || mentions_call(b, c)
        }
        _ => false,
    }
}
