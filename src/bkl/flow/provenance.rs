//! Provenance: which tables a slot call's base can be (see the parent module's docs).

use rustc_hash::FxHashSet;

use super::{intern, split_member, squash, Flow, Store, MAX_FIELD_DEPTH, MAX_TABLES};
use crate::ctext::split_args;
use crate::entries::Slot;
use crate::facts::{StmtKind, Value};
use crate::index::{referenced_name, FnRef, TableContent, VarRef};

impl<'a> Flow<'a> {
    /// The functions a call through `base` can reach in `slot`, when every table `base` can
    /// be is known.
    pub(super) fn targets(
        &self,
        f: FnRef,
        line: u32,
        base: &str,
        slot: &Slot,
    ) -> Option<FxHashSet<FnRef>> {
        let function = self.index.function(f);
        let local = self.local_stores(f, line, base);
        let mut tables = Vec::new();
        if local.is_empty() && crate::ctext::is_identifier(base) {
            tables = self.parameter_tables(f, base, 0)?;
        } else if local.is_empty() {
            let (owner, field) = split_member(base)?;
            let ty = self.typer.expr_type(f.file, function, &owner)?;
            tables = self.field_tables(&ty, &field, 0)?;
        } else {
            for (value, _) in local {
                tables.extend(self.value_tables(f.file, Some(f.func as u32), value, 0)?);
            }
        }
        let mut out = FxHashSet::default();
        for var in tables {
            let st = self.index.struct_name(&self.index.variable(var).type_name);
            for tv in self.index.table_values(var, st) {
                if tv.field != slot.field {
                    continue;
                }
                if let TableContent::Expr(e) = &tv.value {
                    let g =
                        referenced_name(e).and_then(|n| self.index.resolve_function(tv.file, n));
                    out.extend(g);
                }
            }
        }
        Some(out)
    }

    /// Why a call through parameter `base` of `f` reaches every routine of its slot, when a
    /// direct caller passes the address of a member (`&p->ops`): said beside the verdict.
    pub(super) fn member_argument(&self, f: FnRef, base: &str) -> Option<String> {
        let function = self.index.function(f);
        let k = (function.params.iter()).position(|p| p.name.as_deref() == Some(base))?;
        for &(fi, ci) in self.by_name.get(function.name.as_str())? {
            if self.index.resolve_function(fi, &function.name) != Some(f) {
                continue;
            }
            let c = &self.index.files[fi].calls[ci as usize];
            let Some(arg) = c.args.get(k).map(|a| squash(a)) else {
                continue;
            };
            if arg
                .strip_prefix('&')
                .is_some_and(|a| split_member(a).is_some())
            {
                let caller = c.caller.map_or("?", |g| {
                    self.index.files[fi].functions[g as usize].name.as_str()
                });
                return Some(format!(
                    "every routine of the slot: {caller} passes `{arg}`, a table inside an \
                     object, filled by no store that names a table"
                ));
            }
        }
        None
    }

    /// The tables every direct caller passes as parameter `base` (`qdisc_create_dflt(dev,
    /// &pfifo_qdisc_ops)`); a function that sits in a slot is called through pointers too.
    pub(super) fn parameter_tables(
        &self,
        f: FnRef,
        base: &str,
        depth: usize,
    ) -> Option<Vec<VarRef>> {
        if self.stored.contains_key(&f) || depth > MAX_FIELD_DEPTH {
            return None;
        }
        let function = self.index.function(f);
        let k = function
            .params
            .iter()
            .position(|p| p.name.as_deref() == Some(base))?;
        if let Some(known) = self.param_cache.borrow().get(&(f, k)) {
            return known.clone();
        }
        self.param_cache.borrow_mut().insert((f, k), None);
        let found = self.parameter_tables_uncached(f, k, depth);
        self.param_cache.borrow_mut().insert((f, k), found.clone());
        found
    }

    fn parameter_tables_uncached(&self, f: FnRef, k: usize, depth: usize) -> Option<Vec<VarRef>> {
        let function = self.index.function(f);
        let mut out = Vec::new();
        let mut any = false;
        for &(fi, ci) in self.by_name.get(function.name.as_str())? {
            if self.index.resolve_function(fi, &function.name) != Some(f) {
                continue;
            }
            let c = &self.index.files[fi].calls[ci as usize];
            out.extend(self.value_tables(fi, c.caller, c.args.get(k)?, depth)?);
            any = true;
        }
        any.then_some(out)
    }

