//! Which slot an indirect call goes through, and which slots hold which functions.
//!
//! `net_families[family]->create(sock, protocol)` calls slot `net_proto_family.create` because
//! `net_families` is declared `struct net_proto_family *net_families[NPROTO]`;
//! `file->f_op->open(inode, file)` calls `file_operations.open` because `file` is a
//! `struct file *` whose `f_op` field points to a `struct file_operations`. The types come from
//! the calling function's parameters and locals, the file's (then the tree's) file-scope
//! declarations, casts, and the struct definitions of the tree. When the base cannot be typed,
//! a field name that only one struct of the tree has as a function pointer still names the slot.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::ctext::{is_ident_byte, is_ident_char, is_ident_start_byte};
use crate::entries::Slot;
use crate::facts::{Function, InitList};
use crate::index::{referenced_name, FnRef, Index, TableContent};
use crate::normalize::MacroDef;

/// Nested initializers deeper than this are not followed.
const MAX_NESTING: usize = 4;

/// How a call site was tied to its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBy {
    /// The callee expression's base was typed.
    Type,
    /// Only one struct of the tree has a function pointer of that name.
    FieldName,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Type => "type",
            MatchedBy::FieldName => "field-name",
        }
    }
}

/// One call through a slot: the call `calls[call]` of file `file`, made by `caller`.
#[derive(Debug, Clone, Copy)]
pub struct SiteRef {
    pub caller: FnRef,
    pub call: u32,
    pub matched_by: MatchedBy,
}

#[derive(Debug, Default)]
pub struct SlotSites {
    /// `struct.field` -> the calls through it.
    pub by_slot: FxHashMap<Slot, Vec<SiteRef>>,
    /// Indirect calls through a field whose slot could not be told.
    pub untyped: usize,
    pub indirect: usize,
}

/// Types the bases of callee expressions.
pub struct Typer<'a> {
    index: &'a Index<'a>,
    /// File-scope declarations: per file, then the first one anywhere.
    statics: FxHashMap<(usize, &'a str), &'a str>,
    globals: FxHashMap<&'a str, &'a str>,
    /// Field name -> the structs that have a field by that name, and whether it is a
    /// function pointer there.
    fields: FxHashMap<&'a str, FxHashSet<(&'a str, bool)>>,
    /// Function-like macros by name (`DRIVER(drive)`), generic code's definition first.
    macros: FxHashMap<&'a str, &'a MacroDef>,
}

impl<'a> Typer<'a> {
    pub fn new(index: &'a Index<'a>) -> Self {
        let mut statics = FxHashMap::default();
        let mut globals = FxHashMap::default();
        let mut fields: FxHashMap<&str, FxHashSet<(&str, bool)>> = FxHashMap::default();
        let mut macros: FxHashMap<&str, (&MacroDef, bool)> = FxHashMap::default();
        for (fi, f) in index.files.iter().enumerate() {
            for (name, ty) in &f.var_types {
                statics.insert((fi, name.as_str()), ty.as_str());
                globals.entry(name.as_str()).or_insert(ty.as_str());
            }
            for s in &f.structs {
                for field in &s.fields {
                    fields
                        .entry(field.name.as_str())
                        .or_default()
                        .insert((s.name.as_str(), field.is_fn_ptr));
                }
            }
            let arch = index.in_arch_dir(fi);
            for m in f.macros.iter().filter(|m| m.params.is_some()) {
                let e = macros.entry(m.name.as_str()).or_insert((m, arch));
                if e.1 && !arch {
                    *e = (m, arch);
                }
            }
        }
        Self {
            index,
            statics,
            globals,
            fields,
            macros: macros.into_iter().map(|(k, (m, _))| (k, m)).collect(),
        }
    }

