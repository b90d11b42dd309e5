//! The slot table: which functions each `struct.field` holds, from initializers and
//! assignments.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::resolve::Resolver;
use super::{Ctx, MAX_NESTING};
use crate::index::{referenced_name, FnRef, TableContent, TableValue, VarRef};

impl Resolver<'_, '_> {
    /// Which functions each `struct.field` holds: initializers of tables (nested ones too),
    /// `var.field = f` and `p->field = f` anywhere.
    pub(super) fn build_slot_table(&mut self) {
        let index = self.index;
        // Each file read on its own core; merged in file order (the lists are sorted after).
        let per_file: Vec<FileSlots> = (0..index.files.len())
            .into_par_iter()
            .map(|fi| self.file_slots(fi))
            .collect();
        let mut table: FxHashMap<(String, String), Vec<FnRef>> = FxHashMap::default();
        let mut by_field: Vec<(String, Vec<FnRef>)> = Vec::new();
        for file in per_file {
            for (key, fns) in file.stored {
                table.entry(key).or_default().extend(fns);
            }
            by_field.extend(file.by_field);
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

    /// What one file stores in slots: table initializers, and assignments `x.f = fn` whose
    /// struct is known (`stored`) or not (`by_field`).
    fn file_slots(&self, fi: usize) -> FileSlots {
        let index = self.index;
        let f = &index.files[fi];
        let mut table: FxHashMap<(String, String), Vec<FnRef>> = FxHashMap::default();
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
        let mut stored: Vec<((String, String), Vec<FnRef>)> = table.into_iter().collect();
        let mut by_field = Vec::new();
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
                Some(s) => stored.push(((s, a.field.to_string()), fns)),
                None => by_field.push((a.field.to_string(), fns)),
            }
        }
        FileSlots { stored, by_field }
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

/// One file's stores into slots.
struct FileSlots {
    stored: Vec<((String, String), Vec<FnRef>)>,
    by_field: Vec<(String, Vec<FnRef>)>,
}
