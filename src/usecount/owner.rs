//! Where the core, not the routine, holds the module for a slot: owner fields set to the
//! module itself, containers the core pins, drained slots, and the covers of [`super::cover`].
//!
//! **The owner table may sit in another file of the module** (issue 13): `msdos_fs_type` is
//! declared with `DECLARE_FSTYPE_DEV` (owner `THIS_MODULE`) in `msdosfs_syms.c`, its
//! `read_super` routine in `namei.c`. The tables looked at are those of the routine's file and
//! of the file that registers the entry; a table of the registering file counts only when its
//! value resolves, as that file's C sees the name, to the routine itself (the index's
//! resolution, not a name compare).

use super::{cover, UseCountKnowledge};
use crate::ctext::is_word;
use crate::entries::{Entry, Via};
use crate::facts::{Designator, InitValue};
use crate::index::{FnRef, Index};
use crate::kb::{CountDiscipline, Kb};

/// How the core reads the count of `entry`'s slot: the knowledge base's discipline, unless the
/// core pins the module itself (an owner field set to the module, a container the core pins)
/// or its unregister waits for the calls in flight (a drained slot).
pub(super) fn entry_discipline(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
    fref: FnRef,
) -> CountDiscipline {
    // A callback handed over directly sits in no slot of a structure: the defaults apply.
    let (struct_name, field) = entry
        .slot
        .field()
        .map_or(("", ""), |s| (s.strukt.as_str(), s.field.as_str()));
    let mut discipline = kb.count_discipline(struct_name, field);
    if owner_pinned(index, kb, known, entry, fref, struct_name)
        || known.drains.slot(struct_name, field).is_some()
        || (discipline != CountDiscipline::Core
            && cover::covering(index, kb, known, entry).is_some())
    {
        discipline = CountDiscipline::Core;
    }
    if let Via::Store(container) = &entry.via {
        let pinned = &kb.data.slot_heuristic.pinned_containers;
        if pinned.contains(&container.strukt) {
            discipline = CountDiscipline::Core;
        }
    }
    discipline
}

/// 2.4 moved pinning into the core: when the slot's struct has an owner field and the
/// routine's table sets it to the module itself, the core pins the module before the call
/// (`fops_get`, `try_inc_mod_count(owner)`). The table is looked for in the routine's file
/// and in the file that registers it.
fn owner_pinned(
    index: &Index,
    kb: &Kb,
    known: &UseCountKnowledge,
    entry: &Entry,
    fref: FnRef,
    struct_name: &str,
) -> bool {
    let owner_fields = &kb.data.slot_heuristic.owner_fields;
    let Some(def) = index.struct_def(struct_name) else {
        return false;
    };
    let Some(owner) = def.fields.iter().find(|f| {
        owner_fields.iter().any(|o| *o == f.name) || known.pins.pins(struct_name, &f.name)
    }) else {
        return false;
    };
    let owner = OwnerField {
        index,
        kb,
        no_work: &known.helpers.no_work,
        struct_name,
        field: &owner.name,
    };
    if owner.set_in_file(fref.file) || owner.table_sets(fref.file, fref) {
        return true;
    }
    // The registering file's tables, when it is another file of the tree.
    index
        .file_by_path(&entry.registration_file)
        .filter(|&f| f != fref.file)
        .is_some_and(|f| owner.table_sets(f, fref))
}

/// The owner field of one slot's struct, and the questions asked of it.
struct OwnerField<'a> {
    index: &'a Index<'a>,
    kb: &'a Kb,
    /// Reads the macros a table's initializer names (`OWNER_THIS_MODULE`).
    no_work: &'a crate::nowork::NoWork,
    struct_name: &'a str,
    field: &'a str,
}

