//! Following registrations and stores to the routines they hand over: tables, nested
//! tables, tables built in a function, template copies and table-defining macros.

use rustc_hash::FxHashSet as HashSet;

use crate::facts::Call;
use crate::index::{
    access_path, referenced_member, referenced_name, TableContent, TableValue, VarRef,
};
use crate::kb::{RegistrationKind, Takes, TakesSource};

use super::{
    module_capable, Collector, Entry, Origin, Outcome, Slot, SlotRef, Via, MAX_TABLE_DEPTH,
};

impl<'a> Collector<'a> {
    /// Reads the table `name` (a local or an access path) of function `func` for one
    /// registration routine once: a later call with the same table gets the first outcome
    /// (`same-local-table` for a table read), so repeated registrations stay linear.
    fn read_once(
        &mut self,
        fi: usize,
        func: u32,
        name: &str,
        takes: Accepts,
        via: &Origin,
        read: impl FnOnce(&mut Self) -> Outcome,
    ) -> Outcome {
        let key = (
            fi,
            func,
            name.to_string(),
            takes.0.to_vec(),
            via.via.clone(),
        );
        if let Some(&first) = self.local_tables.get(&key) {
            return again(first);
        }
        let outcome = read(self);
        self.local_tables.insert(key, outcome);
        outcome
    }

    pub(super) fn registration(&mut self, fi: usize, call: &Call) -> Outcome {
        let (kind, args, takes) = self.shape(call);
        let takes = Accepts(&takes);
        let via = Origin {
            via: Via::Call(call.callee.to_string()),
            file: fi,
            line: call.line,
        };
        let mut outcome = None;
        for idx in args {
            let before = self.entries.len();
            let o = self.argument(fi, call, idx, kind, takes, &via);
            let o = if self.entries.len() > before {
                Outcome::Entries
            } else {
                o
            };
            outcome = Some(outcome.map_or(o, |p: Outcome| p.min(o)));
        }
        outcome.unwrap_or(Outcome::NoArguments)
    }

    /// Argument `idx` of a registration routine that takes the callback itself: only a
    /// function is a callback; a variable there is the callback's private data.
    fn callback(
        &mut self,
        fi: usize,
        call: &Call,
        idx: usize,
        name: &str,
        via: &Origin,
    ) -> Outcome {
        match self.index.resolve_function(fi, name) {
            Some(func)
                if !call
                    .caller
                    .is_some_and(|c| self.index.is_local(fi, c, name)) =>
            {
                let slot = SlotRef::Callback {
                    routine: call.callee.to_string(),
                    arg: idx,
                };
                self.push(func, slot, via);
                Outcome::Entries
            }
            _ if call
                .caller
                .is_some_and(|c| self.index.is_local(fi, c, name)) =>
            {
                Outcome::Parameter
            }
            _ => Outcome::UnknownName,
        }
    }

    /// Follows argument `idx` of a registration call; the reason when it leads nowhere.
    fn argument(
        &mut self,
        fi: usize,
        call: &Call,
        idx: usize,
        kind: Option<RegistrationKind>,
        takes: Accepts,
        via: &Origin,
    ) -> Outcome {
        let Some(arg) = call.args.get(idx) else {
            return Outcome::MissingArgument;
        };
        let Some(name) = referenced_name(arg) else {
            if is_null(arg) {
                return Outcome::Null;
            }
            // `register_isdn(&card->interface)` after `card->interface.command = f;`.
            let path = access_path(arg).zip(call.caller);
            return match (path, takes.0.first()) {
                (Some((path, caller)), Some(_)) if kind == Some(RegistrationKind::Table) => self
                    .read_once(fi, caller, path, takes, via, |c| {
                        c.path_table(fi, caller, path, takes, via)
                    }),
                _ => Outcome::Expression,
            };
        };
        self.named_argument(fi, call, idx, name, kind, takes, via)
    }

    /// The table an access path names (`&card->interface`): what the function stores into it,
    /// else what another function's copy put there.
    fn path_table(
        &mut self,
        fi: usize,
        caller: u32,
        path: &str,
        takes: Accepts,
        via: &Origin,
    ) -> Outcome {
        let st = &takes.0[0];
        let values = self.index.path_table(fi, caller, path);
        // Another function's copy counts only where this one fills nothing.
        let copied = self.copied_table(fi, path, values.is_empty(), takes, via);
        if values.is_empty() && !copied {
            return Outcome::Expression;
        }
        let mut seen = HashSet::default();
        for v in &values {
            self.value(v, st, via, &mut seen, 1);
        }
        Outcome::LocalTable
    }

