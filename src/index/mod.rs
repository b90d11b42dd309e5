//! The whole-tree index: joins the facts of every file so that names resolve across files.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::ctext::is_identifier;
use crate::facts::{
    Designator, FileFacts, Function, InitItem, InitList, InitValue, StructDef, Variable,
};
use crate::kb::{Kb, Layout};
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
    /// The function the value was written in (its locals shadow file-scope names); `None` at
    /// file scope.
    pub scope: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum TableContent {
    Expr(String),
    /// A nested initializer for an embedded struct field.
    List(InitList),
}

pub struct Index<'a> {
    pub files: &'a [FileFacts],
    /// Each file's index by its path relative to the scanned root (the paths entries and
    /// findings carry).
    by_path: HashMap<&'a str, usize>,
    /// Per file, the variables its uses of table-defining macros define
    /// (`DECLARE_FSTYPE(x, ...)`); their `VarRef::var` counts on after the file's own variables.
    synthesized: Vec<Vec<(&'a str, Variable)>>,
    structs: HashMap<&'a str, &'a StructDef>,
    typedefs: HashMap<&'a str, &'a str>,
    global_fns: HashMap<&'a str, FnRef>,
    /// Every definition by (file, name): statics, and a file's own globals.
    static_fns: HashMap<(usize, &'a str), FnRef>,
    global_vars: HashMap<&'a str, VarRef>,
    /// How many `.c` files define (with an initializer) a non-static variable of each name.
    global_definers: HashMap<&'a str, u32>,
    static_vars: HashMap<(usize, &'a str), VarRef>,
    /// Variable name -> the headers that declare it (directory, declaration): another file's
    /// global is visible only through one of them.
    header_vars: HashMap<&'a str, Vec<(&'a str, VarRef)>>,
    /// Names every module has its own object for (knowledge base): never resolved to another
    /// file's object.
    per_module: HashSet<String>,
    /// Where the tree keeps per-architecture code and shared headers (knowledge base).
    layout: Layout,
    /// Variable name -> assignments `name.field = value` (file, assign index).
    dot_assigns: HashMap<&'a str, Vec<(usize, usize)>>,
    /// Per file, the struct copies it makes (`memcpy(&x->vdev, &template, n)`): destination
    /// (an access path or a name, without `&`) and source expression.
    copies: Vec<Vec<(&'a str, &'a str)>>,
    /// (file, function, name) of every name a function assigns a field of while declaring it
    /// with a struct type: its struct-typed locals and parameters, as far as the facts tell.
    typed_locals: HashSet<(usize, u32, &'a str)>,
    /// Every `#define`, by name.
    pub macros: MacroDefs<'a>,
}

/// Prefer the generic headers' definitions over other headers' and headers' over `.c` files':
/// a struct is defined once per architecture at worst, and the generic one is what drivers use.
fn rank(path: &str, layout: &Layout) -> u8 {
    if layout.is_generic_header(path) {
        0
    } else if path.ends_with(".h") && layout.arch_dir(path).is_none() {
        1
    } else {
        2
    }
}

mod expr;
mod macros;
mod typedefs;
use expr::last_member;
pub use expr::{access_path, referenced_member, referenced_name};
pub use macros::{MacroAt, MacroDefs};

impl<'a> Index<'a> {
    /// Whether the file's code is written per architecture (`arch/X/`, `include/asm-X/`).
    pub fn in_arch_dir(&self, file: usize) -> bool {
        self.layout.arch_dir(&self.files[file].path).is_some()
    }

    pub fn build(scan: &'a Scan, kb: &Kb) -> Self {
        let _t = crate::timing::Phase::start("index");
        let (macros, index) = rayon::join(
            || MacroDefs::build(&scan.files),
            || Self::build_names(scan, kb),
        );
        Index { macros, ..index }
    }

    fn build_names(scan: &'a Scan, kb: &Kb) -> Self {
        let files = &scan.files[..];
        let synthesized: Vec<Vec<(&str, Variable)>> =
            files.iter().map(|f| table_macro_variables(f, kb)).collect();
        let copies = files
            .iter()
            .map(|f| {
                f.calls
                    .iter()
                    .filter_map(|c| {
                        let r = kb.data.copy_routines.iter().find(|r| r.name == c.callee)?;
                        let dst = c.args.get(r.dst)?;
                        let dst = access_path(dst).or_else(|| referenced_name(dst))?;
                        Some((dst, c.args.get(r.src)?.as_str()))
                    })
                    .collect()
            })
            .collect();
        let mut header_vars: HashMap<&str, Vec<(&str, VarRef)>> = HashMap::default();
        let mut typed_locals = HashSet::default();
        let mut structs: HashMap<&str, (&StructDef, u8)> = HashMap::default();
        let mut global_fns = HashMap::default();
        let mut static_fns = HashMap::default();
        let mut global_vars = HashMap::default();
        let mut global_definers: HashMap<&str, u32> = HashMap::default();
        let mut static_vars = HashMap::default();
        let mut dot_assigns: HashMap<&str, Vec<(usize, usize)>> = HashMap::default();
        for (fi, f) in files.iter().enumerate() {
            let r = rank(&f.path, &kb.data.layout);
            for s in &f.structs {
                let better = structs.get(s.name.as_str()).is_none_or(|(old, old_rank)| {
                    r < *old_rank || (r == *old_rank && s.fields.len() > old.fields.len())
                });
                if better {
                    structs.insert(s.name.as_str(), (s, r));
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
            let names = f
                .variables
                .iter()
                .map(|v| v.name.as_str())
                .chain(synthesized[fi].iter().map(|(name, _)| *name));
            let mut defined_here = HashSet::default();
            for (i, name) in names.enumerate() {
                let r = VarRef { file: fi, var: i };
                let v = variable_at(files, &synthesized, r);
                static_vars.insert((fi, name), r);
                if f.path.ends_with(".h") {
                    let dir = f.path.rfind('/').map_or("", |k| &f.path[..k]);
                    header_vars.entry(name).or_default().push((dir, r));
                } else if !v.is_static && v.init.is_some() && defined_here.insert(name) {
                    *global_definers.entry(name).or_default() += 1;
                }
                if !v.is_static {
                    // A definition with an initializer wins over a tentative one.
                    let e = global_vars.entry(name).or_insert(r);
                    if v.init.is_some() && variable_at(files, &synthesized, *e).init.is_none() {
                        *e = r;
                    }
                }
            }
            for (i, a) in f.field_assigns.iter().enumerate() {
                dot_assigns
                    .entry(a.base.as_str())
                    .or_default()
                    .push((fi, i));
                if let (Some(caller), Some(_)) = (a.caller, &a.base_type) {
                    typed_locals.insert((fi, caller, a.base.as_str()));
                }
            }
        }
        let typedefs = typedefs::tree_typedefs(files, |name| structs.contains_key(name), kb);
        Self {
            files,
            by_path: files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.as_str(), i))
                .collect(),
            synthesized,
            header_vars,
            per_module: kb.data.resolution.per_module.iter().cloned().collect(),
            layout: kb.data.layout.clone(),
            copies,
            typed_locals,
            macros: MacroDefs::empty(files),
            structs: structs.into_iter().map(|(k, (s, _))| (k, s)).collect(),
            typedefs,
            global_fns,
            static_fns,
            global_vars,
            global_definers,
            static_vars,
            dot_assigns,
        }
    }

    /// The file at `path` (relative to the scanned root).
    pub fn file_by_path(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    pub fn function(&self, r: FnRef) -> &'a Function {
        &self.files[r.file].functions[r.func]
    }

    pub fn variable(&self, r: VarRef) -> &Variable {
        variable_at(self.files, &self.synthesized, r)
    }

    /// The variables of `file` with an initializer, those its table macros define included.
    pub fn initialized_variables(&self, file: usize) -> impl Iterator<Item = VarRef> + '_ {
        let all = self.files[file].variables.len() + self.synthesized[file].len();
        (0..all)
            .map(move |var| VarRef { file, var })
            .filter(|&r| self.variable(r).init.is_some())
    }

    /// Whether `name` inside function `func` of `file` names one of its parameters or
    /// struct-typed locals rather than something at file scope.
    ///
    /// The facts list a function's parameter names; its locals are known only where it
    /// assigns one of their fields, since the facts record the declared type there.
    pub fn is_local(&self, file: usize, func: u32, name: &str) -> bool {
        let f = &self.files[file].functions[func as usize];
        f.locals.binary_search_by(|l| l.as_str().cmp(name)).is_ok()
            || self.typed_locals.contains(&(file, func, name))
    }

    /// Whether `name` is a struct-typed local or parameter of `func` whose fields it assigns.
    pub fn is_typed_local(&self, file: usize, func: u32, name: &str) -> bool {
        self.typed_locals.contains(&(file, func, name))
    }

    /// The function of `file` whose body holds `line`.
    pub fn enclosing_function(&self, file: usize, line: u32) -> Option<u32> {
        self.files[file]
            .functions
            .iter()
            .position(|f| f.line <= line && line <= f.end_line)
            .map(|i| i as u32)
    }

    /// What a struct-typed local or parameter `name` of function `func` holds: the
    /// assignments `name.field = value` / `name->field = value` in that function, and the
    /// struct type they were declared with.
    pub fn local_table(
        &self,
        file: usize,
        func: u32,
        name: &str,
    ) -> (Option<&'a str>, Vec<TableValue>) {
        let mut struct_name = None;
        let mut out = Vec::new();
        for &(fi, ai) in self.dot_assigns.get(name).into_iter().flatten() {
            let a = &self.files[fi].field_assigns[ai];
            if fi != file || a.caller != Some(func) || a.base_type.is_none() {
                continue;
            }
            struct_name = struct_name.or(a.base_type.as_deref());
            out.push(TableValue {
                field: a.field.to_string(),
                value: TableContent::Expr(a.value.to_string()),
                file: fi,
                line: a.line,
                scope: a.caller,
            });
        }
        (struct_name, out)
    }

    /// What function `func` stores into the fields of the struct an access path names
    /// (`card->interface.command = f` for the path `card->interface`).
    pub fn path_table(&self, file: usize, func: u32, path: &str) -> Vec<TableValue> {
        self.dot_assigns
            .get(path)
            .into_iter()
            .flatten()
            .map(|&(fi, ai)| (fi, &self.files[fi].field_assigns[ai]))
            .filter(|(fi, a)| *fi == file && a.caller == Some(func))
            .map(|(fi, a)| TableValue {
                field: a.field.to_string(),
                value: TableContent::Expr(a.value.to_string()),
                file: fi,
                line: a.line,
                scope: a.caller,
            })
            .collect()
    }

    /// The sources of the struct copies `file` makes into `dst` (an access path or a name):
    /// those into exactly `dst`, else, with `by_member`, those into the same last member
    /// (`q->vdev` for `qcam->vdev`).
    pub fn copied_from(&self, file: usize, dst: &str, by_member: bool) -> Vec<&'a str> {
        let copies = &self.copies[file];
        let exact: Vec<&str> = copies
            .iter()
            .filter(|(d, _)| *d == dst)
            .map(|(_, s)| *s)
            .collect();
        if !exact.is_empty() || !by_member {
            return exact;
        }
        let Some(member) = last_member(dst) else {
            return Vec::new();
        };
        copies
            .iter()
            .filter(|(d, _)| last_member(d) == Some(member))
            .map(|(_, s)| *s)
            .collect()
    }

    /// The assignments [`Index::local_table`] reads, as (file, assign index).
    pub fn local_assigns(&self, file: usize, func: u32, name: &str) -> Vec<(usize, usize)> {
        self.dot_assigns
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&(fi, ai)| {
                let a = &self.files[fi].field_assigns[ai];
                fi == file && a.caller == Some(func) && a.base_type.is_some()
            })
            .collect()
    }

    /// A function name as seen from `file`: its static functions first, then global ones.
    pub fn resolve_function(&self, file: usize, name: &str) -> Option<FnRef> {
        self.static_fns
            .get(&(file, name))
            .or_else(|| self.global_fns.get(name))
            .copied()
    }

    /// A variable name as seen from `file`: its own definition or declaration first (an
    /// `extern` or tentative one stands for the initialized definition elsewhere), then
    /// another file's global, but only when a header the file can include declares that
    /// name: C sees no other.
    pub fn resolve_variable(&self, file: usize, name: &str) -> Option<VarRef> {
        if let Some(&r) = self.static_vars.get(&(file, name)) {
            let v = self.variable(r);
            if v.is_static || v.init.is_some() {
                return Some(r);
            }
            let defined = self
                .global_vars
                .get(name)
                .copied()
                .filter(|&g| self.variable(g).init.is_some());
            return Some(defined.unwrap_or(r));
        }
        if self.per_module.contains(name) {
            return None;
        }
        let declared = self.header_declaration(file, name)?;
        if self.variable(declared).is_static {
            // `static struct tty_driver serial_driver;` in dz.h: each includer's own.
            return Some(declared);
        }
        self.global_vars.get(name).copied()
    }

    /// The declaration of `name` in a header `file` can include: one under `include/`, or one
    /// in the file's own directory or above it (`#include "foo.h"`, `"../foo.h"`).
    fn header_declaration(&self, file: usize, name: &str) -> Option<VarRef> {
        let path = &self.files[file].path;
        let visible = |d: &str| {
            d.is_empty()
                || self.layout.is_include_dir(d)
                || path
                    .strip_prefix(d)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        self.header_vars
            .get(name)?
            .iter()
            .find(|(d, _)| visible(d))
            .map(|(_, r)| *r)
    }

    /// Whether some file other than `file` defines a global variable called `name` (which
    /// `file` cannot see: [`Index::resolve_variable`] said no).
    pub fn defined_elsewhere(&self, name: &str) -> bool {
        self.global_vars.contains_key(name)
    }

    /// The one global variable called `name` that a single `.c` file defines, for a use in a
    /// file that declares no such name (the declaration sits in a header branch the
    /// preprocessor settings dropped, or inside a function). The caller must check that the
    /// variable has the type the use expects: a bare name alone is no evidence.
    pub fn resolve_undeclared(&self, name: &str) -> Option<VarRef> {
        (self.global_definers.get(name) == Some(&1) && !self.per_module.contains(name))
            .then(|| self.global_vars.get(name).copied())
            .flatten()
    }

    /// The struct name behind a type name (a typedef or the struct's own name).
    pub fn struct_name<'n>(&'n self, type_name: &'n str) -> &'n str {
        self.typedefs.get(type_name).copied().unwrap_or(type_name)
    }

    /// The struct behind the type of `function`'s local or parameter `name` (pointer or not).
    pub fn local_struct<'n>(&'n self, function: &'n Function, name: &str) -> Option<&'n str> {
        let (_, ty) = function.local_types.iter().find(|(n, _)| n == name)?;
        Some(self.struct_name(ty))
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
                            value: TableContent::Expr(e.to_string()),
                            file: var.file,
                            line: item.line,
                            scope: None,
                        }),
                    }
                }
            } else {
                self.list_values(init, struct_name, var.file, &mut out);
            }
        }
        let def = self.struct_def(struct_name);
        // A static inside a function: its own function declares it, with its type.
        let home = (var.var < self.files[var.file].variables.len())
            .then(|| self.enclosing_function(var.file, v.line))
            .flatten();
        let mut assigns = self
            .dot_assigns
            .get(v.name.as_str())
            .map_or(&[][..], |a| &a[..]);
        // A static variable of a `.c` file is seen by its own file only (`resolve_variable`):
        // its file's assignments are one run of the file-ordered list. Without this, every
        // `static struct x info` of a tree would look at every `info.f = ...` of the tree.
        if v.is_static && !self.files[var.file].path.ends_with(".h") {
            let lo = assigns.partition_point(|&(fi, _)| fi < var.file);
            let hi = lo + assigns[lo..].partition_point(|&(fi, _)| fi == var.file);
            assigns = &assigns[lo..hi];
        }
        for &(fi, ai) in assigns {
            let a = &self.files[fi].field_assigns[ai];
            let in_home = fi == var.file && a.caller.is_some() && a.caller == home;
            let shadowed = match a.caller {
                _ if in_home => false,
                Some(c) => a.base_type.is_some() || self.is_local(fi, c, &v.name),
                None => false,
            };
            // Only assignments that see this variable (same file for a static one), to a field
            // its struct has: a same-named variable elsewhere is another object.
            let has_field = def.is_none_or(|d| d.fields.iter().any(|f| f.name == a.field));
            if shadowed || !has_field || self.resolve_variable(fi, &v.name) != Some(var) {
                continue;
            }
            out.push(TableValue {
                field: a.field.to_string(),
                value: TableContent::Expr(a.value.to_string()),
                file: fi,
                line: a.line,
                scope: a.caller,
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
                        if let Some(p) = d.fields.iter().position(|f| f.name == name) {
                            next_pos = p + 1;
                        }
                    }
                    Some(name.clone())
                }
                Some(Designator::Index | Designator::Macro) => None, // a macro's: not expanded
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
                InitValue::Expr(e) => TableContent::Expr(e.to_string()),
                InitValue::List(l) => TableContent::List(l.clone()),
            };
            out.push(TableValue {
                field: field.to_string(),
                value,
                file,
                line: item.line,
                scope: None,
            });
        }
    }
}

