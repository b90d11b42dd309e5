//! Owner fields (2.5 on): tables a module hands to a routine that pins the table's owner
//! before it calls into it, defined with no owner.
//!
//! The model:
//! - **Which structures are pinned, and through which field, is read from the tree's core**:
//!   a call of a pin routine (`try_module_get(E->F)`, KB `owners.pin_routines`) whose `E` is
//!   declared as a pointer to `struct X` (a parameter, a local, a file-scope variable; through
//!   members, `sock->ops->owner`) makes `X.F` pinned. The KB seeds pins a macro hides
//!   (`fops_get`).
//! - **Consumers are data**: a routine that keeps a table (directly, or as a member of the
//!   structure it is given) and pins its owner later (`debugfs_create_file`, `misc_register`
//!   through `.fops`). A consumer counts only when the tree pins its table's structure.
//! - **A table is unowned** when neither its initializer nor an assignment `NAME.F = ...`
//!   anywhere sets the owner field (or sets it to `NULL`). An initializer that mixes positional
//!   items with designated ones may hide the owner in a macro: not judged.
//! - **Only tables of modules that can be unloaded**: the table's file is module code (its
//!   build file or its marks say so) and the module has an exit routine (`module_exit`, a
//!   driver macro, `cleanup_module`) in one of its files. A module with no exit routine can
//!   never be unloaded; built-in code is never freed.
//!
//! The core's `try_module_get(NULL)` succeeds and pins nothing: with no owner, `rmmod` can free
//! the module while a file it opened still runs its `release`.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use rayon::prelude::*;

use crate::buildinfo::{BuildInfo, ModuleOrigin};
use crate::ctext::{is_identifier, is_null_pointer};
use crate::facts::FileFacts;
use crate::index::{access_path, referenced_name, Index, TableContent, VarRef};
use crate::kb::{Consumer, Kb};

mod after;
mod exits;
mod gets;
mod lifetime;
mod selfref;
pub use after::{after_call, put_then_return, After};
pub use gets::{get_leaks, GetLeak};
pub use lifetime::{unbalanced, RefSite, SlotUse, Unbalanced};
pub use selfref::{self_refs, Reach, SelfRef, SelfRefKind, SelfRefReport, SelfRefStats};

/// Where the core pins a structure's module through one of its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub strukt: String,
    pub field: String,
    pub site: PinSite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSite {
    /// A call in the tree: `try_module_get(fops->owner)` at file:line.
    Call {
        routine: String,
        file: String,
        line: u32,
        column: u32,
    },
    /// The knowledge base's word (a pin inside a macro's body).
    Known { evidence: String },
}

/// A call that hands a table to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub consumer: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// Where the consumer pins, in the knowledge base's words.
    pub evidence: Option<String>,
}

/// A table of a pinned structure, of a module that can be unloaded, with no owner.
#[derive(Debug, Clone)]
pub struct UnownedTable {
    pub name: String,
    pub file: String,
    pub line: u32,
    /// The first line of its initializer's items, when it has an initializer with items on
    /// lines of their own (where a fix adds the owner).
    pub pin: Pin,
    pub handoffs: Vec<Handoff>,
    /// The routines of the tree the table holds, in field order: what can run after the
    /// module is gone.
    pub routines: Vec<String>,
    pub module: Option<ModuleOrigin>,
    /// The module's exit routine: file and line.
    pub exit: (String, u32),
}

/// How the tables handed to consumers were judged (`check`'s JSON `stats.owner_tables`).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct OwnerStats {
    /// Tables handed to a consumer of a structure the tree pins.
    pub handed: usize,
    pub owned: usize,
    /// Not judged: the initializer may set the owner in a macro.
    pub unknown: usize,
    /// Built-in code, or a module without an exit routine.
    pub never_unloaded: usize,
    /// Tables that hold none of the tree's functions.
    pub no_code: usize,
    pub unowned: usize,
}

#[derive(Debug, Default)]
pub struct OwnerReport {
    pub tables: Vec<UnownedTable>,
    pub stats: OwnerStats,
}

