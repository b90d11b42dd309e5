//! The slot table: which functions each `struct.field` holds, from initializers and
//! assignments.

use rustc_hash::FxHashMap;

use super::{Builder, Ctx, MAX_NESTING};
use crate::index::{referenced_name, FnRef, TableContent, TableValue, VarRef};

impl<'a> Builder<'_, 'a> {
    /// Which functions each `struct.field` holds: initializers of tables (nested ones too),
    /// `var.field = f` and `p->field = f` anywhere.
    pub(super) fn build_slot_table(&mut self) {
        let index = self.index;
        let mut table: FxHashMap<(String, String), Vec<FnRef>> = FxHashMap::default();
        for (fi, f) in index.files.iter().enumerate() {
            for (vi, v) in f.variables.iter().enumerate() {
                if v.init.is_none() {
                    continue;
                }
                let s = index.struct_name(&v.type_name).to_string();
                if index.struct_def(&s).is_none() {
                    continue;
                }
                let values = index.table_values(VarRef { file: fi, var: vi }, &s);
                self.table_values(&s, &values, &mut table, 0);
            }
        }
        let mut by_field: Vec<(String, Vec<FnRef>)> = Vec::new();
        for (fi, f) in index.files.iter().enumerate() {
            for a in &f.field_assigns {
                let Some(name) = referenced_name(&a.value) else {
                    continue;
                };
                let fns = self.functions_named(fi, name);
                if fns.is_empty() {
                    continue;
                }
                let func = a.caller.map(|c| &f.functions[c as usize]);
                let ctx = Ctx {
                    file: fi as u32,
                    func,
                    macro_params: &[],
                };
                let s = match &a.base_type {
                    Some(t) => self.known_struct(t),
                    None => self.expr_struct(&a.base, ctx, 0),
                };
                match s {
                    Some(s) => table
                        .entry((s, a.field.to_string()))
                        .or_default()
                        .extend(fns),
                    None => by_field.push((a.field.to_string(), fns)),
                }
            }
        }
        let mut field_structs: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for f in index.files {
            for s in &f.structs {
                for fld in s.fields.iter().filter(|x| x.is_fn_ptr) {
                    field_structs
                        .entry(fld.name.to_string())
                        .or_default()
                        .push(s.name.to_string());
                }
            }
        }
        for (s, field) in table.keys() {
            field_structs
                .entry(field.clone())
                .or_default()
                .push(s.clone());
        }
        for v in field_structs.values_mut() {
            v.sort();
            v.dedup();
        }
        // An assignment through a base of unknown type counts when only one struct has the field.
        for (field, fns) in by_field {
            if let Some([s]) = field_structs.get(&field).map(|v| v.as_slice()) {
                table.entry((s.clone(), field)).or_default().extend(fns);
            }
        }
        for v in table.values_mut() {
            v.sort_by_key(|r| (r.file, r.func));
            v.dedup();
        }
        self.slot_table = table;
        self.field_structs = field_structs;
    }

    pub(super) fn table_values(
        &self,
        s: &str,
        values: &[TableValue],
        table: &mut FxHashMap<(String, String), Vec<FnRef>>,
        depth: usize,
    ) {
        if depth > MAX_NESTING {
            return;
        }
        for v in values {
            if v.field.is_empty() {
                continue;
            }
            match &v.value {
                TableContent::Expr(e) => {
                    let Some(name) = referenced_name(e) else {
                        continue;
                    };
                    let fns = self.functions_named(v.file, name);
                    if !fns.is_empty() {
                        table
                            .entry((s.to_string(), v.field.clone()))
                            .or_default()
                            .extend(fns);
                    }
                }
                TableContent::List(list) => {
                    let Some(sub) = self
                        .index
                        .struct_def(s)
                        .and_then(|d| d.fields.iter().find(|f| f.name == v.field))
                        .and_then(|f| f.struct_type.as_deref())
                        .and_then(|t| self.known_struct(t))
                    else {
                        continue;
                    };
                    let mut inner = Vec::new();
                    self.index.list_values(list, &sub, v.file, &mut inner);
                    self.table_values(&sub, &inner, table, depth + 1);
                }
            }
        }
    }
}