    /// The tables a stored value can be.
    fn value_tables(
        &self,
        file: usize,
        function: Option<u32>,
        value: &str,
        depth: usize,
    ) -> Option<Vec<VarRef>> {
        let v = squash(value);
        if matches!(v.as_str(), "NULL" | "0") {
            return Some(Vec::new());
        }
        if depth > MAX_FIELD_DEPTH {
            return None;
        }
        if let Some((name, rest)) = v.split_once('(') {
            let arg = rest.strip_suffix(')')?;
            if self.returns_argument.iter().any(|r| r == name) {
                return self.value_tables(file, function, arg, depth);
            }
            // A getter (`get_blkfops(major)`): what its returns can be, its parameters bound
            // to the arguments written here.
            let g = self.index.resolve_function(file, name)?;
            let args: Vec<String> = split_args(arg).into_iter().map(String::from).collect();
            return self.returned_tables(g, &args, depth + 1);
        }
        let name = v.trim_start_matches('&');
        // `&p->ops`: a table inside an object, filled by stores into its own fields or by a
        // copy (`memcpy`) that name no table. Nothing narrower than every routine is known.
        if v.starts_with('&') && split_member(name).is_some() {
            return None;
        }
        // `&tables[i]`: an element of an array of tables.
        let name = match name.split_once('[') {
            Some((n, rest)) if rest.ends_with(']') => n,
            _ => name,
        };
        if crate::ctext::is_identifier(name) {
            let local = function.is_some_and(|c| self.index.is_local(file, c, name));
            if local {
                // A parameter stored (`blkdevs[major].fops = fops`): what the callers pass.
                let f = FnRef {
                    file,
                    func: function? as usize,
                };
                return self.parameter_tables(f, name, depth + 1);
            }
            // A global the file's headers do not declare as C would see it (the second name
            // of `extern struct file_operations a, b;`): the one definition of the tree.
            let var = self
                .index
                .resolve_variable(file, name)
                .or_else(|| self.index.resolve_undeclared(name));
            let Some(var) = var else {
                // A function stored where a table belongs (a mistake of the tree's) brings
                // no table.
                return self.index.resolve_function(file, name).map(|_| Vec::new());
            };
            let st = self.index.struct_name(&self.index.variable(var).type_name);
            return self.index.struct_def(st).map(|_| vec![var]);
        }
        let (owner, field) = split_member(&v)?;
        if let Some(t) = self.variable_field_tables(file, function, &owner, &field, depth) {
            return Some(t);
        }
        let func = &self.index.files[file].functions[function? as usize];
        let ty = self.typer.expr_type(file, func, &owner)?;
        self.field_tables(&ty, &field, depth + 1)
    }

    /// `var[i].field` or `var.field` of a global `var`: the stores into that variable's field
    /// only (`blkdevs` and `chrdevs` share a struct, not their tables).
    fn variable_field_tables(
        &self,
        file: usize,
        function: Option<u32>,
        owner: &str,
        field: &str,
        depth: usize,
    ) -> Option<Vec<VarRef>> {
        let name = owner.split_once('[').map_or(owner, |(n, _)| n);
        if !crate::ctext::is_identifier(name)
            || function.is_some_and(|c| self.index.is_local(file, c, name))
        {
            return None;
        }
        let var = self.index.resolve_variable(file, name)?;
        let stores = self.var_stores.get(&(var, field))?;
        let key = (var, field.to_string());
        if let Some(known) = self.var_cache.borrow().get(&key) {
            return known.clone();
        }
        // A variable stored from itself adds nothing while it is being computed.
        self.var_cache
            .borrow_mut()
            .insert(key.clone(), Some(Vec::new()));
        let mut out = Some(Vec::new());
        for s in stores {
            match (
                &mut out,
                self.value_tables(s.file, s.function, &s.value, depth + 1),
            ) {
                (Some(o), Some(t)) if o.len() + t.len() <= MAX_TABLES => o.extend(t),
                _ => {
                    out = None;
                    break;
                }
            }
        }
        self.var_cache.borrow_mut().insert(key, out.clone());
        out
    }

