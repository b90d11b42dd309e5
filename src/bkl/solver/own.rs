//! The caller's own object, called back: a slot call whose table is a parameter (or a member
//! of one: `handle->dev`) that every path reaching the call without the lock passes down from
//! a function that made the object itself — a global of its own file, or a local it
//! allocated (`port = kmalloc(..)`, then `gameport_register_port(&port->gameport)`). The call
//! then goes back into the module whose code (its probe, its init) is running, not into a
//! module that may be on its way out.
//!
//! The paths are the solver's: an in-edge that reaches the call only with the lock held
//! (module init registering a handler that connects to other modules' devices) is not
//! followed, so a library with both kinds of caller is judged on its unlocked ones. Followed
//! up through parameters, stores into a local's members before the call (`handle->dev = dev`)
//! and slot calls that pass the parameter on (`handler->connect(handler, dev)`); anything else
//! (a global list, a system call's argument, a member of someone else's object) ends the
//! model, and nothing is claimed. The caller that made the object must sit in another file
//! than the slot call (the library's own file calling it is the core calling itself).
//! Allocations are the knowledge base's (`[[sleep.primitive]]` of kind `alloc`) and the tree's
//! functions whose every return is NULL or a local assigned only from allocations
//! ([`allocators`], a few rounds deep: `usb_hid_configure` <- `hid_parse_report` <- `kmalloc`;
//! only functions whose bodies were kept count, all of them in `check`); a file-scope
//! object is one the file defines, or, for objects the index keeps no definition of (arrays of
//! pointers), one the file's own declarations name.
//!
//! The same walk accepts a core pin handed down: a parameter that every unlocked path passes
//! from a local its caller assigned only from calls returning a pinned table (`do_mount`'s
//! `fstype = get_fs_type(..)`, then `get_sb_nodev(fstype)` -> `read_super(type)` ->
//! `type->read_super`): `Protection::CorePin` at that call.

use rustc_hash::FxHashSet;

use super::{Solver, MAX_ENTRY_DEPTH};
use crate::bkl::flow::{returns_only, Flow, Returned};
use crate::bkl::Protection;
use crate::facts::Value;
use crate::index::FnRef;

/// Calls up from the slot call that are followed.
const MAX_LEVELS: usize = 12;

/// `(type *)x` -> `x`.
fn strip_cast(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('(') {
        if let Some(end) = rest.find(')') {
            let after = &rest[end + 1..];
            if !after.is_empty() {
                return after;
            }
        }
    }
    s
}

/// `abc->d.e` -> (`abc`, `->d.e`).
fn split_root(expr: &str) -> (&str, &str) {
    let end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    expr.split_at(end)
}

/// The expression a template stands for when its parameter (`@`) is the argument `arg`
/// (`&x` for `@->dev` is `x.dev`).
fn substitute(template: &str, arg: &str) -> String {
    match arg.strip_prefix('&') {
        Some(obj) if template.contains("@->") => template.replacen("@->", &format!("{obj}."), 1),
        _ => template.replacen('@', arg, 1),
    }
}

/// `expr` as a template of parameter `root` of the function (`&analog->dev` -> `&@->dev`),
/// when it is one.
fn template(expr: &str, param: impl Fn(&str) -> Option<usize>) -> Option<(usize, String)> {
    let amp = expr.starts_with('&');
    let (root, rest) = split_root(expr.trim_start_matches('&'));
    let j = param(root)?;
    Some((j, format!("{}@{rest}", if amp { "&" } else { "" })))
}