    #[allow(clippy::too_many_arguments)]
    fn named_argument(
        &mut self,
        fi: usize,
        call: &Call,
        idx: usize,
        name: &str,
        kind: Option<RegistrationKind>,
        takes: Accepts,
        via: &Origin,
    ) -> Outcome {
        if name == "NULL" {
            return Outcome::Null;
        }
        if kind == Some(RegistrationKind::Callback) {
            return self.callback(fi, call, idx, name, via);
        }
        let resolved = self.index.resolve_variable(fi, name);
        if let Some(caller) = call.caller {
            // A static inside the calling function is a table like a file-scope one.
            let static_here = resolved.is_some_and(|v| {
                self.index.variable(v).is_static
                    && v.file == fi
                    && self
                        .index
                        .enclosing_function(fi, self.index.variable(v).line)
                        == Some(caller)
            });
            if !static_here && self.index.is_typed_local(fi, caller, name) {
                self.copied_table(fi, name, false, takes, via);
                return self.local_table(fi, caller, name, takes, via, &mut HashSet::default(), 0);
            }
            if !static_here && self.index.is_local(fi, caller, name) {
                let f = &self.index.files[fi].functions[caller as usize];
                return if f.params.iter().any(|p| p.name.as_deref() == Some(name)) {
                    Outcome::Parameter
                } else {
                    Outcome::Local
                };
            }
        }
        if let Some(var) = resolved {
            let declared = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            let Some(st) = self.table_type(&declared, takes) else {
                return Outcome::TypeMismatch;
            };
            self.table(var, &st, via, &mut HashSet::default(), 0);
            return Outcome::EmptyTable;
        }
        if let Some(func) = self.index.resolve_function(fi, name) {
            // A routine only the patterns know: a function argument is a callback.
            if kind.is_none() {
                let slot = SlotRef::Callback {
                    routine: call.callee.to_string(),
                    arg: idx,
                };
                self.push(func, slot, via);
                return Outcome::Entries;
            }
            return Outcome::FunctionForTable;
        }
        if let Some(var) = self.index.resolve_undeclared(name) {
            // Undeclared here: only the exact type the routine takes makes it this table.
            let st = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            if takes.0.contains(&st) {
                self.table(var, &st, via, &mut HashSet::default(), 0);
                return Outcome::EmptyTable;
            }
        }
        if self.index.defined_elsewhere(name) {
            Outcome::NotVisible
        } else {
            Outcome::UnknownName
        }
    }

    /// A struct registered after a copy from a template (`memcpy(&btv->video_dev,
    /// &bttv_template, n)` before `video_register_device(&btv->video_dev, ...)`): the
    /// template's routines, when the template has the struct the routine takes.
    fn copied_table(
        &mut self,
        fi: usize,
        dst: &str,
        by_member: bool,
        takes: Accepts,
        via: &Origin,
    ) -> bool {
        let before = self.entries.len();
        for src in self.index.copied_from(fi, dst, by_member) {
            let Some(var) = referenced_name(src).and_then(|n| self.index.resolve_variable(fi, n))
            else {
                continue;
            };
            let st = self
                .index
                .struct_name(&self.index.variable(var).type_name)
                .to_string();
            if takes.0.contains(&st) {
                self.table(var, &st, via, &mut HashSet::default(), 0);
            }
        }
        self.entries.len() > before
    }