/// What MR101 and the self-reference analysis (MR105, MR106) both read off the tree, read
/// once when either runs: the structures the core pins, the tables handed to consumers that
/// pin them, and which modules can be unloaded.
pub struct OwnerBasis {
    pins: Vec<Pin>,
    /// Each handed table with its structure's pin and its handoffs.
    handed: HashMap<VarRef, (Pin, Vec<Handoff>)>,
    unloadable: exits::Unloadable,
}

impl OwnerBasis {
    pub fn new(index: &Index, kb: &Kb, build: &BuildInfo) -> Self {
        let pins = pinned_structs(index, kb);
        let handed = handed_tables(index, kb, &pins)
            .into_iter()
            .map(|(var, (pin, handoffs))| (var, (pin.clone(), handoffs)))
            .collect();
        OwnerBasis {
            pins,
            handed,
            unloadable: exits::Unloadable::new(index, kb, build),
        }
    }
}

pub fn analyse(index: &Index, build: &BuildInfo, basis: &OwnerBasis) -> OwnerReport {
    let _t = crate::timing::Phase::start("owners");
    let mut stats = OwnerStats::default();
    let mut tables = Vec::new();
    for (&var, (pin, handoffs)) in &basis.handed {
        stats.handed += 1;
        let facts = &index.files[var.file];
        let module = build.origin(&facts.path).cloned();
        let Some(exit) = basis.unloadable.exit_of(build, facts) else {
            stats.never_unloaded += 1;
            continue;
        };
        match owner_state(index, var, pin) {
            OwnerState::Set => stats.owned += 1,
            OwnerState::NoCode => stats.no_code += 1,
            OwnerState::Unknown => stats.unknown += 1,
            OwnerState::Missing(routines) => {
                stats.unowned += 1;
                let mut handoffs = handoffs.clone();
                handoffs.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
                handoffs.dedup();
                let v = index.variable(var);
                tables.push(UnownedTable {
                    name: v.name.to_string(),
                    file: facts.path.to_string(),
                    line: v.line,
                    pin: pin.clone(),
                    handoffs,
                    routines,
                    module,
                    exit,
                });
            }
        }
    }
    tables.sort_by(|a, b| (&a.file, a.line, &a.name).cmp(&(&b.file, b.line, &b.name)));
    OwnerReport { tables, stats }
}

/// The tables handed to consumers whose structure the tree pins, each with the pin and the
/// handoffs.
fn handed_tables<'p>(
    index: &Index,
    kb: &Kb,
    pins: &'p [Pin],
) -> HashMap<VarRef, (&'p Pin, Vec<Handoff>)> {
    let mut by_struct: HashMap<&str, Vec<&Pin>> = HashMap::default();
    for p in pins {
        by_struct.entry(p.strukt.as_str()).or_default().push(p);
    }
    let handoffs: Vec<(VarRef, &Pin, Handoff)> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| handoffs_in(index, kb, &by_struct, fi))
        .collect();
    let mut per_table: HashMap<VarRef, (&Pin, Vec<Handoff>)> = HashMap::default();
    for (var, pin, h) in handoffs {
        per_table.entry(var).or_insert((pin, Vec::new())).1.push(h);
    }
    per_table
}

