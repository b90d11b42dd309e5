//! Objects covered by their registrar's pin (issue 13, class 9).
//!
//! Some modules make the object that carries the routine only inside a routine of their own
//! that pins the module when it succeeds, and unregister it before they drop that pin: a frame
//! relay DLCI interface exists between `dlci_add` (which pins) and `dlci_del`; an X.25 or IrDA
//! net device while its line discipline, whose open pins, is attached. The core can only reach
//! the routine through that object, so the registrar's pin covers it: the core's discipline
//! applies (no MR001/MR003 for the routine; `entries` says why).
//!
//! Read off the tree, and only when *every* way the core can get the routine goes through such
//! a pin. The routine's references in its file are its ways out: a field store of its name
//! (`dev->open = dlci_open`) or an argument naming it, in some function; or an initializer of
//! a static table, whose own references (`devfs_register(..., &lp_fops, ...)`) are then its
//! ways out (one table level deeper at most). Each function holding such a reference must be
//! covered: it pins, or each of its ways in is, in turn, covered (up to [`MAX_COVER_DEPTH`]
//! levels of callers). A function's ways in are direct calls from functions of the same file
//! and field stores of its name there (`master->init = dlci_init`, which the core calls while
//! the installer runs). Not covered: a reference at file scope, a table that is not static, a
//! function with no way in (a probe the core or another file calls), or one reached otherwise
//! too (exported, named in a table initializer or handed to a call as an argument). The pin is
//! the function's use-count summary: some return raises the count, none drops it, and every
//! return that leaves it alone is a failure (nonzero, or a null pointer). That the object is
//! unregistered before the pin is dropped is assumed, not checked (the judged cases all do).

use std::sync::Arc;

use super::drain::Drains;
use super::{bound, FileOracle, NeverSleeps, UseCountKnowledge};
use crate::buildinfo::BuildDefines;
use crate::entries::{Covered, Entry};
use crate::facts::FileFacts;
use crate::index::{referenced_name, FnRef, Index};
use crate::kb::Kb;
use crate::paths::{CountEffect, NEG, POS, ZERO};

/// Levels of callers followed from the store.
const MAX_COVER_DEPTH: u8 = 3;

/// Levels of tables followed from the routine: the table naming it, and one holding that.
const MAX_TABLE_DEPTH: u8 = 2;

/// The cover of `entry`'s routine, if one holds it (see [`Covered`]).
pub fn covering(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
) -> Option<Covered> {
    if let Some(r) = registrar(index, kb, known, entry) {
        return Some(Covered::Registrar(r));
    }
    if let Some((lookup, binder)) = bound::bound(index, kb, known, entry) {
        return Some(Covered::Bound { lookup, binder });
    }
    if let Some(installer) = library(index, kb, known, entry) {
        return Some(Covered::Library { installer });
    }
    foreign_table(index, kb, known, entry).map(|table| Covered::Table { table })
}

/// The exported table holding `entry`'s routine, when this registration is another module's
/// (see [`Covered::Table`]): the routine's file names the routine only in initializers of
/// tables that are exported, not static, and that the file never hands over itself; the
/// registration sits in a file of another module (another directory, or each file with an
/// init of its own) and hands one of those tables. That module holds the table's module by its
/// symbol reference while it is loaded, and its exit unregisters the table (assumed, as every
/// registration is).
fn foreign_table(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
) -> Option<String> {
    let file = index.file_by_path(&entry.file)?;
    let reg = index.file_by_path(&entry.registration_file)?;
    let dir = |f: usize| index.files[f].path.rsplit_once('/').map_or("", |(d, _)| d);
    let main = |f: usize| index.files[f].markers.init_module || index.files[f].markers.module_init;
    if reg == file || (dir(reg) == dir(file) && !(main(reg) && main(file))) {
        return None;
    }
    let facts = &index.files[file];
    let names = |e: &str, n: &str| referenced_name(e) == Some(n);
    let handed = |n: &str| {
        facts.field_assigns.iter().any(|a| names(&a.value, n))
            || (facts.calls.iter())
                .filter(|c| !kb.is_export_macro(&c.callee))
                .any(|c| c.args.iter().any(|a| names(a, n)))
    };
    let name = entry.function.as_str();
    if handed(name) {
        return None;
    }
    let in_table = |v: &crate::facts::Variable, n: &str| {
        v.init
            .as_ref()
            .is_some_and(|l| l.exprs().any(|e| names(e, n)))
    };
    let tables: Vec<&str> = (facts.variables.iter())
        .filter(|v| in_table(v, name))
        .map(|v| v.name.as_str())
        .collect();
    for t in &tables {
        let var = facts.variables.iter().find(|v| v.name == *t)?;
        if var.is_static
            || !known.helpers.exported.contains(*t)
            || handed(t)
            || facts.variables.iter().any(|v| in_table(v, t))
        {
            return None;
        }
    }
    let calls = index.files[reg].calls.iter();
    let hands = calls
        .filter(|c| c.line == entry.registration_line)
        .any(|c| c.args.iter().any(|a| tables.iter().any(|t| names(a, t))));
    hands.then(|| tables[0].to_string())
}

