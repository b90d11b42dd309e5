//! The whole-tree index: joins the facts of every file so that names resolve across files.

use std::collections::HashMap;

use crate::facts::{Designator, FileFacts, Function, InitList, InitValue, StructDef, Variable};
use crate::scan::Scan;

/// A function definition: file index and function index within that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FnRef {
    pub file: usize,
    pub func: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarRef {
    pub file: usize,
    pub var: usize,
}

/// One function pointer (or nested table) stored in a table, wherever it was stored: in the
/// initializer or by an assignment to `table.field`.
#[derive(Debug, Clone)]
pub struct TableValue {
    pub field: String,
    pub value: TableContent,
    pub file: usize,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub enum TableContent {
    Expr(String),
    /// A nested initializer for an embedded struct field.
    List(InitList),
}

pub struct Index<'a> {
    pub files: &'a [FileFacts],
    structs: HashMap<&'a str, &'a StructDef>,
    typedefs: HashMap<&'a str, &'a str>,
    global_fns: HashMap<&'a str, FnRef>,
    /// Every definition by (file, name): statics, and a file's own globals.
    static_fns: HashMap<(usize, &'a str), FnRef>,
    global_vars: HashMap<&'a str, VarRef>,
    static_vars: HashMap<(usize, &'a str), VarRef>,
    /// Variable name -> assignments `name.field = value` (file, assign index).
    dot_assigns: HashMap<&'a str, Vec<(usize, usize)>>,
}

/// Prefer definitions from `.c` files over headers, and include/linux over other headers:
/// a struct is defined once per architecture at worst, and the generic one is what drivers use.
fn rank(path: &str) -> u8 {
    if path.starts_with("include/linux/") || path.starts_with("include/net/") {
        0
    } else if path.ends_with(".h") && !path.contains("asm-") {
        1
    } else {
        2
    }
}

impl<'a> Index<'a> {
    pub fn build(scan: &'a Scan) -> Self {
        let files = &scan.files[..];
        let mut structs: HashMap<&str, (&StructDef, u8)> = HashMap::new();
        let mut typedefs = HashMap::new();
        let mut global_fns = HashMap::new();
        let mut static_fns = HashMap::new();
        let mut global_vars = HashMap::new();
        let mut static_vars = HashMap::new();
        let mut dot_assigns: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (fi, f) in files.iter().enumerate() {
            let r = rank(&f.path);
            for s in &f.structs {
                let better = structs.get(s.name.as_str()).is_none_or(|(old, old_rank)| {
                    r < *old_rank || (r == *old_rank && s.fields.len() > old.fields.len())
                });
                if better {
                    structs.insert(s.name.as_str(), (s, r));
                }
            }
            for t in &f.typedefs {
                if let Some(s) = &t.struct_name {
                    typedefs.entry(t.name.as_str()).or_insert(s.as_str());
                }
            }
            for (i, func) in f.functions.iter().enumerate() {
                let r = FnRef { file: fi, func: i };
                // Same-file definitions win over other files' global ones.
                static_fns.insert((fi, func.name.as_str()), r);
                if !(func.is_static || f.path.ends_with(".h")) {
                    global_fns.entry(func.name.as_str()).or_insert(r);
                }
            }
            for (i, v) in f.variables.iter().enumerate() {
                let r = VarRef { file: fi, var: i };
                static_vars.insert((fi, v.name.as_str()), r);
                if !v.is_static {
                    // A definition with an initializer wins over a tentative one.
                    let e = global_vars.entry(v.name.as_str()).or_insert(r);
                    if v.init.is_some() && files[e.file].variables[e.var].init.is_none() {
                        *e = r;
                    }
                }
            }
            for (i, a) in f.field_assigns.iter().enumerate() {
                dot_assigns
                    .entry(a.base.as_str())
                    .or_default()
                    .push((fi, i));
            }
        }
        Self {
            files,
            structs: structs.into_iter().map(|(k, (s, _))| (k, s)).collect(),
            typedefs,
            global_fns,
            static_fns,
            global_vars,
            static_vars,
            dot_assigns,
        }
    }

    pub fn function(&self, r: FnRef) -> &'a Function {
        &self.files[r.file].functions[r.func]
    }

    pub fn variable(&self, r: VarRef) -> &'a Variable {
        &self.files[r.file].variables[r.var]
    }

    /// A function name as seen from `file`: its static functions first, then global ones.
    pub fn resolve_function(&self, file: usize, name: &str) -> Option<FnRef> {
        self.static_fns
            .get(&(file, name))
            .or_else(|| self.global_fns.get(name))
            .copied()
    }