/// The structures the tree's core pins through a field, each with its first pin site (by
/// file and line), and the knowledge base's seeds for pins it cannot read.
fn pinned_structs(index: &Index, kb: &Kb) -> Vec<Pin> {
    let owners = &kb.data.owners;
    let mut found: Vec<Pin> = (0..index.files.len())
        .into_par_iter()
        .flat_map_iter(|fi| {
            let f = &index.files[fi];
            f.calls
                .iter()
                .filter(|c| owners.is_pin_routine(&c.callee))
                .filter_map(move |c| {
                    let (strukt, field) = pinned_member(index, f, c.caller?, c.args.first()?)?;
                    Some(Pin {
                        strukt,
                        field,
                        site: PinSite::Call {
                            routine: c.callee.to_string(),
                            file: f.path.to_string(),
                            line: c.line,
                            column: c.column,
                        },
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort_by(|a, b| {
        let key = |p: &Pin| match &p.site {
            PinSite::Call { file, line, .. } => (p.strukt.clone(), file.clone(), *line),
            PinSite::Known { .. } => (p.strukt.clone(), String::new(), 0),
        };
        key(a).cmp(&key(b))
    });
    for seed in &owners.pinned {
        found.push(Pin {
            strukt: seed.struct_name.clone(),
            field: seed.field.clone(),
            site: PinSite::Known {
                evidence: seed.evidence.clone(),
            },
        });
    }
    // The tree's own pins of a structure, else the seed.
    let read: HashSet<String> = (found.iter())
        .filter(|p| matches!(p.site, PinSite::Call { .. }))
        .map(|p| p.strukt.clone())
        .collect();
    found.retain(|p| matches!(p.site, PinSite::Call { .. }) || !read.contains(&p.strukt));
    found
}

/// `E->a->F` in function `caller` of `f`: the struct `E->a` points to and `F`, when `E` is
/// declared with a struct type.
fn pinned_member(index: &Index, f: &FileFacts, caller: u32, arg: &str) -> Option<(String, String)> {
    let text: String = arg
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect();
    let mut parts: Vec<&str> = text.split("->").flat_map(|p| p.split('.')).collect();
    let field = parts.pop()?.to_string();
    let base = parts.first()?;
    let base = base.split('[').next()?;
    if !is_identifier(&field) || !is_identifier(base) {
        return None;
    }
    let function = f.functions.get(caller as usize)?;
    let declared = (function.local_types.iter())
        .find(|(n, _)| n == base)
        .or_else(|| f.var_types.iter().find(|(n, _)| n == base))
        .map(|(_, t)| t.as_str())?;
    let mut strukt = index.struct_name(declared).to_string();
    for member in &parts[1..] {
        let member = member.split('[').next()?;
        let def = index.struct_def(&strukt)?;
        let next = def.fields.iter().find(|x| x.name == member)?;
        strukt = index.struct_name(next.struct_type.as_deref()?).to_string();
    }
    Some((strukt, field))
}

/// The tables `file` hands to consumers whose structure the tree pins.
fn handoffs_in<'p>(
    index: &Index,
    kb: &Kb,
    pins: &HashMap<&str, Vec<&'p Pin>>,
    fi: usize,
) -> Vec<(VarRef, &'p Pin, Handoff)> {
    let f = &index.files[fi];
    let mut out = Vec::new();
    for c in &f.calls {
        // A call at file scope is a registration macro's (`module_misc_device(x)`).
        let caller = c.caller;
        let Some(consumer) = kb.data.owners.consumer(&c.callee) else {
            continue;
        };
        let Some(pin) = pins.get(consumer.struct_name.as_str()).and_then(|sites| {
            let home = index.resolve_function(fi, &consumer.name);
            nearest(sites, home.map(|r| index.files[r.file].path.as_str()))
        }) else {
            continue;
        };
        let Some(arg) = c.args.get(consumer.arg) else {
            continue;
        };
        if owner_of_arg_set(index, fi, caller, consumer, &c.args) {
            continue;
        }
        let Some(var) = handed_table(index, fi, caller, arg, consumer) else {
            continue;
        };
        out.push((
            var,
            pin,
            Handoff {
                consumer: c.callee.to_string(),
                file: f.path.to_string(),
                line: c.line,
                column: c.column,
                evidence: consumer.evidence.clone(),
            },
        ));
    }
    out
}

/// The pin site closest to the consumer's definition (the longest shared directory), so that
/// a finding cites the pin its consumer leads to rather than the first in the tree.
fn nearest<'p>(sites: &[&'p Pin], home: Option<&str>) -> Option<&'p Pin> {
    let dirs = |path: &str| -> usize {
        let Some(home) = home else { return 0 };
        (home.split('/').zip(path.split('/')))
            .take_while(|(a, b)| a == b)
            .count()
    };
    let shared = |p: &Pin| match &p.site {
        PinSite::Call { file, .. } => dirs(file),
        PinSite::Known { .. } => 0,
    };
    // The first of the closest, in the sites' (file, line) order.
    let best = sites.iter().map(|p| shared(p)).max()?;
    sites.iter().copied().find(|p| shared(p) == best)
}

/// The file-scope (or static) table variable an argument names, directly or through the
/// consumer's member of the structure it names, when it has the consumer's structure type.
fn handed_table(
    index: &Index,
    fi: usize,
    caller: Option<u32>,
    arg: &str,
    consumer: &Consumer,
) -> Option<VarRef> {
    let table_expr = match &consumer.member {
        None => arg.to_string(),
        Some(member) => member_value(index, fi, caller, arg, member)?,
    };
    let name = referenced_name(&table_expr)?;
    if caller.is_some_and(|c| index.is_local(fi, c, name)) {
        return None;
    }
    let var = index.resolve_variable(fi, name)?;
    let v = index.variable(var);
    (!v.is_array && index.struct_name(&v.type_name) == consumer.struct_name).then_some(var)
}

/// The value stored in `member` of the structure `holder` names (a variable's initializer or
/// assignments, or the calling routine's stores through an access path).
fn member_value(
    index: &Index,
    fi: usize,
    caller: Option<u32>,
    holder: &str,
    member: &str,
) -> Option<String> {
    let stored = |values: Vec<crate::index::TableValue>| {
        values
            .into_iter()
            .filter(|v| v.field == member)
            .find_map(|v| match v.value {
                TableContent::Expr(e) => Some(e),
                TableContent::List(_) => None,
            })
    };
    if let (Some(path), Some(caller)) = (access_path(holder), caller) {
        return stored(index.path_table(fi, caller, path));
    }
    let name = referenced_name(holder)?;
    if let Some(caller) = caller.filter(|&c| index.is_local(fi, c, name)) {
        let path = holder.trim().trim_start_matches('&').trim();
        return stored(index.path_table(fi, caller, path))
            .or_else(|| stored(index.local_table(fi, caller, name).1));
    }
    let var = index.resolve_variable(fi, name)?;
    let strukt = index
        .struct_name(&index.variable(var).type_name)
        .to_string();
    stored(index.table_values(var, &strukt))
}

/// The consumer's other argument whose owner protects the table too, set in the calling
/// routine (`cdev.owner = THIS_MODULE` before `cdev_init`/`cdev_add`) or in its initializer.
fn owner_of_arg_set(
    index: &Index,
    fi: usize,
    caller: Option<u32>,
    consumer: &Consumer,
    args: &[crate::facts::Text],
) -> bool {
    let Some(other) = &consumer.or_owner_of else {
        return false;
    };
    let Some(holder) = args.get(other.arg) else {
        return false;
    };
    member_value(index, fi, caller, holder, &other.field).is_some()
}

/// A module: its build file and object, or the file itself when no build file names it.
pub(crate) type ModuleKey = (String, String);

pub(crate) fn module_key(facts: &FileFacts, origin: Option<&ModuleOrigin>) -> ModuleKey {
    match origin {
        Some(o) => (o.build_file.clone(), o.module.clone()),
        None => (facts.path.to_string(), String::new()),
    }
}

enum OwnerState {
    Set,
    NoCode,
    /// With the module's routines the table holds.
    Missing(Vec<String>),
    Unknown,
}

/// Whether the table's owner field is set: by its initializer or by an assignment
/// `NAME.F = value` wherever the name is visible.
fn owner_state(index: &Index, var: VarRef, pin: &Pin) -> OwnerState {
    let v = index.variable(var);
    if let Some(init) = &v.init {
        let designated = init.items.iter().any(|i| !i.designators.is_empty());
        let positional = init.items.iter().any(|i| i.designators.is_empty());
        if designated && positional {
            return OwnerState::Unknown;
        }
        if positional && index.struct_def(&pin.strukt).is_none() {
            return OwnerState::Unknown;
        }
    }
    let values = index.table_values(var, &pin.strukt);
    // A table that holds none of the tree's functions runs no code the module could take away.
    let routines: Vec<String> = (values.iter())
        .filter_map(|t| match &t.value {
            TableContent::Expr(e) => referenced_name(e)
                .filter(|n| index.resolve_function(t.file, n).is_some())
                .map(str::to_string),
            TableContent::List(_) => None,
        })
        .collect();
    if routines.is_empty() {
        return OwnerState::NoCode;
    }
    let set = values
        .into_iter()
        .filter(|t| t.field == pin.field)
        .any(|t| match &t.value {
            TableContent::Expr(e) => !is_null_pointer(e),
            TableContent::List(_) => true,
        });
    if set {
        OwnerState::Set
    } else {
        OwnerState::Missing(routines)
    }
}