fn variable_at<'v>(
    files: &'v [FileFacts],
    synthesized: &'v [Vec<(&str, Variable)>],
    r: VarRef,
) -> &'v Variable {
    let own = &files[r.file].variables;
    own.get(r.var)
        .unwrap_or_else(|| &synthesized[r.file][r.var - own.len()].1)
}

/// The variables a file defines through table-defining macros of the knowledge base: each
/// file-scope call `DECLARE_FSTYPE(var, "name", read, flags)` becomes a variable `var` of the
/// macro's struct type, initialized field by field from the arguments.
fn table_macro_variables<'a>(file: &'a FileFacts, kb: &Kb) -> Vec<(&'a str, Variable)> {
    let mut out = Vec::new();
    for call in file.calls.iter().filter(|c| c.caller.is_none()) {
        let Some(m) = kb.table_macro(&call.callee) else {
            continue;
        };
        let Some(name) = call.args.get(m.var_arg).filter(|a| is_identifier(a)) else {
            continue;
        };
        let item = |field: &str, value: &str| InitItem {
            designators: vec![Designator::Field(field.into())].into(),
            value: InitValue::Expr(value.into()),
            line: call.line,
        };
        let mut items: Vec<InitItem> = m
            .fields
            .iter()
            .filter_map(|(field, &arg)| call.args.get(arg).map(|v| item(field, v)))
            .collect();
        items.extend(m.fixed.iter().map(|(field, v)| item(field, v)));
        out.push((
            name.as_str(),
            Variable {
                name: name.clone(),
                // The storage class before the macro is blanked, so it is unknown; a global is the
                // reading that loses no use.
                is_static: false,
                type_name: m.struct_name.clone().into(),
                is_array: false,
                line: call.line,
                init: Some(InitList {
                    items: items.into(),
                }),
            },
        ));
    }
    out
}