    pub fn resolve_variable(&self, file: usize, name: &str) -> Option<VarRef> {
        self.static_vars
            .get(&(file, name))
            .or_else(|| self.global_vars.get(name))
            .copied()
    }

    /// The struct name behind a type name (a typedef or the struct's own name).
    pub fn struct_name<'n>(&'n self, type_name: &'n str) -> &'n str {
        self.typedefs.get(type_name).copied().unwrap_or(type_name)
    }

    pub fn struct_def(&self, type_name: &str) -> Option<&'a StructDef> {
        self.structs.get(self.struct_name(type_name)).copied()
    }

    /// What a table variable holds: its initializer (positional items mapped to fields by the
    /// struct's definition) and assignments `var.field = value` anywhere its name is visible.
    /// For an array, the elements' contents together.
    pub fn table_values(&self, var: VarRef, struct_name: &str) -> Vec<TableValue> {
        let v = self.variable(var);
        let mut out = Vec::new();
        if let Some(init) = &v.init {
            if v.is_array {
                for item in &init.items {
                    match &item.value {
                        InitValue::List(list) => {
                            self.list_values(list, struct_name, var.file, &mut out)
                        }
                        // `{ &a, &b }`: an array of pointers to tables.
                        InitValue::Expr(e) => out.push(TableValue {
                            field: String::new(),
                            value: TableContent::Expr(e.clone()),
                            file: var.file,
                            line: item.line,
                        }),
                    }
                }
            } else {
                self.list_values(init, struct_name, var.file, &mut out);
            }
        }
        for &(fi, ai) in self.dot_assigns.get(v.name.as_str()).into_iter().flatten() {
            let a = &self.files[fi].field_assigns[ai];
            // Only assignments that see this variable: same file for a static one.
            if self.resolve_variable(fi, &v.name) != Some(var) || a.base_type.is_some() {
                continue;
            }
            out.push(TableValue {
                field: a.field.clone(),
                value: TableContent::Expr(a.value.clone()),
                file: fi,
                line: a.line,
            });
        }
        out
    }

    /// Maps an initializer list to fields of `struct_name`.
    pub fn list_values(
        &self,
        list: &InitList,
        struct_name: &str,
        file: usize,
        out: &mut Vec<TableValue>,
    ) {
        let def = self.struct_def(struct_name);
        let mut next_pos = 0usize;
        for item in &list.items {
            let field = match item.designators.first() {
                Some(Designator::Field(name)) => {
                    if let Some(d) = def {
                        if let Some(p) = d.fields.iter().position(|f| &f.name == name) {
                            next_pos = p + 1;
                        }
                    }
                    Some(name.clone())
                }
                Some(Designator::Index) => None,
                None => {
                    let f = def
                        .and_then(|d| d.fields.get(next_pos))
                        .map(|f| f.name.clone());
                    next_pos += 1;
                    f
                }
            };
            let Some(field) = field else { continue };
            let value = match &item.value {
                InitValue::Expr(e) => TableContent::Expr(e.clone()),
                InitValue::List(l) => TableContent::List(l.clone()),
            };
            out.push(TableValue {
                field,
                value,
                file,
                line: item.line,
            });
        }
    }
}

/// The name an expression refers to, with `&`, casts and parentheses stripped:
/// `&foo_fops` -> `foo_fops`, `(struct x *) &tbl[i]` -> `tbl`.
pub fn referenced_name(expr: &str) -> Option<&str> {
    let mut e = expr.trim();
    loop {
        let before = e;
        e = e.trim_start_matches('&').trim();
        if e.starts_with('(') {
            // A cast `(type) x` or parentheses `(x)`.
            if let Some(close) = matching_close(e) {
                let inner = &e[1..close];
                let rest = e[close + 1..].trim();
                e = if rest.is_empty() { inner.trim() } else { rest };
            }
        }
        if e == before {
            break;
        }
    }
    let end = e
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(e.len());
    let name = &e[..end];
    let rest = e[end..].trim();
    let ok = !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && (rest.is_empty() || rest.starts_with('['));
    ok.then_some(name)
}

fn matching_close(e: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in e.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_names() {
        assert_eq!(referenced_name("&foo_fops"), Some("foo_fops"));
        assert_eq!(referenced_name("foo_open"), Some("foo_open"));
        assert_eq!(referenced_name("(struct x *) &tbl[i]"), Some("tbl"));
        assert_eq!(referenced_name("(&x)"), Some("x"));
        assert_eq!(referenced_name("NULL"), Some("NULL"));
        assert_eq!(referenced_name("0"), None);
        assert_eq!(referenced_name("a + b"), None);
        assert_eq!(referenced_name("dev->fops"), None);
    }
}