    /// The slot `struct.field` an indirect callee expression goes through.
    pub fn slot_of(
        &self,
        file: usize,
        function: &Function,
        callee: &str,
    ) -> Option<(Slot, MatchedBy)> {
        let tokens = tokenize(callee);
        let mut t = &tokens[..];
        // `(*p->open)` and `(p->open)` call the same thing as `p->open`.
        loop {
            while t.first() == Some(&Tok::Star) {
                t = &t[1..];
            }
            match t {
                [Tok::Open, .., Tok::Close] if close_of(t, 0) == Some(t.len() - 1) => {
                    t = &t[1..t.len() - 1]
                }
                _ => break,
            }
        }
        let [base @ .., Tok::Arrow | Tok::Dot, Tok::Ident(field)] = t else {
            return None;
        };
        let field = *field;
        if let Some(ty) = self.type_of(file, function, base, 0) {
            let st = self.index.struct_name(&ty);
            let known = self
                .index
                .struct_def(st)
                .is_none_or(|d| d.fields.iter().any(|f| f.name == field));
            if known {
                return Some((Slot::new(st, field), MatchedBy::Type));
            }
        }
        match self.fields.get(field) {
            Some(structs) if structs.len() == 1 => {
                let (st, is_fn_ptr) = structs.iter().next()?;
                is_fn_ptr.then(|| (Slot::new(st, field), MatchedBy::FieldName))
            }
            _ => None,
        }
    }

    /// The struct (or typedef) name of an expression, ignoring pointer levels.
    fn type_of<'t>(
        &self,
        file: usize,
        function: &Function,
        t: &[Tok<'t>],
        depth: usize,
    ) -> Option<String>
    where
        'a: 't,
    {
        if depth > 8 {
            return None;
        }
        let mut t = t;
        while matches!(t.first(), Some(Tok::Star | Tok::Amp)) {
            t = &t[1..];
        }
        // The primary expression, then its postfix operators.
        let (mut ty, mut rest): (Option<String>, &[Tok]) = match t.first()? {
            Tok::Open => {
                let close = close_of(t, 0)?;
                let inner = &t[1..close];
                let ty = match cast_type_prefix(inner) {
                    // `((struct foo *) p)->x`
                    Some(cast) => Some(cast.to_string()),
                    None => self.type_of(file, function, inner, depth + 1),
                };
                (ty, &t[close + 1..])
            }
            Tok::Ident(name) => {
                let rest = &t[1..];
                if rest.first() == Some(&Tok::Open) {
                    let close = close_of(rest, 0)?;
                    if let Some(f) = self.index.resolve_function(file, name) {
                        // A call: the function's return type.
                        let ret = self.index.function(f).return_type.as_str();
                        (struct_in_type(ret).map(str::to_string), &rest[close + 1..])
                    } else {
                        // A macro: `DRIVER(drive)->open` is `((drive)->driver)->open`.
                        let m = self.macros.get(name)?;
                        let mut expanded = expand(m, &rest[1..close])?;
                        expanded.extend_from_slice(&rest[close + 1..]);
                        return self.type_of(file, function, &expanded, depth + 1);
                    }
                } else {
                    (self.variable_type(file, function, name), rest)
                }
            }
            _ => return None,
        };
        while let Some(first) = rest.first() {
            match first {
                Tok::Arrow | Tok::Dot => {
                    let Some(Tok::Ident(field)) = rest.get(1) else {
                        return None;
                    };
                    let def = self.index.struct_def(ty.as_deref()?)?;
                    let f = def.fields.iter().find(|f| f.name == *field)?;
                    ty = f.struct_type.as_deref().map(str::to_string);
                    rest = &rest[2..];
                }
                Tok::Bracket => rest = &rest[1..],
                _ => return None,
            }
        }
        ty
    }

    /// The struct (or typedef) name of an expression written in `function`.
    pub fn expr_type(&self, file: usize, function: &Function, expr: &str) -> Option<String> {
        self.type_of(file, function, &tokenize(expr), 0)
    }