/// Fills in `covered_by` of the name-taking entries of module code (for `entries`: `check`
/// asks [`covering`] per routine), with the tree's use-count knowledge computed here.
pub fn annotate(
    index: &Index,
    kb: &Kb,
    (build, drains): (&BuildDefines, Arc<Drains>),
    entries: &mut [Entry],
) {
    use rayon::prelude::*;
    let known = UseCountKnowledge::new(index, kb, build, drains);
    let covers: Vec<Option<Covered>> = entries
        .par_iter()
        .map(|e| {
            let checked = e.takes == crate::kb::Takes::Name && e.module_capable;
            checked.then(|| covering(index, kb, &known, e)).flatten()
        })
        .collect();
    for (e, c) in entries.iter_mut().zip(covers) {
        e.covered_by = c;
    }
}

/// The routine whose pin covers every way into function `func` of the oracle's file (itself,
/// when it pins whenever it succeeds), if there is one.
pub(super) fn pinned_ways_in(oracle: &FileOracle, func: usize) -> Option<String> {
    let cover = Cover {
        oracle,
        facts: &oracle.index.files[oracle.file],
        file: oracle.file,
        entry: "",
    };
    cover.covered(func, 0)
}

/// The installer of a library module's routine (see [`Covered::Library`]): the routine is
/// exported and its file names it only in field stores, each in one exported function that
/// its own file never calls nor hands out, and every call of that function in the tree sits in
/// a function of another file that stores its own value into the same field after the call.
fn library(index: &Index, kb: &Kb, known: &UseCountKnowledge, entry: &Entry) -> Option<String> {
    let exported = &known.helpers.exported;
    let file = index.file_by_path(&entry.file)?;
    let facts = &index.files[file];
    let name = entry.function.as_str();
    let routine = index.resolve_function(file, name)?;
    if index.function(routine).is_static || !exported.contains(name) {
        return None;
    }
    let names = |e: &str, n: &str| referenced_name(e) == Some(n);
    let handed = |n: &str| {
        (facts.calls.iter())
            .filter(|c| !kb.is_export_macro(&c.callee))
            .any(|c| c.args.iter().any(|a| names(a, n)))
            || (facts.variables.iter())
                .filter_map(|v| v.init.as_ref())
                .any(|l| l.exprs().any(|e| names(e, n)))
    };
    if handed(name) {
        return None;
    }
    let mut installer = None;
    for store in facts.field_assigns.iter().filter(|a| names(&a.value, name)) {
        let g = &facts.functions[store.caller? as usize];
        let gname = g.name.as_str();
        let called_here = facts.calls.iter().any(|c| c.callee == gname);
        if g.is_static || !exported.contains(gname) || called_here || handed(gname) {
            return None;
        }
        let g_ref = index.resolve_function(file, gname)?;
        if !replaced_by_every_caller(index, g_ref, &store.field, name) {
            return None;
        }
        installer.get_or_insert_with(|| gname.to_string());
    }
    installer
}

/// Whether `g` has callers, all in other files, each storing into `field` after the call a
/// value other than `routine`.
fn replaced_by_every_caller(index: &Index, g: FnRef, field: &str, routine: &str) -> bool {
    let name = index.function(g).name.as_str();
    let mut any = false;
    for (k, f) in index.files.iter().enumerate() {
        for c in f.calls.iter().filter(|c| !c.indirect && c.callee == name) {
            if index.resolve_function(k, name) != Some(g) {
                continue;
            }
            let Some(caller) = c.caller.filter(|_| k != g.file) else {
                return false;
            };
            let replaces = f.field_assigns.iter().any(|a| {
                a.caller == Some(caller)
                    && a.field == field
                    && a.line > c.line
                    && referenced_name(&a.value) != Some(routine)
            });
            if !replaces {
                return false;
            }
            any = true;
        }
    }
    any
}

/// The routine of `entry`'s file whose pin covers every way the core gets the entry's
/// routine, if there is one.
pub fn registrar(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
) -> Option<String> {
    let file = index.file_by_path(&entry.file)?;
    let oracle = FileOracle::new(
        index,
        kb,
        file,
        &index.files[file].calls,
        &NeverSleeps,
        &known.helpers,
    );
    let cover = Cover {
        oracle: &oracle,
        facts: &index.files[file],
        file,
        entry: &entry.function,
    };
    cover.handed_out(&entry.function, 0)
}