    /// A struct-typed local (or parameter) of function `func` handed over: what the function
    /// stores into its fields.
    #[allow(clippy::too_many_arguments)]
    fn local_table(
        &mut self,
        fi: usize,
        func: u32,
        name: &str,
        takes: Accepts,
        via: &Origin,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) -> Outcome {
        self.read_once(fi, func, name, takes, via, |c| {
            c.read_local_table(fi, func, name, takes, via, seen, depth)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn read_local_table(
        &mut self,
        fi: usize,
        func: u32,
        name: &str,
        takes: Accepts,
        via: &Origin,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) -> Outcome {
        let (declared, values) = self.index.local_table(fi, func, name);
        let Some(declared) = declared.map(|d| self.index.struct_name(d).to_string()) else {
            return Outcome::Local;
        };
        let Some(st) = self.table_type(&declared, takes) else {
            return Outcome::TypeMismatch;
        };
        self.consumed
            .extend(self.index.local_assigns(fi, func, name));
        for v in &values {
            self.value(v, &st, via, seen, depth + 1);
        }
        Outcome::LocalTable
    }

    /// The struct type to read a table of type `declared` as, handed to a routine that takes
    /// `takes`: its own when the routine takes it (or the knowledge base does not say), the
    /// routine's when `declared` is no struct the tree defines (`struct NET_DEVICE`, a macro),
    /// and `None` when it is another struct: then the name means some other object.
    fn table_type(&self, declared: &str, takes: Accepts) -> Option<String> {
        let known = |s: &str| self.index.struct_def(s).is_some();
        if takes.0.is_empty() || takes.0.iter().any(|t| t == declared) {
            Some(declared.to_string())
        } else if !known(declared) {
            Some(takes.0[0].clone())
        } else if !takes.0.iter().any(|t| known(t)) {
            // The knowledge base names a type this tree does not define (2.3's md_personality
            // is 2.4's mdk_personality_t): no evidence against the variable.
            Some(declared.to_string())
        } else {
            None
        }
    }

    fn table(
        &mut self,
        var: VarRef,
        struct_name: &str,
        via: &Origin,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if depth > MAX_TABLE_DEPTH || !seen.insert(var) {
            return;
        }
        for value in self.index.table_values(var, struct_name) {
            self.value(&value, struct_name, via, seen, depth + 1);
        }
    }

    /// Whether field `field` of `struct_name` can hold a table of struct `table`: its declared
    /// type says so, or the tree does not tell. An integer or function-pointer field cannot.
    fn holds_table(&self, struct_name: &str, field: &str, table: &str) -> bool {
        let declared = self
            .index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field));
        match declared {
            None => true,
            Some(f) if f.is_fn_ptr => false,
            // A `void *` holds private data, unless the knowledge base says the kernel casts
            // it back to a table (`ide_module_t.info`).
            Some(f) if f.struct_type.is_none() => {
                f.is_pointer
                    && self
                        .kb
                        .member(struct_name, field)
                        .is_some_and(|m| self.index.struct_name(&m.target) == table)
            }
            Some(f) => f
                .struct_type
                .as_deref()
                .is_some_and(|t| self.index.struct_name(t) == table),
        }
    }

    /// Whether field `field` of `struct_name` can hold a function: a function pointer, a
    /// pointer to a typedef that is no struct (`read_proc_t *read_proc`), or a field the tree
    /// does not define. `driver->major = error`, with `error` a local the facts do not list,
    /// must not find some function called `error`.
    fn holds_function(&self, struct_name: &str, field: &str) -> bool {
        let declared = self
            .index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field));
        let Some(f) = declared else {
            return true;
        };
        f.is_fn_ptr
            || match &f.struct_type {
                None => f.is_pointer,
                Some(t) => self.index.struct_def(t).is_none(),
            }
    }

    /// Whether the field's declared type is exactly the table's struct: the evidence an
    /// undeclared name needs.
    fn declared_as(&self, struct_name: &str, field: &str, table: &str) -> bool {
        self.index
            .struct_def(struct_name)
            .and_then(|d| d.fields.iter().find(|f| f.name == field))
            .and_then(|f| f.struct_type.as_deref())
            .is_some_and(|t| self.index.struct_name(t) == table)
    }

    pub(super) fn value(
        &mut self,
        value: &TableValue,
        struct_name: &str,
        via: &Origin,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if depth > MAX_TABLE_DEPTH {
            return;
        }
        match &value.value {
            TableContent::Expr(expr) => {
                let Some(name) = referenced_name(expr) else {
                    if let Some((table, member)) = referenced_member(expr) {
                        self.member_value(value, table, member, struct_name, via, seen, depth);
                    }
                    return;
                };
                if name == "NULL" {
                    return;
                }
                if let Some(scope) = value.scope {
                    // `misc.fops = &fops` with both locals; a pointer (`i->i_sb = sb`) is some
                    // object the kernel already has, not a table being filled.
                    if self.index.is_typed_local(value.file, scope, name) && is_address_of(expr) {
                        // A local table stored into this one (`misc.fops = &fops`).
                        let sub = self.index.local_table(value.file, scope, name).0;
                        let sub = sub.map(|s| self.index.struct_name(s).to_string());
                        if sub.is_some_and(|s| self.holds_table(struct_name, &value.field, &s)) {
                            self.local_table(
                                value.file,
                                scope,
                                name,
                                Accepts(&[]),
                                via,
                                seen,
                                depth,
                            );
                        }
                        return;
                    }
                    if self.index.is_local(value.file, scope, name) {
                        return;
                    }
                }
                if let Some(func) = self.index.resolve_function(value.file, name) {
                    if value.field.is_empty() || !self.holds_function(struct_name, &value.field) {
                        return;
                    }
                    let slot = Slot {
                        strukt: struct_name.to_string(),
                        field: value.field.clone(),
                    };
                    self.push(func, SlotRef::Field(slot), via);
                } else if let Some(var) = self.index.resolve_variable(value.file, name) {
                    let st = self
                        .index
                        .struct_name(&self.index.variable(var).type_name)
                        .to_string();
                    if value.field.is_empty() || self.holds_table(struct_name, &value.field, &st) {
                        self.table(var, &st, via, seen, depth);
                    }
                } else if let Some(var) = self.index.resolve_undeclared(name) {
                    let st = self
                        .index
                        .struct_name(&self.index.variable(var).type_name)
                        .to_string();
                    if self.declared_as(struct_name, &value.field, &st) {
                        self.table(var, &st, via, seen, depth);
                    }
                }
            }
            TableContent::List(list) => {
                // An embedded struct field: its type comes from the struct definition.
                let Some(sub) = self
                    .index
                    .struct_def(struct_name)
                    .and_then(|d| d.fields.iter().find(|f| f.name == value.field))
                    .and_then(|f| f.struct_type.clone())
                else {
                    return;
                };
                let sub = self.index.struct_name(&sub).to_string();
                let mut values = Vec::new();
                self.index.list_values(list, &sub, value.file, &mut values);
                for v in values {
                    self.value(&v, &sub, via, seen, depth + 1);
                }
            }
        }
    }

    /// `ent->read_proc = drm_proc_list[i].f`: what field `member` of table `table` holds
    /// (in any element) is stored into `value`'s slot.
    #[allow(clippy::too_many_arguments)]
    fn member_value(
        &mut self,
        value: &TableValue,
        table: &str,
        member: &str,
        struct_name: &str,
        via: &Origin,
        seen: &mut HashSet<VarRef>,
        depth: usize,
    ) {
        if value
            .scope
            .is_some_and(|s| self.index.is_local(value.file, s, table))
        {
            return;
        }
        let Some(var) = self.index.resolve_variable(value.file, table) else {
            return;
        };
        let st = self
            .index
            .struct_name(&self.index.variable(var).type_name)
            .to_string();
        for held in self.index.table_values(var, &st) {
            if held.field != member {
                continue;
            }
            if let TableContent::Expr(e) = &held.value {
                let moved = TableValue {
                    field: value.field.clone(),
                    value: TableContent::Expr(e.clone()),
                    file: held.file,
                    line: held.line,
                    scope: held.scope,
                };
                self.value(&moved, struct_name, via, seen, depth + 1);
            }
        }
    }

    fn push(&mut self, func: crate::index::FnRef, slot: SlotRef, via: &Origin) {
        let file = &self.index.files[func.file];
        let f = self.index.function(func);
        let (takes, source) = match slot.field() {
            Some(s) => self.kb.takes(&s.strukt, &s.field),
            None => (Takes::Token, TakesSource::Heuristic),
        };
        let (module_capable, evidence, reason) = module_capable(self.build, file);
        self.entries.push(Entry {
            function: f.name.to_string(),
            file: file.path.to_string(),
            line: f.line,
            slot,
            via: via.via.clone(),
            registration_file: self.index.files[via.file].path.to_string(),
            registration_line: via.line,
            takes,
            takes_source: source,
            module_capable,
            module_evidence: evidence,
            module: reason.module().cloned(),
            module_reason: reason,
            covered_by: None,
        });
    }
}

/// The struct types a registration routine takes; empty when the knowledge base does not say.
#[derive(Clone, Copy)]
struct Accepts<'t>(&'t [String]);

/// The outcome of a table read a second time: its routines were listed with the first read.
fn again(first: Outcome) -> Outcome {
    match first {
        Outcome::LocalTable => Outcome::SameLocalTable,
        other => other,
    }
}

/// Whether an expression takes an address: `&x`, `(void *) &x`.
fn is_address_of(expr: &str) -> bool {
    expr.trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .starts_with('&')
        || expr.contains(") &")
        || expr.contains(")&")
}

/// `0` or a cast of it: a null pointer written without `NULL`.
fn is_null(arg: &str) -> bool {
    let t: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
    t == "0" || t.ends_with(")0") || t == "(0)"
}
