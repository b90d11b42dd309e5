//! Call resolution: direct names through definitions, macros and the knowledge base,
//! indirect calls through struct slots.

use super::{
    rank, Builder, Ctx, Def, DefInfo, MacroSite, NodeId, NodeKind, Origin, Site, Target,
    ALIAS_ARITY, MAX_NESTING,
};
use crate::ctext::{is_ident_char, is_identifier, strip_parens, TYPE_WORDS};
use crate::index::FnRef;
use crate::sleep::ctext::{self, body_calls, split_member};

impl<'a> Builder<'_, 'a> {
    pub(super) fn unknown(&mut self, what: &str) -> Target {
        Target::Unknown(self.g.strings.intern(what))
    }

    pub(super) fn kb_target(&mut self, name: &str) -> Option<Target> {
        if let Some(t) = self.kb_memo.get(name) {
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
        self.kb_memo.insert(name.to_string(), t);
        t
    }

    /// A called name as seen from `ctx`. `own_macro` is the macro whose body calls it: a macro
    /// does not expand itself.
    pub fn resolve_direct(&mut self, name: &str, ctx: Ctx, own_macro: Option<&str>) -> Target {
        if let Some(f) = ctx.func {
            if f.locals.binary_search_by(|l| l.as_str().cmp(name)).is_ok()
                || f.local_types
                    .binary_search_by(|(l, _)| l.as_str().cmp(name))
                    .is_ok()
            {
                return self.unknown(&format!("(*{name}) (function pointer)"));
            }
        }
        if ctx.macro_params.iter().any(|p| p == name) {
            return self.unknown(&format!("(*{name}) (macro argument)"));
        }
        if let Some(t) = self.kb_target(name) {
            return t;
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
            return self.def_target(def);
        }
        let arch = self.file_arch[ctx.file as usize];
        let key = arch.unwrap_or(u16::MAX);
        if own_macro != Some(name) {
            if let Some(t) = self
                .global_memo
                .get(name)
                .and_then(|v| v.iter().find(|(k, _)| *k == key))
            {
                return t.1;
            }
        }
        let t = self.resolve_global(name, arch, own_macro == Some(name));
        if own_macro != Some(name) {
            self.global_memo
                .entry(name.to_string())
                .or_default()
                .push((key, t));
        }
        t
    }

    pub(super) fn resolve_global(
        &mut self,
        name: &str,
        arch: Option<u16>,
        skip_macros: bool,
    ) -> Target {
        let Some(defs) = self.defs.get(name) else {
            return self.unknown(name);
        };
        let rank = |d: &DefInfo| rank(self.file_arch[d.file as usize], arch, self.preferred_arch);
        let visible: Vec<(DefInfo, bool)> = defs
            .iter()
            .filter(|d| d.exported && !(skip_macros && matches!(d.def, Def::Macro { .. })))
            .map(|d| (*d, rank(d)))
            .collect();
        let Some(best) = visible.iter().map(|(_, r)| *r).min() else {
            return self.unknown(name);
        };
        let chosen: Vec<Def> = visible
            .iter()
            .filter(|(_, r)| *r == best)
            .map(|(d, _)| d.def)
            .collect();
        if chosen.len() == 1 {
            return self.def_target(chosen[0]);
        }
        let members: Vec<Target> = chosen.into_iter().map(|d| self.def_target(d)).collect();
        let name = format!("{} definitions of {name}", members.len());
        self.virtual_node(NodeKind::Alternatives { name }, members)
    }

    pub(super) fn def_target(&mut self, def: Def) -> Target {
        match def {
            Def::Fn(r) => Target::Node(self.g.fn_node(r)),
            Def::Macro { file, idx } => Target::Node(self.macro_node(file, idx)),
        }
    }

    pub(super) fn virtual_node(&mut self, kind: NodeKind, members: Vec<Target>) -> Target {
        let id = self.g.nodes.len() as NodeId;
        self.g.nodes.push(kind);
        self.g.sites.push(
            members
                .into_iter()
                .map(|target| Site {
                    target,
                    origin: Origin::Member,
                    guard: None,
                })
                .collect(),
        );
        Target::Node(id)
    }

    pub(super) fn macro_node(&mut self, file: u32, idx: u32) -> NodeId {
        if let Some(&n) = self.macro_nodes.get(&(file, idx)) {
            return n;
        }
        let def = &self.index.files[file as usize].macros[idx as usize];
        let params = match &def.params {
            Some(ps) => ps
                .iter()
                .map(|p| match p.trim_end_matches("...").trim() {
                    "" => "__VA_ARGS__".into(),
                    p => p.into(),
                })
                .collect(),
            None if is_identifier(strip_parens(&def.body)) => (0..ALIAS_ARITY)
                .map(|i| compact_str::format_compact!("__arg{i}"))
                .collect(),
            None => Vec::new(),
        };
        let id = self.g.nodes.len() as NodeId;
        self.g.nodes.push(NodeKind::Macro { file, idx, params });
        self.g.sites.push(Vec::new());
        self.macro_nodes.insert((file, idx), id);
        self.pending_macros.push(id);
        id
    }

    /// Resolves the calls in the bodies of macros reached so far (and those they reach).
    pub(super) fn drain_macros(&mut self) {
        while let Some(node) = self.pending_macros.pop() {
            let NodeKind::Macro { file, idx, params } = self.g.nodes[node as usize].clone() else {
                continue;
            };
            let def = &self.index.files[file as usize].macros[idx as usize];
            let body = strip_parens(&def.body);
            let alias = def.params.is_none() && is_identifier(body);
            let calls = if alias {
                vec![ctext::BodyCall {
                    callee: body.to_string(),
                    args: params.clone(),
                    through_field: false,
                }]
            } else {
                body_calls(&def.body)
            };
            let mut sites = Vec::with_capacity(calls.len());
            for c in calls {
                let ctx = Ctx {
                    file,
                    func: None,
                    macro_params: &params,
                };
                let target = if c.through_field {
                    self.field_target(&c.callee)
                } else {
                    self.resolve_direct(&c.callee, ctx, Some(&def.name))
                };
                let site_idx = self.g.macro_sites.len() as u32;
                self.g.macro_sites.push(MacroSite {
                    callee: c.callee,
                    args: c.args,
                    alias,
                });
                sites.push(Site {
                    target,
                    origin: Origin::Body { idx: site_idx },
                    guard: None,
                });
            }
            self.g.sites[node as usize] = sites;
        }
    }

    /// A call through a pointer expression (anything but a plain name).
    pub fn resolve_indirect(&mut self, callee: &str, ctx: Ctx) -> Target {
        let e = strip_parens(strip_parens(callee).trim_start_matches('*'));
        if self.is_type(e) {
            return Target::Never;
        }
        if is_identifier(e) {
            return self.resolve_direct(e, ctx, None);
        }
        if let Some((base, field)) = split_member(e) {
            if let Some(s) = self.expr_struct(base, ctx, 0) {
                let has_field = self
                    .index
                    .struct_def(&s)
                    .is_some_and(|d| d.fields.iter().any(|f| f.name == field));
                if has_field {
                    return self.slot_target(&s, field);
                }
            }
            return self.field_target(field);
        }
        let what = format!("(*{}) (function pointer)", ctext::shorten(e, 40));
        self.unknown(&what)
    }

    /// Whether a parenthesized callee is a type: the "call" is a cast.
    pub(super) fn is_type(&self, e: &str) -> bool {
        let first = e.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
        let rest = e[first.len()..].trim();
        TYPE_WORDS.contains(&first)
            || (self.type_names.contains(first) && rest.chars().all(|c| c == '*' || c == ' '))
    }

    /// The struct type of an expression, if the declarations in view tell it.
    pub(super) fn expr_struct(&self, expr: &str, ctx: Ctx, depth: usize) -> Option<String> {
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

    pub(super) fn known_struct(&self, type_name: &str) -> Option<String> {
        let s = self.index.struct_name(type_name);
        self.index.struct_def(s).map(|_| s.to_string())
    }

    /// A call through `S.field`: the functions stored there, unless there are too many or none.
    pub(super) fn slot_target(&mut self, s: &str, field: &str) -> Target {
        let key = (s.to_string(), field.to_string());
        if let Some(t) = self.slot_memo.get(&key) {
            return *t;
        }
        let name = format!("{s}.{field}");
        if self.kb.data.sleep.atomic_slots.contains(&name) {
            self.slot_memo.insert(key, Target::Never);
            return Target::Never;
        }
        let members = self.slot_table.get(&key).cloned().unwrap_or_default();
        let t = if members.is_empty() {
            self.unknown(&format!("{s}.{field} (no function stored in the tree)"))
        } else if members.len() > self.kb.data.sleep.max_slot_targets {
            self.unknown(&format!("{s}.{field} ({} implementations)", members.len()))
        } else {
            let targets = members
                .into_iter()
                .map(|r| Target::Node(self.g.fn_node(r)))
                .collect();
            self.virtual_node(
                NodeKind::Slot {
                    name: format!("{s}.{field}"),
                },
                targets,
            )
        };
        self.slot_memo.insert(key, t);
        t
    }

    /// A call through `->field` whose struct is not known: by the field name.
    pub(super) fn field_target(&mut self, field: &str) -> Target {
        if let Some(t) = self.field_memo.get(field) {
            return *t;
        }
        let structs = self.field_structs.get(field).cloned().unwrap_or_default();
        let t = match structs.len() {
            0 => self.unknown(&format!("->{field} (no struct has it)")),
            1 => self.slot_target(&structs[0], field),
            n if n > self.kb.data.sleep.max_field_structs => {
                self.unknown(&format!("->{field} (struct unknown, {n} structs have it)"))
            }
            n => {
                let members = structs.iter().map(|s| self.slot_target(s, field)).collect();
                self.virtual_node(
                    NodeKind::Alternatives {
                        name: format!("->{field} of {n} structs"),
                    },
                    members,
                )
            }
        };
        self.field_memo.insert(field.to_string(), t);
        t
    }

    /// The functions a name in a table or assignment in `file` refers to.
    pub(super) fn functions_named(&self, file: usize, name: &str) -> Vec<FnRef> {
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