    /// The tables a getter's returns can be: fields, NULL, calls of getters, and locals
    /// assigned from those; a returned expression that starts with a parameter the call
    /// passes a global for (`tb[major].fops`, `tb` = `blkdevs`) reads that global.
    fn returned_tables(&self, g: FnRef, args: &[String], depth: usize) -> Option<Vec<VarRef>> {
        let function = self.index.function(g);
        if function.body.is_empty() || depth > MAX_FIELD_DEPTH {
            return None;
        }
        let calls = &self.index.files[g.file].calls;
        let text_of = |v: &Value| -> Option<Option<String>> {
            match v {
                Value::Null | Value::Int(0) => Some(None),
                Value::Field(f) => Some(Some(f.to_string())),
                Value::Call(c) => {
                    let c = &calls[*c as usize];
                    Some(Some(format!("{}({})", c.callee, c.args.join(","))))
                }
                _ => None,
            }
        };
        let mut texts = Vec::new();
        for stmt in &function.body.stmts {
            let StmtKind::Return(e) = &stmt.kind else {
                continue;
            };
            match e.as_ref().map(|e| &e.value) {
                None => {}
                Some(Value::Var(v)) => {
                    for e in function.body.exprs() {
                        for a in e.assigns.iter().filter(|a| a.var == v) {
                            texts.extend(text_of(&a.value)?);
                        }
                    }
                }
                Some(v) => texts.extend(text_of(v)?),
            }
        }
        let mut out = Vec::new();
        for t in texts {
            let t = bind_parameter(&t, function, args);
            out.extend(self.value_tables(g.file, Some(g.func as u32), &t, depth)?);
        }
        Some(out)
    }

    /// Every table stored into `ty.field` anywhere in the tree, if all stores are tables.
    fn field_tables(&self, ty: &str, field: &str, depth: usize) -> Option<Vec<VarRef>> {
        if depth > MAX_FIELD_DEPTH {
            return None;
        }
        let st = intern(self.index, ty);
        let def = self.index.struct_def(st)?;
        let fdef = def.fields.iter().find(|f| f.name == field)?;
        // A table inside the object (`struct pipe_ops ops;`) is filled by stores into its own
        // fields or by a copy, none of which names a table: not known.
        if !fdef.is_pointer {
            return None;
        }
        let key = (st, fdef.name.as_str());
        if let Some(known) = self.field_cache.borrow().get(&key) {
            return known.clone();
        }
        // A field stored from itself adds nothing: it is empty while it is being computed.
        self.field_cache.borrow_mut().insert(key, Some(Vec::new()));
        let mut out: Option<Vec<VarRef>> = Some(Vec::new());
        let untyped = self.stores.get(&("", key.1)).into_iter().flatten();
        let mut initialized = Vec::new();
        for &var in self.tables_by_struct.get(key.0).into_iter().flatten() {
            for tv in self.index.table_values(var, key.0) {
                if let (true, TableContent::Expr(value)) = (tv.field == key.1, tv.value) {
                    initialized.push(Store {
                        file: tv.file,
                        function: tv.scope,
                        value,
                    });
                }
            }
        }
        let stores = self.stores.get(&key).into_iter().flatten();
        for s in stores.chain(untyped).chain(&initialized) {
            match (
                &mut out,
                self.value_tables(s.file, s.function, &s.value, depth),
            ) {
                (Some(o), Some(t)) if o.len() + t.len() <= MAX_TABLES => o.extend(t),
                _ => {
                    out = None;
                    break;
                }
            }
        }
        if let Some(o) = &mut out {
            o.sort_by_key(|v| (v.file, v.var));
            o.dedup();
        }
        self.field_cache.borrow_mut().insert(key, out.clone());
        out
    }
}

/// `tb[major].fops` with `tb` the function's parameter k and the call's argument k a plain
/// global name: that name in its place.
fn bind_parameter(text: &str, function: &crate::facts::Function, args: &[String]) -> String {
    let end = text
        .find(|c: char| !crate::ctext::is_ident_char(c))
        .unwrap_or(text.len());
    let head = &text[..end];
    let k = function
        .params
        .iter()
        .position(|p| p.name.as_deref() == Some(head));
    match k.and_then(|k| args.get(k)) {
        Some(a) if crate::ctext::is_identifier(a) && end < text.len() => {
            format!("{a}{}", &text[end..])
        }
        _ => text.to_string(),
    }
}
