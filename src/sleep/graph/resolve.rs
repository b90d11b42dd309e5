//! Call resolution: direct names through definitions, macros and the knowledge base,
//! indirect calls through struct slots.
//!
//! Resolution reads only what the tree and the knowledge base say, so it runs on every core at
//! once (one file per task); what it gives is a [`Resolved`]: a target, or what a node must be
//! made for. Nodes are numbered afterwards, one file after another in the tree's order
//! (`materialize`), so that the graph is the same whatever the threads did.

use rustc_hash::{FxHashMap, FxHashSet};

use super::{rank, Ctx, Def, DefInfo, Target, MAX_NESTING};
use crate::ctext::{is_ident_char, is_identifier, strip_parens, TYPE_WORDS};
use crate::index::{FnRef, Index};
use crate::kb::Kb;
use crate::sleep::ctext::{self, split_member};

/// What a called name resolves to, before the graph has a node for it.
#[derive(Debug, Clone)]
pub(super) enum Resolved {
    /// A primitive, a name that never sleeps, or a function (function nodes are numbered
    /// before resolution starts).
    Ready(Target),
    /// A macro definition: its node is made the first time it is reached.
    Macro { file: u32, idx: u32 },
    /// Several definitions of `name` are joined. `memo`: the caller's architecture key, under
    /// which the joined node is shared by every call of the name; `None` for a macro's call of
    /// its own name, which gets a node of its own each time.
    Alternatives {
        name: String,
        defs: Vec<Def>,
        memo: Option<u16>,
    },
    /// A call through `struct.field`.
    Slot { structure: String, field: String },
    /// A call through `->field` of a struct the declarations do not tell.
    Field(String),
    /// Nothing in the tree defines it: the description to intern.
    Unknown(String),
}

/// Resolutions already made by one thread: a name's knowledge-base target, and its global
/// resolution per architecture key.
#[derive(Default)]
pub(super) struct Memo {
    kb: FxHashMap<String, Option<Target>>,
    global: FxHashMap<String, Vec<(u16, Resolved)>>,
}

/// The read-only half of the graph builder: every definition by name, each file's
/// architecture, the typedef names, and the slot table (`slots.rs`).
pub(super) struct Resolver<'i, 'a> {
    pub index: &'i Index<'a>,
    pub kb: &'i Kb,
    pub defs: FxHashMap<&'a str, Vec<DefInfo>>,
    pub file_arch: Vec<Option<u16>>,
    pub preferred_arch: Option<u16>,
    /// Every typedef name: `(u32)(x)` parses as a call of `(u32)` but is a cast.
    pub type_names: FxHashSet<&'a str>,
    pub slot_table: FxHashMap<(String, String), Vec<FnRef>>,
    pub field_structs: FxHashMap<String, Vec<String>>,
    /// Function node of `files[f].functions[0]`.
    pub fn_base: Vec<u32>,
}

