//! A constant index into a registration table (see the parent module's docs).

use rustc_hash::{FxHashMap, FxHashSet};

use super::Consts;
use crate::bkl::slots::SlotSites;
use crate::ctext::parse_paren_int;
use crate::entries::Slot;
use crate::index::{referenced_name, FnRef, Index, TableContent, VarRef};

/// (function, slot call) -> per call into the function that passes the table index a
/// constant, the routines the slot call can reach under that call.
pub type Narrowed = FxHashMap<(FnRef, u32), Vec<((FnRef, u32), FxHashSet<FnRef>)>>;

/// What a registration table's index tells about slot calls through it.
#[derive(Default)]
pub struct Registered {
    /// Calls indexed by a parameter, per caller that passes a constant.
    pub narrowed: Narrowed,
    /// Calls indexed by a constant written at the call (`net_families[PF_PACKET]`): the
    /// routines they can reach, under every caller.
    pub fixed: FxHashMap<(FnRef, u32), FxHashSet<FnRef>>,
}

/// `arr[x->F] = x`: (the storing routine, `x`'s position among its parameters, `F`).
type Registration = (FnRef, usize, String);

/// How a slot call indexes its array.
enum At {
    Parameter(usize),
    Constant(i64),
}

/// An array by name, and its file when it is `static` there.
type ArrayKey = (Option<usize>, String);

/// The tables registered into an array, each with the index its key field gives it (`None`:
/// the initializer does not evaluate to an integer, so any index).
type Tables = Vec<(VarRef, Option<i64>)>;

/// Every slot call through `array[i]` whose array is filled only by registration routines:
/// with `i` a parameter, narrowed per caller that passes it a constant; with `i` a constant,
/// narrowed for every caller.
pub fn find(index: &Index, sites: &SlotSites, stored: &FxHashMap<FnRef, Vec<Slot>>) -> Registered {
    let consts = Consts::default();
    let mut out = Registered::default();
    let arrays = registered_arrays(index, stored, &consts);
    if arrays.is_empty() {
        return out;
    }
    for (slot, refs) in &sites.by_slot {
        for s in refs {
            let Some((array, at)) = indexed(index, s.caller, s.call, &consts) else {
                continue;
            };
            let Some(tables) = arrays.get(&array) else {
                continue;
            };
            let reach = |value: i64| {
                let chosen = tables.iter().filter(|(_, v)| v.is_none_or(|v| v == value));
                let mut reach = FxHashSet::default();
                for &(t, _) in chosen {
                    reach.extend(slot_routine(index, t, &slot.field)?);
                }
                Some(reach)
            };
            let param = match at {
                At::Parameter(p) => p,
                At::Constant(value) => {
                    out.fixed
                        .extend(reach(value).map(|r| ((s.caller, s.call), r)));
                    continue;
                }
            };
            for (into, value) in constant_callers(index, s.caller, param, &consts) {
                if let Some(r) = reach(value) {
                    let entry = out.narrowed.entry((s.caller, s.call)).or_default();
                    entry.push((into, r));
                }
            }
        }
    }
    out
}

/// Arrays every non-NULL element store of which is `array[x->F] = x` with `x` a parameter of
/// the storing routine, and the tables every direct call of those routines passes (`&table`).
fn registered_arrays(
    index: &Index,
    stored: &FxHashMap<FnRef, Vec<Slot>>,
    consts: &Consts,
) -> FxHashMap<ArrayKey, Tables> {
    // array -> its registrations, or None once a store is something else.
    let mut regs: FxHashMap<ArrayKey, Option<Vec<Registration>>> = FxHashMap::default();
    for (fi, file) in index.files.iter().enumerate() {
        for es in &file.element_stores {
            if index.is_local(fi, es.caller, &es.array) {
                continue;
            }
            let value = squash(&es.value);
            if matches!(value.as_str(), "NULL" | "0" | "((void*)0)") {
                continue;
            }
            let routine = FnRef {
                file: fi,
                func: es.caller as usize,
            };
            let reg = registration(index, routine, &squash(&es.index), &value);
            let entry = regs
                .entry(array_key(index, fi, &es.array))
                .or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), reg) {
                (Some(v), Some(r)) => v.push(r),
                _ => *entry = None,
            }
        }
    }
    let mut out = FxHashMap::default();
    for (key, regs) in regs {
        let Some(regs) = regs.filter(|r| !r.is_empty()) else {
            continue;
        };
        let mut tables = Vec::new();
        let all = regs.iter().all(|(routine, param, field)| {
            // A routine called through a pointer has callers this does not see.
            !stored.contains_key(routine)
                && passed_tables(index, *routine, *param, field, consts, &mut tables)
        });
        if all {
            out.insert(key, tables);
        }
    }
    out
}