struct Cover<'a> {
    oracle: &'a FileOracle<'a>,
    facts: &'a FileFacts,
    file: usize,
    entry: &'a str,
}

/// Where a name is referenced: in a function's store or argument, or in a table's initializer.
enum Site {
    Function(usize),
    Table(usize),
}

impl Cover<'_> {
    /// The pin covering every reference to `name` (the routine, or a table holding it).
    fn handed_out(&self, name: &str, depth: u8) -> Option<String> {
        let sites = self.sites(name)?;
        let mut first = None;
        for site in sites {
            let pin = match site {
                Site::Function(k) => self.covered(k, 0)?,
                Site::Table(v) => {
                    let var = &self.facts.variables[v];
                    if !var.is_static || depth + 1 >= MAX_TABLE_DEPTH {
                        return None;
                    }
                    self.handed_out(&var.name, depth + 1)?
                }
            };
            first.get_or_insert(pin);
        }
        first
    }

    /// The references to `name` other than direct calls; `None` when one sits at file scope
    /// outside a table, or when there is none.
    fn sites(&self, name: &str) -> Option<Vec<Site>> {
        let names = |e: &str| referenced_name(e) == Some(name);
        let stores = self.facts.field_assigns.iter();
        let stores = stores.filter(|a| names(&a.value)).map(|a| a.caller);
        let args = self.facts.calls.iter();
        let args = args
            .filter(|c| c.args.iter().any(|a| names(a)))
            .map(|c| c.caller);
        let mut sites = Vec::new();
        for caller in stores.chain(args) {
            sites.push(Site::Function(caller? as usize));
        }
        for (v, var) in self.facts.variables.iter().enumerate() {
            if var.init.as_ref().is_some_and(|l| l.exprs().any(&names)) {
                sites.push(Site::Table(v));
            }
        }
        (!sites.is_empty()).then_some(sites)
    }

    /// The pinning function that covers every way to `func`, if each way has one.
    fn covered(&self, func: usize, depth: u8) -> Option<String> {
        let name = self.facts.functions[func].name.as_str();
        if name != self.entry && self.pins(func) {
            return Some(name.to_string());
        }
        if depth >= MAX_COVER_DEPTH || self.reached_otherwise(func) {
            return None;
        }
        let ways = self.ways_in(name)?;
        let mut first = None;
        for k in ways {
            let pin = self.covered(k, depth + 1)?;
            first.get_or_insert(pin);
        }
        first
    }

    /// Whether `func` raises the count on some return, drops it on none, and fails whenever it
    /// leaves it alone.
    fn pins(&self, func: usize) -> bool {
        let f = FnRef {
            file: self.file,
            func,
        };
        // What a failed call returns: a null pointer, or a nonzero status (`return err;`
        // after `if ((err = ...))`, `return 1;`).
        let failure = if self.oracle.index.function(f).return_type.contains('*') {
            ZERO
        } else {
            NEG | POS
        };
        match self.oracle.helper_effect(f) {
            CountEffect::Increment => true,
            CountEffect::Split(o) => {
                o.results[2] | o.results[3] != 0
                    && o.results[0] == 0
                    && o.results[1] & !failure == 0
            }
            _ => false,
        }
    }

    /// The functions of the file that call `name` directly or store it into a field; `None`
    /// when a call or store sits outside any function.
    fn ways_in(&self, name: &str) -> Option<Vec<usize>> {
        let calls = self
            .facts
            .calls
            .iter()
            .filter(|c| !c.indirect && c.callee.as_str() == name)
            .map(|c| c.caller);
        let stores = self
            .facts
            .field_assigns
            .iter()
            .filter(|a| a.value.trim() == name)
            .map(|a| a.caller);
        let mut ways = Vec::new();
        for caller in calls.chain(stores) {
            let k = caller? as usize;
            if !ways.contains(&k) {
                ways.push(k);
            }
        }
        (!ways.is_empty()).then_some(ways)
    }

    /// Whether `func` can be reached other than through the file's calls and stores.
    fn reached_otherwise(&self, func: usize) -> bool {
        let f = &self.facts.functions[func];
        let name = f.name.as_str();
        let names = |e: &str| referenced_name(e) == Some(name);
        (!f.is_static && self.oracle.helpers.exported.contains(name))
            || self
                .facts
                .calls
                .iter()
                .any(|c| c.args.iter().any(|a| names(a)))
            || self
                .facts
                .variables
                .iter()
                .filter_map(|v| v.init.as_ref())
                .any(|l| l.exprs().any(&names))
    }
}
