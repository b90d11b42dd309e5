//! The call graph the may-sleep analysis runs on: every call site of the tree resolved to what
//! it reaches.
//!
//! Nodes are functions, macros (a macro is a function whose body is text: its calls are found
//! by scanning it), slots (`struct.field`: every function the tree stores there) and
//! alternatives (a name defined several times, once per architecture). A call site's target is
//! a node, a knowledge-base primitive, a name that never sleeps, or an unknown.
//!
//! Resolution of a called name, as seen from a file:
//! 1. a parameter or local of the caller: a call through a function pointer (unknown);
//! 2. the knowledge base (`never`, then primitives): wins over any definition in the tree;
//! 3. the file's own `#define`, then the file's own function;
//! 4. definitions visible from other files: global functions of `.c` files, functions and
//!    macros defined in headers. Those of generic code and of the caller's architecture
//!    (the preferred one for a caller outside `arch/` and `include/asm-*`) are joined: any of
//!    them sleeping makes the call sleep. Only when none exists are the other architectures'
//!    definitions joined instead. Macro and function are not ranked against each other: which
//!    one a file sees depends on its #includes (`include/linux/iso_fs.h` redefines `bread` for
//!    a leak checker), which the facts do not record;
//! 5. otherwise unknown.
//!
//! A call through a field (`x->ops->open(...)`) is resolved to the slot `S.open`, where `S` is
//! the struct type of `x->ops` as the caller's declarations and the struct definitions tell;
//! when that type cannot be found, by the field name across the structs that have such a
//! function-pointer field, if there are at most `max_field_structs` of them.

use rustc_hash::{FxHashMap, FxHashSet};

use super::ctext::{self, body_calls, split_member};
use crate::ctext::{is_ident_char, is_identifier, strip_parens, TYPE_WORDS};
use crate::facts::{CallGuard as Guard, Function};
use crate::index::{referenced_name, FnRef, Index, TableContent, TableValue, VarRef};
use crate::kb::Kb;

pub type NodeId = u32;

/// How many alias parameters an object-like macro that names a function passes on.
const ALIAS_ARITY: usize = 8;
/// How deep nested initializers and member chains are followed.
const MAX_NESTING: usize = 6;

#[derive(Debug, Clone)]
pub enum NodeKind {
    Function(FnRef),
    Macro {
        file: u32,
        idx: u32,
        params: Vec<String>,
    },
    /// Every function stored in `struct.field`.
    Slot {
        name: String,
    },
    /// Several definitions of one name.
    Alternatives {
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// Index into the knowledge base's sleeping primitives.
    Prim(u32),
    Never,
    /// An interned description of what is unknown.
    Unknown(u32),
}

#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// `files[file].calls[call]`.
    Call { file: u32, call: u32 },
    /// A bare macro name used as a statement (`LOCKIT;`).
    Name { line: u32, name: u32 },
    /// A call in a macro body: `macro_sites[idx]`.
    Body { idx: u32 },
    /// A member of a slot or of alternatives: the arguments pass through unchanged.
    Member,
}

#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub target: Target,
    pub origin: Origin,
    /// The call runs only when a parameter of its function is zero or nonzero.
    pub guard: Option<Guard>,
}

#[derive(Debug, Clone)]
pub struct MacroSite {
    pub callee: String,
    pub args: Vec<String>,
    /// An object-like macro that names a function: the arguments are the call's own.
    pub alias: bool,
}

#[derive(Debug, Default)]
pub struct Interner {
    pub strings: Vec<String>,
    ids: FxHashMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<NodeKind>,
    pub sites: Vec<Vec<Site>>,
    pub macro_sites: Vec<MacroSite>,
    /// The target of every call of every file, by `[file][call]`.
    pub call_targets: Vec<Vec<Target>>,
    /// Node id of `files[f].functions[0]`.
    pub fn_base: Vec<u32>,
    /// For function nodes: which parameters are never assigned (see `stable_params`).
    pub stable: Vec<u64>,
    pub strings: Interner,
}

impl Graph {
    pub fn fn_node(&self, r: FnRef) -> NodeId {
        self.fn_base[r.file] + r.func as u32
    }

