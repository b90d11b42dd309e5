//! Nodes for resolved calls, made in the tree's order: macros when first reached (their
//! bodies' calls then resolved in turn), joined definitions, slots.

use super::resolve::Resolved;
use super::{Builder, Ctx, Def, MacroSite, NodeId, NodeKind, Origin, Site, Target, ALIAS_ARITY};
use crate::ctext::{is_identifier, strip_parens};
use crate::sleep::ctext::{self, body_calls};

impl Builder<'_, '_> {
    /// The target of a resolution, with the node it needs made (or found) now.
    pub(super) fn materialize(&mut self, r: Resolved) -> Target {
        match r {
            Resolved::Ready(t) => t,
            Resolved::Macro { file, idx } => Target::Node(self.macro_node(file, idx)),
            Resolved::Alternatives { name, defs, memo } => {
                let shared = memo.and_then(|key| {
                    let v = self.alternatives.get(&name)?;
                    v.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
                });
                if let Some(t) = shared {
                    return t;
                }
                let members: Vec<Target> = defs.into_iter().map(|d| self.def_target(d)).collect();
                let label = format!("{} definitions of {name}", members.len());
                let t = self.virtual_node(NodeKind::Alternatives { name: label }, members);
                if let Some(key) = memo {
                    self.alternatives.entry(name).or_default().push((key, t));
                }
                t
            }
            Resolved::Slot { structure, field } => self.slot_target(&structure, &field),
            Resolved::Field(field) => self.field_target(&field),
            Resolved::Unknown(what) => Target::Unknown(self.g.strings.intern(&what)),
        }
    }

    fn def_target(&mut self, def: Def) -> Target {
        match def {
            Def::Fn(r) => Target::Node(self.g.fn_node(r)),
            Def::Macro { file, idx } => Target::Node(self.macro_node(file, idx)),
        }
    }

    fn virtual_node(&mut self, kind: NodeKind, members: Vec<Target>) -> Target {
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

    fn macro_node(&mut self, file: u32, idx: u32) -> NodeId {
        if let Some(&n) = self.macro_nodes.get(&(file, idx)) {
            return n;
        }
        let index = self.r.index;
        let def = &index.files[file as usize].macros[idx as usize];
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
            let index = self.r.index;
            let def = &index.files[file as usize].macros[idx as usize];
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
                let resolved = if c.through_field {
                    Resolved::Field(c.callee.clone())
                } else {
                    self.r
                        .direct(&mut self.memo, &c.callee, ctx, Some(&def.name))
                };
                let target = self.materialize(resolved);
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

    /// A call through `S.field`: the functions stored there, unless there are too many or none.
    fn slot_target(&mut self, s: &str, field: &str) -> Target {
        let key = (s.to_string(), field.to_string());
        if let Some(t) = self.slot_memo.get(&key) {
            return *t;
        }
        let name = format!("{s}.{field}");
        let sleep = &self.r.kb.data.sleep;
        if sleep.atomic_slots.contains(&name) {
            self.slot_memo.insert(key, Target::Never);
            return Target::Never;
        }
        let max = sleep.max_slot_targets;
        let members = self.r.slot_table.get(&key).cloned().unwrap_or_default();
        let t = if members.is_empty() {
            let what = format!("{s}.{field} (no function stored in the tree)");
            Target::Unknown(self.g.strings.intern(&what))
        } else if members.len() > max {
            let what = format!("{s}.{field} ({} implementations)", members.len());
            Target::Unknown(self.g.strings.intern(&what))
        } else {
            let targets = members
                .into_iter()
                .map(|r| Target::Node(self.g.fn_node(r)))
                .collect();
            self.virtual_node(NodeKind::Slot { name }, targets)
        };
        self.slot_memo.insert(key, t);
        t
    }

    /// A call through `->field` whose struct is not known: by the field name.
    fn field_target(&mut self, field: &str) -> Target {
        if let Some(t) = self.field_memo.get(field) {
            return *t;
        }
        let structs = self.r.field_structs.get(field).cloned().unwrap_or_default();
        let max = self.r.kb.data.sleep.max_field_structs;
        let t = match structs.len() {
            0 => {
                let what = format!("->{field} (no struct has it)");
                Target::Unknown(self.g.strings.intern(&what))
            }
            1 => self.slot_target(&structs[0], field),
            n if n > max => {
                let what = format!("->{field} (struct unknown, {n} structs have it)");
                Target::Unknown(self.g.strings.intern(&what))
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
}
