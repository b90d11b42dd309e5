//! Registration routines the knowledge base does not name, read from the tree (issue 13,
//! class 7).
//!
//! A routine registers a table when it keeps it where the core will find it again: 2.2's
//! `attach_capi_driver(struct capi_driver *driver)` links `driver` into a file-scope list,
//! and the core later calls the driver's `add_card` from an ioctl. Its name matches no
//! pattern, yet it registers as surely as `register_chrdev`. A function is taken for one
//! when all of these hold:
//! - it is not static, and some other file calls it (a module hands it something);
//! - a parameter is a pointer to an ops table: a struct with at least the knowledge base's
//!   `derive_min_callback_share` of function-pointer fields (an object that carries a
//!   callback, such as a socket or a SCSI command, is not one);
//! - its body stores that parameter itself into a file-scope variable of that struct's type
//!   (`list = driver`, the head of a list it links) or into an element of a file-scope array
//!   of it (`table[n] = driver`).
//!
//! Not yet read: a store through a local pointer to the variable (`for (pp = &drivers; *pp;
//! ...) ; *pp = driver;`, capi's own idiom), which the facts do not record.
//!
//! The knowledge base's exclusions still apply, and a routine it lists or its patterns
//! match is not derived again. `entries --sites` says how each routine was recognised.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::facts::{FileFacts, Function, Value};
use crate::index::Index;
use crate::kb::Kb;

/// A registration routine found in the tree: which argument it keeps, of which struct,
/// and where it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    pub arg: usize,
    #[serde(rename = "struct")]
    pub strukt: String,
    /// The file-scope variable the table is stored into, and where.
    pub global: String,
    pub file: String,
    pub line: u32,
}

/// The derived registration routines of a tree, by name.
#[derive(Debug, Default)]
pub struct DerivedRegistrations(FxHashMap<String, Derived>);

impl DerivedRegistrations {
    pub fn get(&self, name: &str) -> Option<&Derived> {
        self.0.get(name)
    }
}

pub fn registrations(index: &Index, kb: &Kb) -> DerivedRegistrations {
    let Some(min_share) = kb.data.registration_patterns.derive_min_callback_share else {
        return DerivedRegistrations::default();
    };
    // Candidates first, from the signatures alone: most functions take no ops table.
    let mut candidates: Vec<(usize, u32, Vec<Table>)> = Vec::new();
    for (fi, f) in index.files.iter().enumerate() {
        for (func_index, func) in f.functions.iter().enumerate() {
            if func.is_static {
                continue;
            }
            let tables = ops_tables(index, func, min_share);
            if !tables.is_empty() {
                candidates.push((fi, func_index as u32, tables));
            }
        }
    }
    let names: FxHashSet<&str> = (candidates.iter())
        .map(|&(fi, k, _)| index.files[fi].functions[k as usize].name.as_str())
        .collect();
    // The files that call each candidate (two are enough to know one is not the definer's).
    let mut callers: FxHashMap<&str, FxHashSet<usize>> = FxHashMap::default();
    for (fi, f) in index.files.iter().enumerate() {
        for c in f.calls.iter().filter(|c| !c.indirect) {
            if let Some(&name) = names.get(c.callee.as_str()) {
                let files = callers.entry(name).or_default();
                if files.len() < 2 {
                    files.insert(fi);
                }
            }
        }
    }
    let mut found = FxHashMap::default();
    for (fi, func_index, tables) in candidates {
        let f = &index.files[fi];
        let func = &f.functions[func_index as usize];
        let called_elsewhere =
            (callers.get(func.name.as_str())).is_some_and(|files| files.iter().any(|&c| c != fi));
        // Listed (perhaps as an exclusion) or matched by the patterns: not derived again.
        if !called_elsewhere
            || kb.is_registration(&func.name)
            || kb.registration(&func.name).is_some()
        {
            continue;
        }
        if let Some(d) = derive(index, (fi, f), func_index, func, &tables) {
            found.entry(func.name.to_string()).or_insert(d);
        }
    }
    DerivedRegistrations(found)
}

/// A parameter that points to an ops table: its index, name and struct.
type Table<'a> = (usize, &'a str, &'a str);

/// The parameters of `func` that point to an ops table (see the module docs).
fn ops_tables<'a>(index: &'a Index, func: &'a Function, min_share: f64) -> Vec<Table<'a>> {
    (func.params.iter().enumerate())
        .filter(|(_, p)| p.ty.contains('*'))
        .filter_map(|(i, p)| {
            let name = p.name.as_deref()?;
            let strukt = index.local_struct(func, name)?;
            let def = index.struct_def(strukt)?;
            let callbacks = def.fields.iter().filter(|f| f.is_fn_ptr).count();
            let share = callbacks as f64 / def.fields.len() as f64;
            (callbacks > 0 && share >= min_share).then_some((i, name, strukt))
        })
        .collect()
}

/// The table parameter `func` keeps in a file-scope variable, if it keeps one.
fn derive(
    index: &Index,
    (fi, f): (usize, &FileFacts),
    func_index: u32,
    func: &Function,
    tables: &[Table],
) -> Option<Derived> {
    // A file-scope variable (or array) of the table's own struct type, not a local.
    let is_registry = |name: &str, strukt: &str| {
        !index.is_local(fi, func_index, name)
            && (f.var_types.iter())
                .any(|(n, t)| n.as_str() == name && index.struct_name(t) == strukt)
    };
    let derived = |(arg, strukt): (usize, &str), global: &str, line: u32| Derived {
        arg,
        strukt: strukt.to_string(),
        global: global.to_string(),
        file: f.path.to_string(),
        line,
    };
    // `table[n] = driver`: the element stores are facts of their own, no body needed.
    for s in f.element_stores.iter().filter(|s| s.caller == func_index) {
        let stored = s.value.trim();
        if let Some(&(arg, _, strukt)) = tables.iter().find(|(_, p, _)| *p == stored) {
            if is_registry(s.array.trim(), strukt) {
                return Some(derived((arg, strukt), s.array.trim(), s.line));
            }
        }
    }
    // `list = driver`, the head of a list the routine links the table into.
    for stmt in &func.body.stmts {
        for e in stmt.kind.own_exprs() {
            for a in &e.assigns {
                let Value::Var(v) = &a.value else { continue };
                let Some(&(arg, _, strukt)) = tables.iter().find(|(_, p, _)| *p == v.as_str())
                else {
                    continue;
                };
                if is_registry(&a.var, strukt) {
                    return Some(derived((arg, strukt), &a.var, stmt.span.line));
                }
            }
        }
    }
    None
}