    /// Bit k set: parameter k of the node keeps the value it was called with (a function
    /// never assigns it; a macro's parameters are text).
    pub fn stable_params(&self, node: NodeId) -> u64 {
        match self.nodes.get(node as usize) {
            Some(NodeKind::Function(_)) => self.stable.get(node as usize).copied().unwrap_or(0),
            Some(NodeKind::Macro { .. }) => u64::MAX,
            _ => 0,
        }
    }
}

/// A definition of a name somewhere in the tree.
#[derive(Debug, Clone, Copy)]
enum Def {
    Fn(FnRef),
    Macro { file: u32, idx: u32 },
}

#[derive(Debug, Clone, Copy)]
struct DefInfo {
    def: Def,
    file: u32,
    /// Visible from other files: a global `.c` function, or anything a header defines.
    exported: bool,
    header: bool,
}

/// Where a call is written: the file, and the function (or macro parameters) around it.
#[derive(Clone, Copy)]
pub struct Ctx<'c> {
    pub file: u32,
    pub func: Option<&'c Function>,
    pub macro_params: &'c [String],
}

pub struct Builder<'i, 'a> {
    index: &'i Index<'a>,
    kb: &'i Kb,
    pub g: Graph,
    defs: FxHashMap<&'a str, Vec<DefInfo>>,
    file_arch: Vec<Option<u16>>,
    preferred_arch: Option<u16>,
    global_memo: FxHashMap<String, Vec<(u16, Target)>>,
    kb_memo: FxHashMap<String, Option<Target>>,
    macro_nodes: FxHashMap<(u32, u32), NodeId>,
    slot_memo: FxHashMap<(String, String), Target>,
    field_memo: FxHashMap<String, Target>,
    slot_table: FxHashMap<(String, String), Vec<FnRef>>,
    field_structs: FxHashMap<String, Vec<String>>,
    pending_macros: Vec<NodeId>,
    /// Every typedef name: `(u32)(x)` parses as a call of `(u32)` but is a cast.
    type_names: FxHashSet<&'a str>,
}

/// What kind of definition a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefKind {
    Macro,
    HeaderFn,
    Fn,
}

/// Whether a definition in `def_arch` is far from a caller in `caller_arch` (`None`: generic
/// code): generic and same-architecture definitions are near, and for a generic caller the
/// preferred architecture's. Near ones win; equal ones are joined.
pub fn rank(def_arch: Option<u16>, caller_arch: Option<u16>, preferred: Option<u16>) -> bool {
    let near = match (def_arch, caller_arch) {
        (None, _) => true,
        (Some(x), Some(y)) => x == y,
        (Some(x), None) => Some(x) == preferred,
    };
    !near
}

/// Definitions by name, kept after the graph is built so that a name can be looked up the way
/// a call would resolve it.
#[derive(Debug, Default)]
pub struct Lookup {
    pub defs: FxHashMap<String, Vec<LookupDef>>,
    pub file_arch: Vec<Option<u16>>,
    pub preferred_arch: Option<u16>,
}

#[derive(Debug, Clone, Copy)]
pub struct LookupDef {
    pub node: NodeId,
    pub file: u32,
    pub exported: bool,
    pub kind: DefKind,
}

/// The architecture a path belongs to: `arch/X/...` and `include/asm-X/...` give X.
fn arch_of(path: &str) -> Option<&str> {
    if let Some(rest) = path.strip_prefix("arch/") {
        return rest.split('/').next();
    }
    let rest = path.strip_prefix("include/asm-")?;
    let arch = rest.split('/').next()?;
    (arch != "generic").then_some(arch)
}

