//! Put summaries for MR103: which calls drop a module reference for their caller.
//!
//! - **A routine of the tree that puts**, itself or through the routines it calls directly,
//!   up to [`PUT_DEPTH`] calls deep (`qdisc_put` -> `__qdisc_destroy` -> `module_put`).
//! - **A hand-over to an object whose destructor puts**: a call given a routine of the tree
//!   that puts (a deferred teardown, `call_rcu(.., frob_free)`), or the address of a table one
//!   of whose routines puts (`kobject_init(&c->kobj, &frob_ktype)` with a `release` that puts):
//!   from that call on the reference belongs to the object, and whatever drops the object
//!   drops the reference.
//!
//! Summaries are read off the tree, per routine that takes a reference, and remembered for the
//! walk of that routine only: the question is asked for the few calls of routines that get.

use std::cell::RefCell;

use rustc_hash::FxHashMap as HashMap;

use crate::index::{referenced_name, FnRef, Index, TableContent};
use crate::kb::OwnersKb;

/// How many calls deep a callee's body is read for a put: the callee itself and two levels of
/// the routines it calls.
const PUT_DEPTH: u32 = 3;

/// Which routines of the tree put, as far as one walk has asked.
pub(super) struct PutSummaries<'a> {
    index: &'a Index<'a>,
    owners: &'a OwnersKb,
    /// By routine and the depth it was read to.
    known: RefCell<HashMap<(usize, usize, u32), bool>>,
}

impl<'a> PutSummaries<'a> {
    pub(super) fn new(index: &'a Index<'a>, owners: &'a OwnersKb) -> Self {
        PutSummaries {
            index,
            owners,
            known: RefCell::default(),
        }
    }

    /// Whether `callee`, called from `file`, is a routine of the tree that puts some module
    /// reference, itself or through its own direct calls.
    pub(super) fn routine_puts(&self, file: usize, callee: &str) -> bool {
        self.index
            .resolve_function(file, callee)
            .is_some_and(|r| self.puts(r, PUT_DEPTH))
    }

    /// Whether argument `arg` of a call from `file` hands the reference to an object that puts
    /// it when it goes: a routine that puts, or the address of a table holding one.
    pub(super) fn hands_over(&self, file: usize, arg: &str) -> bool {
        let Some(name) = referenced_name(arg) else {
            return false;
        };
        if let Some(r) = self.index.resolve_function(file, name) {
            return self.puts(r, PUT_DEPTH - 1);
        }
        if !arg.trim_start().starts_with('&') {
            return false;
        }
        let Some(var) = self.index.resolve_variable(file, name) else {
            return false;
        };
        let v = self.index.variable(var);
        if v.is_array {
            return false;
        }
        let strukt = self.index.struct_name(&v.type_name).to_string();
        self.index
            .table_values(var, &strukt)
            .iter()
            .any(|t| match &t.value {
                TableContent::Expr(e) => referenced_name(e)
                    .and_then(|n| self.index.resolve_function(t.file, n))
                    .is_some_and(|r| self.puts(r, PUT_DEPTH - 1)),
                TableContent::List(_) => false,
            })
    }

    fn puts(&self, r: FnRef, depth: u32) -> bool {
        if depth == 0 {
            return false;
        }
        let key = (r.file, r.func, depth);
        if let Some(&known) = self.known.borrow().get(&key) {
            return known;
        }
        // A cycle reads as "does not put" until its answer is in.
        self.known.borrow_mut().insert(key, false);
        let facts = &self.index.files[r.file];
        let own = (facts.calls.iter()).filter(|c| c.caller == Some(r.func as u32));
        let mut found = false;
        for c in own {
            if self.owners.is_unpin_routine(&c.callee)
                || self.owners.is_self_unpin_routine(&c.callee)
            {
                found = true;
                break;
            }
            if c.indirect || depth == 1 {
                continue;
            }
            if let Some(inner) = self.index.resolve_function(r.file, &c.callee) {
                if inner != r && self.puts(inner, depth - 1) {
                    found = true;
                    break;
                }
            }
        }
        self.known.borrow_mut().insert(key, found);
        found
    }
}