impl OwnerField<'_> {
    fn is_own(&self, v: &str) -> bool {
        let own = &self.kb.data.use_count.own_module;
        own.iter().any(|o| o == v.trim())
    }

    /// `SET_MODULE_OWNER(dev)`, or `x->owner = THIS_MODULE`, in the file: its objects are made
    /// at run time, so the file is the finest grain the facts give.
    fn set_in_file(&self, file: usize) -> bool {
        let facts = &self.index.files[file];
        let setters = &self.kb.data.slot_heuristic.owner_setters;
        facts
            .calls
            .iter()
            .any(|c| setters.iter().any(|s| *s == c.callee))
            || facts.field_assigns.iter().any(|a| {
                a.field == self.field
                    && self.is_own(&a.value)
                    && a.base_type
                        .as_deref()
                        .is_none_or(|t| self.index.struct_name(t) == self.struct_name)
            })
    }

    /// Whether a table of `file` (a variable, or one a table macro declares) holds routine
    /// `fref`, as that file resolves the name, and sets the owner to the module.
    fn table_sets(&self, file: usize, fref: FnRef) -> bool {
        let (index, facts) = (self.index, &self.index.files[file]);
        let mut names: Vec<&str> = facts.variables.iter().map(|v| v.name.as_str()).collect();
        for c in facts.calls.iter().filter(|c| c.caller.is_none()) {
            if let Some(m) = self.kb.table_macro(&c.callee) {
                names.extend(c.args.get(m.var_arg).map(|a| a.as_str()));
            }
        }
        let holds = |expr: &str| {
            crate::index::referenced_name(expr)
                .filter(|n| is_word(n))
                .and_then(|n| index.resolve_function(file, n))
                == Some(fref)
        };
        names.into_iter().any(|name| {
            let Some(var) = index.resolve_variable(file, name) else {
                return false;
            };
            if index.struct_name(&index.variable(var).type_name) != self.struct_name {
                return false;
            }
            let values = index.table_values(var, self.struct_name);
            let text = |t: &crate::index::TableValue| match &t.value {
                crate::index::TableContent::Expr(e) => e.clone(),
                crate::index::TableContent::List(_) => String::new(),
            };
            let holds_routine = values.iter().any(|t| holds(&text(t)));
            let sets_owner = values
                .iter()
                .any(|t| t.field == self.field && self.is_own(&text(t)))
                || self.macro_sets(var);
            holds_routine && sets_owner
        })
    }
}

impl OwnerField<'_> {
    /// Whether the initializer of `var` names a macro whose definition, as the table's file
    /// sees it, holds the owner item (raw1394's `OWNER_THIS_MODULE`, `owner: THIS_MODULE,` in
    /// the tree's era and empty before 2.3: the release the tree's Makefile says picks the
    /// branch).
    fn macro_sets(&self, var: crate::index::VarRef) -> bool {
        let Some(init) = &self.index.variable(var).init else {
            return false;
        };
        let macros = init
            .items
            .iter()
            .filter_map(|i| match (&*i.designators, &i.value) {
                ([Designator::Macro], InitValue::Expr(name)) => Some(name.as_str()),
                _ => None,
            });
        let files = self.index.files;
        macros
            .filter_map(|m| self.no_work.object_body(files, var.file, m))
            .any(|body| {
                body.split(',').any(|item| {
                    let item = item.trim().trim_start_matches('.');
                    let pair = item.split_once(':').or_else(|| item.split_once('='));
                    pair.is_some_and(|(f, v)| f.trim() == self.field && self.is_own(v))
                })
            })
    }
}

/// Module fields through which the tree's core pins a module before calling into it, read off
/// the tree: `try_inc_mod_count(fmt->module)` with `fmt` a `struct linux_binfmt *` (2.4's
/// search_binary_handler) makes `linux_binfmt.module` one. 2.3.41 has the same field, set to
/// THIS_MODULE by every binary format, but no core site pins through it: a field name alone
/// says nothing, the tree's own calls do.
#[derive(Debug, Default)]
pub struct CorePins {
    /// (struct, field) pairs: a handful in a tree, so a list.
    fields: Vec<(String, String)>,
}

impl CorePins {
    pub fn new(index: &Index, kb: &Kb) -> Self {
        let mut fields = Vec::new();
        let pinning = &kb.data.use_count.try_increment;
        for f in index.files {
            for c in f
                .calls
                .iter()
                .filter(|c| pinning.iter().any(|p| *p == c.callee))
            {
                let (Some(arg), Some(caller)) = (c.args.first(), c.caller) else {
                    continue;
                };
                let arg: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
                let Some((var, field)) = arg.split_once("->").or_else(|| arg.split_once('.'))
                else {
                    continue;
                };
                if !is_word(var) || !is_word(field) {
                    continue;
                }
                let function = &f.functions[caller as usize];
                if let Some(st) = index.local_struct(function, var) {
                    fields.push((st.to_string(), field.to_string()));
                }
            }
        }
        fields.sort();
        fields.dedup();
        CorePins { fields }
    }

    /// Whether the core pins through `struct_name.field`.
    pub fn pins(&self, struct_name: &str, field: &str) -> bool {
        self.fields
            .iter()
            .any(|(s, f)| s == struct_name && f == field)
    }
}