impl Solver<'_, '_> {
    /// The protection of a slot call at `call` of `f` through a table its unlocked callers
    /// pass down from their own objects (see the module docs).
    /// `alloc` tells the knowledge base's allocation routines.
    pub fn own_object(
        &self,
        flow: &Flow,
        alloc: &dyn Fn(&str) -> bool,
        f: FnRef,
        call: u32,
    ) -> Option<Protection> {
        let base = flow.base_of(f, call)?;
        let (k, t) = template(&base, |n| self.param_of(f, n))?;
        let mut seen = FxHashSet::default();
        let mut work = vec![(f, k, t, 0usize)];
        let mut by = None;
        let mut pinned = None;
        while let Some((g, k, rest, level)) = work.pop() {
            if level > MAX_LEVELS || !seen.insert((g, k, rest.clone())) {
                if level > MAX_LEVELS {
                    return None;
                }
                continue;
            }
            let &id = self.ids.get(&g)?;
            let node = &self.nodes[id];
            // Entered from outside the C code without the lock: the value is not the tree's.
            if node
                .pred
                .iter()
                .any(|p| matches!(p, Some(super::Pred::Root)))
                && node.entry & 1 != 0
            {
                return None;
            }
            for edge in &self.in_edges[id] {
                let Some(m) = edge.from_node else { continue };
                if !self.unheld_through(m, edge.deltas) {
                    continue;
                }
                let file = &self.g.index.files[edge.from.file];
                let c = &file.calls[edge.call as usize];
                let arg: String = c
                    .args
                    .get(k)?
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let expr = substitute(&rest, strip_cast(&arg));
                match self.origin(flow, alloc, edge.from, c.line, &expr)? {
                    Origin::Param(j, r) => work.push((edge.from, j, r, level + 1)),
                    // The library's own file calling it with its own table is the core
                    // calling itself, not a module calling back.
                    Origin::Own if edge.from.file == f.file => return None,
                    Origin::Own => {
                        by.get_or_insert_with(|| c.callee.to_string());
                    }
                    Origin::Pinned(by, line) => {
                        pinned.get_or_insert(Protection::CorePin { by, line });
                    }
                }
            }
        }
        by.map(|routine| Protection::Registering { routine })
            .or(pinned)
    }

    /// Whether a call entered from node `m` with `deltas` at the call runs without the lock on
    /// some path.
    fn unheld_through(&self, m: usize, deltas: super::Deltas) -> bool {
        let entry = self.nodes[m].entry;
        (0..=MAX_ENTRY_DEPTH)
            .filter(|d| entry & (1 << d) != 0)
            .any(|d| deltas.iter().any(|x| d + x < 1))
    }

    fn param_of(&self, f: FnRef, name: &str) -> Option<usize> {
        self.g
            .index
            .function(f)
            .params
            .iter()
            .position(|p| p.name.as_deref() == Some(name))
    }

    /// Where `expr`, as seen at `line` of `f`, comes from.
    fn origin(
        &self,
        flow: &Flow,
        alloc: &dyn Fn(&str) -> bool,
        f: FnRef,
        line: u32,
        expr: &str,
    ) -> Option<Origin> {
        if let Some(p) = crate::ctext::is_identifier(expr)
            .then(|| self.pinned_local(flow, f, expr))
            .flatten()
        {
            return Some(p);
        }
        let stores = flow.local_stores(f, line, expr);
        if !stores.is_empty() {
            // Every store must come from the same parameter, or be an object of `f`'s own.
            let mut found: Option<(usize, String)> = None;
            let mut own = 0;
            for (value, _) in &stores {
                let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                let v = strip_cast(&v);
                let Some(t) = template(v, |n| self.param_of(f, n)) else {
                    let (root, _) = split_root(v.trim_start_matches('&'));
                    if root.is_empty() || !self.is_own(alloc, f, root) {
                        return None;
                    }
                    own += 1;
                    continue;
                };
                if found.as_ref().is_some_and(|x| *x != t) {
                    return None;
                }
                found = Some(t);
            }
            return match found {
                Some((j, t)) if own == 0 => Some(Origin::Param(j, t)),
                None => Some(Origin::Own),
                Some(_) => None,
            };
        }
        if let Some((j, t)) = template(expr, |n| self.param_of(f, n)) {
            return Some(Origin::Param(j, t));
        }
        let (root, _) = split_root(expr.trim_start_matches('&'));
        if root.is_empty() {
            return None;
        }
        self.is_own(alloc, f, root).then_some(Origin::Own)
    }