/// `x->F` stored from `x`, a parameter of `routine`: (routine, its position, `F`).
fn registration(index: &Index, routine: FnRef, at: &str, value: &str) -> Option<Registration> {
    let function = index.function(routine);
    let param = (function.params.iter()).position(|p| p.name.as_deref() == Some(value))?;
    if function.assigned_params.contains(&(param as u8)) {
        return None;
    }
    let field = (at.strip_prefix(value))
        .and_then(|r| r.strip_prefix("->").or_else(|| r.strip_prefix('.')))?;
    crate::ctext::is_identifier(field).then(|| (routine, param, field.to_string()))
}

/// Adds the tables the direct calls of `routine` pass as `param`, with their `field`'s value;
/// false when one passes something else.
fn passed_tables(
    index: &Index,
    routine: FnRef,
    param: usize,
    field: &str,
    consts: &Consts,
    out: &mut Tables,
) -> bool {
    let name = index.function(routine).name.as_str();
    for (fi, file) in index.files.iter().enumerate() {
        for c in file
            .calls
            .iter()
            .filter(|c| !c.indirect && c.callee == name)
        {
            if index.resolve_function(fi, name) != Some(routine) {
                continue;
            }
            let Some(arg) = c.args.get(param).map(|a| squash(a)) else {
                return false;
            };
            let Some(var) = (arg.strip_prefix('&'))
                .filter(|t| crate::ctext::is_identifier(t))
                .and_then(|t| index.resolve_variable(fi, t))
            else {
                return false;
            };
            let st = index.struct_name(&index.variable(var).type_name);
            let value = (index.table_values(var, st).into_iter())
                .find(|tv| tv.field == field)
                .and_then(|tv| match tv.value {
                    TableContent::Expr(e) => constant(index, &e, consts),
                    _ => None,
                });
            out.push((var, value));
        }
    }
    true
}

/// The routine a table holds in `field` (`Some(None)`: none), `None` when not known.
fn slot_routine(index: &Index, table: VarRef, field: &str) -> Option<Option<FnRef>> {
    let st = index.struct_name(&index.variable(table).type_name);
    let Some(tv) = (index.table_values(table, st).into_iter()).find(|tv| tv.field == field) else {
        return Some(None);
    };
    let TableContent::Expr(e) = &tv.value else {
        return None;
    };
    if matches!(squash(e).as_str(), "NULL" | "0") {
        return Some(None);
    }
    let f = referenced_name(e).and_then(|n| index.resolve_function(tv.file, n))?;
    Some(Some(f))
}

/// `array[i]->slot` or `(*array[i]->slot)` with `i` a parameter the function never assigns
/// or a constant: the array and the index.
fn indexed(index: &Index, f: FnRef, call: u32, consts: &Consts) -> Option<(ArrayKey, At)> {
    let c = &index.files[f.file].calls[call as usize];
    let callee = squash(&c.callee);
    let callee = callee.trim_start_matches("(*").trim_end_matches(')');
    let (base, _) = callee.rsplit_once("->")?;
    let (array, rest) = base.split_once('[')?;
    let at = rest.strip_suffix(']')?;
    if !crate::ctext::is_identifier(array) || index.is_local(f.file, f.func as u32, array) {
        return None;
    }
    let function = index.function(f);
    let param = (function.params.iter()).position(|p| p.name.as_deref() == Some(at));
    let at = match param {
        Some(p) if function.assigned_params.contains(&(p as u8)) => return None,
        Some(p) => At::Parameter(p),
        // A local of that name is not a constant.
        None if index.is_local(f.file, f.func as u32, at) => return None,
        None => At::Constant(constant(index, at, consts)?),
    };
    Some((array_key(index, f.file, array), at))
}

/// The direct calls of `f` that pass parameter `param` an integer constant, and its value.
fn constant_callers(
    index: &Index,
    f: FnRef,
    param: usize,
    consts: &Consts,
) -> Vec<((FnRef, u32), i64)> {
    let name = index.function(f).name.as_str();
    let mut out = Vec::new();
    for (fi, file) in index.files.iter().enumerate() {
        for (ci, c) in file.calls.iter().enumerate() {
            let (Some(caller), false) = (c.caller, c.indirect) else {
                continue;
            };
            if c.callee != name || index.resolve_function(fi, name) != Some(f) {
                continue;
            }
            if let Some(v) = c.args.get(param).and_then(|a| constant(index, a, consts)) {
                let from = FnRef {
                    file: fi,
                    func: caller as usize,
                };
                out.push(((from, ci as u32), v));
            }
        }
    }
    out
}

/// An integer, or an object-like macro that is one (through other such macros).
fn constant(index: &Index, text: &str, consts: &Consts) -> Option<i64> {
    let t = text.trim();
    parse_paren_int(t).or_else(|| {
        crate::ctext::is_identifier(t)
            .then(|| consts.get(index, t))
            .flatten()
    })
}

fn array_key(index: &Index, file: usize, name: &str) -> ArrayKey {
    let r = index.resolve_variable(file, name);
    let statik = r.filter(|&r| index.variable(r).is_static).map(|r| r.file);
    (statik, name.to_string())
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}