    fn variable_type(&self, file: usize, function: &Function, name: &str) -> Option<String> {
        if let Ok(k) = function
            .local_types
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
        {
            return Some(function.local_types[k].1.to_string());
        }
        // A parameter or local without a struct type shadows file-scope names.
        if function
            .locals
            .binary_search_by(|l| l.as_str().cmp(name))
            .is_ok()
        {
            return None;
        }
        self.statics
            .get(&(file, name))
            .or_else(|| self.globals.get(name))
            .map(|s| s.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    Arrow,
    Dot,
    Star,
    Amp,
    Open,
    Close,
    /// A whole `[...]` subscript.
    Bracket,
    Comma,
    Other,
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_ident_start_byte(c) {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(&s[start..i]));
            continue;
        }
        match c {
            b'-' if b.get(i + 1) == Some(&b'>') => {
                out.push(Tok::Arrow);
                i += 1;
            }
            b'.' => out.push(Tok::Dot),
            b'*' => out.push(Tok::Star),
            b'&' => out.push(Tok::Amp),
            b'(' => out.push(Tok::Open),
            b',' => out.push(Tok::Comma),
            b')' => out.push(Tok::Close),
            b'[' => {
                let mut depth = 0;
                while i < b.len() {
                    match b[i] {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                out.push(Tok::Bracket);
            }
            c if c.is_ascii_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// A function-like macro's body with its parameters replaced by the argument tokens.
fn expand<'t>(m: &'t MacroDef, args: &[Tok<'t>]) -> Option<Vec<Tok<'t>>> {
    let params = m.params.as_ref()?;
    let mut split: Vec<&[Tok]> = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, t) in args.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            Tok::Comma if depth == 0 => {
                split.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    split.push(&args[start..]);
    let mut out = Vec::new();
    for t in tokenize(&m.body) {
        match t {
            Tok::Ident(name) => match params.iter().position(|p| p == name) {
                Some(k) => out.extend_from_slice(split.get(k)?),
                None => out.push(t),
            },
            _ => out.push(t),
        }
    }
    Some(out)
}

/// The index of the `)` closing the `(` at `open`.
fn close_of(t: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, tok) in t.iter().enumerate().skip(open) {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => {
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

/// `struct foo *` (the whole group is a type) gives `foo`.
fn cast_type<'a>(t: &[Tok<'a>]) -> Option<&'a str> {
    match t {
        [Tok::Ident("struct" | "union"), Tok::Ident(name), rest @ ..]
            if rest.iter().all(|t| *t == Tok::Star) =>
        {
            Some(name)
        }
        // A typedef name: `(ctl_table *)`. Nothing but stars may follow, or it is arithmetic.
        [Tok::Ident(name), rest @ ..]
            if !rest.is_empty() && rest.iter().all(|t| *t == Tok::Star) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// `(struct foo *) p` gives `foo`.
fn cast_type_prefix<'a>(t: &[Tok<'a>]) -> Option<&'a str> {
    let close = close_of(t, 0)?;
    cast_type(&t[1..close])
}

/// `struct file *` gives `file`; a bare typedef name gives itself.
fn struct_in_type(ty: &str) -> Option<&str> {
    let mut words = ty
        .split(|c: char| !is_ident_char(c))
        .filter(|w| !w.is_empty() && !matches!(*w, "const" | "volatile" | "static" | "extern"));
    match words.next()? {
        "struct" | "union" => words.next(),
        w => Some(w),
    }
}

/// Finds every indirect call and the slot it goes through.
pub fn find_sites(index: &Index, typer: &Typer) -> SlotSites {
    let mut sites = SlotSites::default();
    for (fi, f) in index.files.iter().enumerate() {
        if !f.field_loads.is_empty() {
            through_locals(index, typer, fi, &mut sites);
        }
        for (ci, call) in f.calls.iter().enumerate() {
            let (true, Some(caller)) = (call.indirect, call.caller) else {
                continue;
            };
            sites.indirect += 1;
            let function = &f.functions[caller as usize];
            match typer.slot_of(fi, function, &call.callee) {
                Some((slot, matched_by)) => sites.by_slot.entry(slot).or_default().push(SiteRef {
                    caller: FnRef {
                        file: fi,
                        func: caller as usize,
                    },
                    call: ci as u32,
                    matched_by,
                }),
                None => sites.untyped += 1,
            }
        }
    }
    sites
}

/// Calls through a local function pointer loaded from a field: `fn = fmt->load_binary;
/// fn(bprm, regs)`.
fn through_locals(index: &Index, typer: &Typer, fi: usize, sites: &mut SlotSites) {
    let f = &index.files[fi];
    let mut loads: FxHashMap<(u32, &str), Vec<&str>> = FxHashMap::default();
    for l in &f.field_loads {
        loads
            .entry((l.caller, l.var.as_str()))
            .or_default()
            .push(l.value.as_str());
    }
    for (ci, call) in f.calls.iter().enumerate() {
        let (false, Some(caller)) = (call.indirect, call.caller) else {
            continue;
        };
        let Some(values) = loads.get(&(caller, call.callee.as_str())) else {
            continue;
        };
        let function = &f.functions[caller as usize];
        let mut seen = Vec::new();
        for v in values {
            if let Some((slot, matched_by)) = typer.slot_of(fi, function, v) {
                if seen.contains(&slot) {
                    continue;
                }
                seen.push(slot.clone());
                sites.indirect += 1;
                sites.by_slot.entry(slot).or_default().push(SiteRef {
                    caller: FnRef {
                        file: fi,
                        func: caller as usize,
                    },
                    call: ci as u32,
                    matched_by,
                });
            }
        }
    }
}

/// Which slots each function is stored in: every initialized table of a struct type in the
/// tree, `table.field = fn` assignments, and `p->field = fn` or `tbl[i].field = fn` where the
/// base has a struct type.
pub fn stored_in(index: &Index, typer: &Typer) -> FxHashMap<FnRef, Vec<Slot>> {
    let mut out: FxHashMap<FnRef, Vec<Slot>> = FxHashMap::default();
    let mut push = |f: FnRef, slot: Slot| {
        let v = out.entry(f).or_default();
        if !v.contains(&slot) {
            v.push(slot);
        }
    };
    for (fi, f) in index.files.iter().enumerate() {
        for (vi, v) in f.variables.iter().enumerate() {
            let st = index.struct_name(&v.type_name);
            if index.struct_def(st).is_none() {
                continue;
            }
            let var = crate::index::VarRef { file: fi, var: vi };
            for tv in index.table_values(var, st) {
                match &tv.value {
                    TableContent::Expr(e) => {
                        if let Some(func) = function_named(index, tv.file, e) {
                            if !tv.field.is_empty() {
                                push(func, Slot::new(st, &tv.field));
                            }
                        }
                    }
                    TableContent::List(list) => {
                        nested(index, st, &tv.field, list, tv.file, &mut push, 0)
                    }
                }
            }
        }
        for a in &f.field_assigns {
            let Some(func) = function_named(index, fi, &a.value) else {
                continue;
            };
            let bt = match (&a.base_type, a.caller) {
                (Some(bt), _) => Some(bt.to_string()),
                (None, Some(c)) => typer.expr_type(fi, &f.functions[c as usize], &a.base),
                (None, None) => None,
            };
            if let Some(bt) = bt {
                push(func, Slot::new(index.struct_name(&bt), &a.field));
            }
        }
    }
    out
}

fn function_named(index: &Index, file: usize, expr: &str) -> Option<FnRef> {
    let name = referenced_name(expr)?;
    index.resolve_function(file, name)
}

/// An embedded struct's initializer inside a table.
fn nested(
    index: &Index,
    outer: &str,
    field: &str,
    list: &InitList,
    file: usize,
    push: &mut dyn FnMut(FnRef, Slot),
    depth: usize,
) {
    if depth > MAX_NESTING {
        return;
    }
    let Some(sub) = index
        .struct_def(outer)
        .and_then(|d| d.fields.iter().find(|f| f.name == field))
        .and_then(|f| f.struct_type.as_deref())
    else {
        return;
    };
    let sub = index.struct_name(sub);
    let mut values = Vec::new();
    index.list_values(list, sub, file, &mut values);
    for v in values {
        match &v.value {
            TableContent::Expr(e) => {
                if let Some(func) = function_named(index, file, e) {
                    push(func, Slot::new(sub, &v.field));
                }
            }
            TableContent::List(l) => nested(index, sub, &v.field, l, file, push, depth + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_casts() {
        let t = tokenize("(*net_families[family]->create)");
        assert_eq!(
            t,
            vec![
                Tok::Open,
                Tok::Star,
                Tok::Ident("net_families"),
                Tok::Bracket,
                Tok::Arrow,
                Tok::Ident("create"),
                Tok::Close
            ]
        );
        assert_eq!(
            cast_type(&tokenize("struct file_operations *")),
            Some("file_operations")
        );
        assert_eq!(struct_in_type("struct file *"), Some("file"));
        assert_eq!(struct_in_type("const struct foo *"), Some("foo"));
        assert_eq!(struct_in_type("kdev_t"), Some("kdev_t"));
    }
}