impl<'a> Resolver<'_, 'a> {
    fn fn_target(&self, r: FnRef) -> Target {
        Target::Node(self.fn_base[r.file] + r.func as u32)
    }

    fn kb_target(&self, memo: &mut Memo, name: &str) -> Option<Target> {
        if let Some(t) = memo.kb.get(name) {
            return *t;
        }
        let t = if self.kb.never_sleeps(name) {
            Some(Target::Never)
        } else {
            self.kb
                .data
                .sleep
                .primitives
                .iter()
                .position(|p| p.name == name)
                .map(|i| Target::Prim(i as u32))
        };
        memo.kb.insert(name.to_string(), t);
        t
    }

    fn def(&self, def: Def) -> Resolved {
        match def {
            Def::Fn(r) => Resolved::Ready(self.fn_target(r)),
            Def::Macro { file, idx } => Resolved::Macro { file, idx },
        }
    }

    /// A called name as seen from `ctx`. `own_macro` is the macro whose body calls it: a macro
    /// does not expand itself.
    pub fn direct(
        &self,
        memo: &mut Memo,
        name: &str,
        ctx: Ctx,
        own_macro: Option<&str>,
    ) -> Resolved {
        if let Some(f) = ctx.func {
            if f.locals.binary_search_by(|l| l.as_str().cmp(name)).is_ok()
                || f.local_types
                    .binary_search_by(|(l, _)| l.as_str().cmp(name))
                    .is_ok()
            {
                return Resolved::Unknown(format!("(*{name}) (function pointer)"));
            }
        }
        if ctx.macro_params.iter().any(|p| p == name) {
            return Resolved::Unknown(format!("(*{name}) (macro argument)"));
        }
        if let Some(t) = self.kb_target(memo, name) {
            return Resolved::Ready(t);
        }
        let local = self.defs.get(name).and_then(|defs| {
            // Definitions are listed in file order: this file's are one run of them, found
            // by halving (a name like `DRV_NAME` has thousands).
            let lo = defs.partition_point(|d| d.file < ctx.file);
            let hi = lo + defs[lo..].partition_point(|d| d.file == ctx.file);
            let mine = defs[lo..hi].iter();
            mine.clone()
                .find(|d| matches!(d.def, Def::Macro { .. }) && own_macro != Some(name))
                .or_else(|| mine.clone().find(|d| matches!(d.def, Def::Fn(_))))
                .map(|d| d.def)
        });
        if let Some(def) = local {
            return self.def(def);
        }
        let arch = self.file_arch[ctx.file as usize];
        let key = arch.unwrap_or(u16::MAX);
        if own_macro == Some(name) {
            return self.global(name, arch, None);
        }
        if let Some((_, r)) = memo
            .global
            .get(name)
            .and_then(|v| v.iter().find(|(k, _)| *k == key))
        {
            return r.clone();
        }
        let r = self.global(name, arch, Some(key));
        memo.global
            .entry(name.to_string())
            .or_default()
            .push((key, r.clone()));
        r
    }

    /// A name as other files define it. `memo` is `None` for a macro's call of its own name:
    /// its macro definitions are left out.
    fn global(&self, name: &str, arch: Option<u16>, memo: Option<u16>) -> Resolved {
        let Some(defs) = self.defs.get(name) else {
            return Resolved::Unknown(name.to_string());
        };
        let skip_macros = memo.is_none();
        let rank = |d: &DefInfo| rank(self.file_arch[d.file as usize], arch, self.preferred_arch);
        let visible: Vec<(DefInfo, bool)> = defs
            .iter()
            .filter(|d| d.exported && !(skip_macros && matches!(d.def, Def::Macro { .. })))
            .map(|d| (*d, rank(d)))
            .collect();
        let Some(best) = visible.iter().map(|(_, r)| *r).min() else {
            return Resolved::Unknown(name.to_string());
        };
        let chosen: Vec<Def> = visible
            .iter()
            .filter(|(_, r)| *r == best)
            .map(|(d, _)| d.def)
            .collect();
        if let [one] = chosen[..] {
            return self.def(one);
        }
        Resolved::Alternatives {
            name: name.to_string(),
            defs: chosen,
            memo,
        }
    }

    /// A call through a pointer expression (anything but a plain name).
    pub fn indirect(&self, memo: &mut Memo, callee: &str, ctx: Ctx) -> Resolved {
        let e = strip_parens(strip_parens(callee).trim_start_matches('*'));
        if self.is_type(e) {
            return Resolved::Ready(Target::Never);
        }
        if is_identifier(e) {
            return self.direct(memo, e, ctx, None);
        }
        if let Some((base, field)) = split_member(e) {
            if let Some(s) = self.expr_struct(base, ctx, 0) {
                let has_field = self
                    .index
                    .struct_def(&s)
                    .is_some_and(|d| d.fields.iter().any(|f| f.name == field));
                if has_field {
                    return Resolved::Slot {
                        structure: s,
                        field: field.to_string(),
                    };
                }
            }
            return Resolved::Field(field.to_string());
        }
        Resolved::Unknown(format!("(*{}) (function pointer)", ctext::shorten(e, 40)))
    }

    /// Whether a parenthesized callee is a type: the "call" is a cast.
    fn is_type(&self, e: &str) -> bool {
        let first = e.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
        let rest = e[first.len()..].trim();
        TYPE_WORDS.contains(&first)
            || (self.type_names.contains(first) && rest.chars().all(|c| c == '*' || c == ' '))
    }

    /// The struct type of an expression, if the declarations in view tell it.
    pub fn expr_struct(&self, expr: &str, ctx: Ctx, depth: usize) -> Option<String> {
        if depth > MAX_NESTING {
            return None;
        }
        let e = strip_parens(expr).trim_start_matches(['&', '*']);
        let e = strip_parens(e);
        if let Some((ty, rest)) = ctext::split_cast(e) {
            if let Some(s) = ctext::type_name(ty).and_then(|t| self.known_struct(t)) {
                return Some(s);
            }
            return self.expr_struct(rest, ctx, depth + 1);
        }
        let e = ctext::strip_index(e);
        if let Some((base, field)) = split_member(e) {
            let s = self.expr_struct(base, ctx, depth + 1)?;
            let f = self
                .index
                .struct_def(&s)?
                .fields
                .iter()
                .find(|f| f.name == field)?;
            return self.known_struct(f.struct_type.as_deref()?);
        }
        if !is_identifier(e) {
            return None;
        }
        if let Some(f) = ctx.func {
            if let Ok(i) = f.local_types.binary_search_by(|(l, _)| l.as_str().cmp(e)) {
                return self.known_struct(&f.local_types[i].1);
            }
            if f.locals.binary_search_by(|l| l.as_str().cmp(e)).is_ok() {
                return None;
            }
        }
        let var = self.index.resolve_variable(ctx.file as usize, e)?;
        self.known_struct(&self.index.variable(var).type_name)
    }

    pub fn known_struct(&self, type_name: &str) -> Option<String> {
        let s = self.index.struct_name(type_name);
        self.index.struct_def(s).map(|_| s.to_string())
    }

    /// The functions a name in a table or assignment in `file` refers to.
    pub fn functions_named(&self, file: usize, name: &str) -> Vec<FnRef> {
        let Some(defs) = self.defs.get(name) else {
            return Vec::new();
        };
        let fns = || {
            defs.iter().filter_map(|d| match d.def {
                Def::Fn(r) => Some((r, d)),
                Def::Macro { .. } => None,
            })
        };
        if let Some((r, _)) = fns().find(|(r, _)| r.file == file) {
            return vec![r];
        }
        let global: Vec<FnRef> = fns()
            .filter(|(_, d)| d.exported && !d.header)
            .map(|(r, _)| r)
            .collect();
        if !global.is_empty() {
            return global;
        }
        fns().filter(|(_, d)| d.exported).map(|(r, _)| r).collect()
    }
}