impl<'i, 'a> Builder<'i, 'a> {
    pub fn new(index: &'i Index<'a>, kb: &'i Kb) -> Self {
        let files = index.files;
        let mut arch_ids: FxHashMap<&str, u16> = FxHashMap::default();
        let mut file_arch = Vec::with_capacity(files.len());
        for f in files {
            file_arch.push(arch_of(&f.path).map(|a| {
                let n = arch_ids.len() as u16;
                *arch_ids.entry(a).or_insert(n)
            }));
        }
        let preferred_arch = kb
            .data
            .sleep
            .preferred_arch
            .as_deref()
            .and_then(|a| arch_ids.get(a).copied());
        // Sized up front: growing maps of this size is most of the cost of building them.
        let names: usize = files
            .iter()
            .map(|f| f.functions.len() + f.macros.len())
            .sum();
        let mut defs: FxHashMap<&str, Vec<DefInfo>> = FxHashMap::default();
        defs.reserve(names);
        let mut fn_base = Vec::with_capacity(files.len());
        let mut nodes = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            fn_base.push(nodes.len() as u32);
            let header = f.path.ends_with(".h");
            for (i, func) in f.functions.iter().enumerate() {
                let r = FnRef { file: fi, func: i };
                nodes.push(NodeKind::Function(r));
                if func.name.is_empty() {
                    continue;
                }
                defs.entry(func.name.as_str()).or_default().push(DefInfo {
                    def: Def::Fn(r),
                    file: fi as u32,
                    exported: header || !func.is_static,
                    header,
                });
            }
            let mut seen: FxHashSet<&str> = FxHashSet::default();
            for (i, m) in f.macros.iter().enumerate() {
                // The first definition in a file; a later one is an #undef/#define pair.
                if !seen.insert(m.name.as_str()) {
                    continue;
                }
                defs.entry(m.name.as_str()).or_default().push(DefInfo {
                    def: Def::Macro {
                        file: fi as u32,
                        idx: i as u32,
                    },
                    file: fi as u32,
                    exported: header,
                    header,
                });
            }
        }
        let sites = vec![Vec::new(); nodes.len()];
        let mut b = Self {
            index,
            kb,
            g: Graph {
                nodes,
                sites,
                fn_base,
                ..Default::default()
            },
            defs,
            file_arch,
            preferred_arch,
            global_memo: FxHashMap::default(),
            kb_memo: FxHashMap::default(),
            macro_nodes: FxHashMap::default(),
            slot_memo: FxHashMap::default(),
            field_memo: FxHashMap::default(),
            slot_table: FxHashMap::default(),
            field_structs: FxHashMap::default(),
            pending_macros: Vec::new(),
            type_names: {
                let mut names = FxHashSet::default();
                names.reserve(files.iter().map(|f| f.typedefs.len()).sum());
                names.extend(
                    files
                        .iter()
                        .flat_map(|f| f.typedefs.iter().map(|t| t.name.as_str())),
                );
                names
            },
        };
        b.build_slot_table();
        b
    }

    /// Resolves every call of the tree and every macro it reaches.
    pub fn build(mut self) -> (Graph, Lookup) {
        let files = self.index.files;
        let mut call_targets = Vec::with_capacity(files.len());
        for (fi, f) in files.iter().enumerate() {
            for func in &f.functions {
                let mut stable = u64::MAX;
                for &k in func.assigned_params.iter().filter(|&&k| k < 64) {
                    stable &= !(1u64 << k);
                }
                self.g.stable.push(stable);
            }
            let mut targets = Vec::with_capacity(f.calls.len());
            for (ci, call) in f.calls.iter().enumerate() {
                let func = call.caller.map(|c| &f.functions[c as usize]);
                let ctx = Ctx {
                    file: fi as u32,
                    func,
                    macro_params: &[],
                };
                let target = if call.indirect {
                    self.resolve_indirect(&call.callee, ctx)
                } else {
                    self.resolve_direct(&call.callee, ctx, None)
                };
                targets.push(target);
                if let Some(c) = call.caller {
                    let node = self.g.fn_base[fi] + c;
                    self.g.sites[node as usize].push(Site {
                        target,
                        origin: Origin::Call {
                            file: fi as u32,
                            call: ci as u32,
                        },
                        guard: call.guard,
                    });
                }
            }
            call_targets.push(targets);
            for (i, func) in f.functions.iter().enumerate() {
                self.bare_names(fi, i, func);
            }
            self.drain_macros();
        }
        self.g.call_targets = call_targets;
        let mut defs: FxHashMap<String, Vec<LookupDef>> = FxHashMap::default();
        defs.reserve(self.defs.len());
        for (name, list) in &self.defs {
            let found: Vec<LookupDef> = list
                .iter()
                .filter_map(|d| {
                    let (node, kind) = match d.def {
                        Def::Fn(r) => (
                            self.g.fn_node(r),
                            if d.header {
                                DefKind::HeaderFn
                            } else {
                                DefKind::Fn
                            },
                        ),
                        Def::Macro { file, idx } => {
                            (*self.macro_nodes.get(&(file, idx))?, DefKind::Macro)
                        }
                    };
                    Some(LookupDef {
                        node,
                        file: d.file,
                        exported: d.exported,
                        kind,
                    })
                })
                .collect();
            if !found.is_empty() {
                defs.insert(name.to_string(), found);
            }
        }
        let lookup = Lookup {
            defs,
            file_arch: self.file_arch,
            preferred_arch: self.preferred_arch,
        };
        (self.g, lookup)
    }

    /// Bare names used as statements that are macros (`LOCKIT;`) are calls of those macros.
    fn bare_names(&mut self, fi: usize, i: usize, func: &'a Function) {
        let node = self.g.fn_base[fi] + i as u32;
        let file = &self.index.files[fi];
        for bare in file.bare_names.iter().filter(|b| b.caller as usize == i) {
            let name = bare.name.as_str();
            let ctx = Ctx {
                file: fi as u32,
                func: Some(func),
                macro_params: &[],
            };
            let target = self.resolve_direct(name, ctx, None);
            let is_macro = match target {
                Target::Prim(_) => true,
                Target::Node(n) => !matches!(self.g.nodes[n as usize], NodeKind::Function(_)),
                _ => false,
            };
            if is_macro {
                let name = self.g.strings.intern(name);
                self.g.sites[node as usize].push(Site {
                    target,
                    origin: Origin::Name {
                        line: bare.line,
                        name,
                    },
                    guard: None,
                });
            }
        }
    }

    fn unknown(&mut self, what: &str) -> Target {
        Target::Unknown(self.g.strings.intern(what))
    }

    fn kb_target(&mut self, name: &str) -> Option<Target> {
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
            let mine = defs.iter().filter(|d| d.file == ctx.file);
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

    fn resolve_global(&mut self, name: &str, arch: Option<u16>, skip_macros: bool) -> Target {
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
        let def = &self.index.files[file as usize].macros[idx as usize];
        let params = match &def.params {
            Some(ps) => ps
                .iter()
                .map(|p| match p.trim_end_matches("...").trim() {
                    "" => "__VA_ARGS__".to_string(),
                    p => p.to_string(),
                })
                .collect(),
            None if is_identifier(strip_parens(&def.body)) => {
                (0..ALIAS_ARITY).map(|i| format!("__arg{i}")).collect()
            }
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
    fn drain_macros(&mut self) {
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
    fn is_type(&self, e: &str) -> bool {
        let first = e.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
        let rest = e[first.len()..].trim();
        TYPE_WORDS.contains(&first)
            || (self.type_names.contains(first) && rest.chars().all(|c| c == '*' || c == ' '))
    }

    /// The struct type of an expression, if the declarations in view tell it.
    fn expr_struct(&self, expr: &str, ctx: Ctx, depth: usize) -> Option<String> {
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

    fn known_struct(&self, type_name: &str) -> Option<String> {
        let s = self.index.struct_name(type_name);
        self.index.struct_def(s).map(|_| s.to_string())
    }

    /// A call through `S.field`: the functions stored there, unless there are too many or none.
    fn slot_target(&mut self, s: &str, field: &str) -> Target {
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
    fn field_target(&mut self, field: &str) -> Target {
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
    fn functions_named(&self, file: usize, name: &str) -> Vec<FnRef> {
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

    /// Which functions each `struct.field` holds: initializers of tables (nested ones too),
    /// `var.field = f` and `p->field = f` anywhere.
    fn build_slot_table(&mut self) {
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
                    Some(s) => table.entry((s, a.field.clone())).or_default().extend(fns),
                    None => by_field.push((a.field.clone(), fns)),
                }
            }
        }
        let mut field_structs: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for f in index.files {
            for s in &f.structs {
                for fld in s.fields.iter().filter(|x| x.is_fn_ptr) {
                    field_structs
                        .entry(fld.name.clone())
                        .or_default()
                        .push(s.name.clone());
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

    fn table_values(
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