    /// `name` is a local of `f` assigned only from calls that return a pinned table
    /// (`fstype = get_fs_type(type)`): the table's module cannot go while `f` uses it.
    fn pinned_local(&self, flow: &Flow, f: FnRef, name: &str) -> Option<Origin> {
        let function = self.g.index.function(f);
        let calls = &self.g.index.files[f.file].calls;
        let mut first = None;
        for e in function.body.exprs() {
            for a in e.assigns.iter().filter(|a| a.var == name) {
                match a.value {
                    Value::Call(c) if flow.is_pinned_call(f.file, c) => {
                        let c = &calls[c as usize];
                        first.get_or_insert(Origin::Pinned(c.callee.to_string(), c.line));
                    }
                    _ => return None,
                }
            }
        }
        first
    }

    /// `name` is an object `f` made: a global of its own file, or a local it assigns only from
    /// allocations.
    fn is_own(&self, alloc: &dyn Fn(&str) -> bool, f: FnRef, name: &str) -> bool {
        let index = self.g.index;
        let function = index.function(f);
        // The facts list parameters and struct-typed locals; a name the body assigns that is
        // no file-scope variable is a local too (`struct hid_device *hid;`).
        let assigned = || {
            (function.body.exprs()).any(|e| e.assigns.iter().any(|a| a.var == name))
                && index.resolve_variable(f.file, name).is_none()
        };
        let local = function.locals.iter().any(|l| l.as_str() == name)
            || index.is_local(f.file, f.func as u32, name)
            || assigned();
        if !local {
            // A file-scope object of the file (a table, or an array of pointers it fills).
            return match index.resolve_variable(f.file, name) {
                Some(v) => v.file == f.file,
                None => (index.files[f.file].var_types.iter()).any(|(n, _)| n.as_str() == name),
            };
        }
        let calls = &index.files[f.file].calls;
        let mut any = false;
        for e in function.body.exprs() {
            for a in e.assigns.iter().filter(|a| a.var == name) {
                let alloc = matches!(a.value, Value::Call(c)
                    if alloc(&calls[c as usize].callee));
                if !alloc {
                    return false;
                }
                any = true;
            }
        }
        any
    }
}

/// Rounds of "a function that returns what an allocator returned is an allocator".
const ALLOCATOR_ROUNDS: usize = 3;

/// The allocation routines (`base`) and the tree's functions whose every return is NULL, 0 or
/// a local assigned only from allocations: they hand their caller a new object
/// (`usb_hid_configure` returns `hid_parse_report`'s kmalloc'd device).
pub fn allocators(index: &crate::index::Index, base: &[&str]) -> FxHashSet<String> {
    use rayon::prelude::*;
    let mut out: FxHashSet<String> = base.iter().map(|s| s.to_string()).collect();
    for _ in 0..ALLOCATOR_ROUNDS {
        let found: Vec<String> = (index.files.par_iter())
            .flat_map_iter(|file| {
                (file.functions.iter())
                    // Objects come back as pointers.
                    .filter(|g| g.return_type.contains('*') && !g.body.is_empty())
                    .filter(|g| !out.contains(g.name.as_str()))
                    .filter(|g| returns_new(file, g, &out))
                    .map(|g| g.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        if found.is_empty() {
            break;
        }
        out.extend(found);
    }
    out
}

/// Whether every return of `func` is NULL, 0 or a local assigned only from calls of `out`
/// (or NULL), and one is such a local.
fn returns_new(
    file: &crate::facts::FileFacts,
    func: &crate::facts::Function,
    out: &FxHashSet<String>,
) -> bool {
    let new = |v: &Value| matches!(v, Value::Call(c) if out.contains(file.calls[*c as usize].callee.as_str()));
    returns_only(func, Returned::ThroughLocals, new)
}

enum Origin {
    /// Parameter `j` of the caller, in a template (`&@->dev`).
    Param(usize, String),
    /// An object the caller made.
    Own,
    /// A table the caller got pinned from this call, at this line.
    Pinned(String, u32),
}
