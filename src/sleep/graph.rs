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

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

mod materialize;
mod resolve;
mod slots;

use resolve::{Memo, Resolved, Resolver};

use crate::buildinfo::BuildInfo;
use crate::facts::{BareName, CallGuard, FileFacts, Function};
use crate::index::{FnRef, Index};
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
        params: Vec<crate::facts::Text>,
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
    /// The call runs only when a parameter of its function (or some of its bits) is zero or
    /// nonzero.
    pub guard: Option<CallGuard>,
}

#[derive(Debug, Clone)]
pub struct MacroSite {
    pub callee: String,
    pub args: Vec<crate::facts::Text>,
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
    pub macro_params: &'c [crate::facts::Text],
}

pub struct Builder<'i, 'a> {
    r: Resolver<'i, 'a>,
    pub g: Graph,
    /// Resolutions the sequential part makes itself (macro bodies).
    memo: Memo,
    /// Joined definitions of a name, per architecture key: one node for every call.
    alternatives: FxHashMap<String, Vec<(u16, Target)>>,
    macro_nodes: FxHashMap<(u32, u32), NodeId>,
    slot_memo: FxHashMap<(String, String), Target>,
    field_memo: FxHashMap<String, Target>,
    pending_macros: Vec<NodeId>,
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

impl<'i, 'a> Builder<'i, 'a> {
    /// `build`, when given, says which files only one architecture builds as modules: their
    /// calls resolve as that architecture's code does.
    pub fn new(index: &'i Index<'a>, kb: &'i Kb, build: Option<&BuildInfo>) -> Self {
        let files = index.files;
        let mut arch_ids: FxHashMap<&str, u16> = FxHashMap::default();
        let mut file_arch = Vec::with_capacity(files.len());
        let layout = &kb.data.layout;
        for f in files {
            let arch = (layout.arch_of(&f.path))
                .or_else(|| build.and_then(|b| b.module_arch(&f.path, layout)));
            file_arch.push(arch.map(|a| {
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
        let mut r = Resolver {
            index,
            kb,
            defs,
            file_arch,
            preferred_arch,
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
            slot_table: FxHashMap::default(),
            field_structs: FxHashMap::default(),
            fn_base: fn_base.clone(),
        };
        r.build_slot_table();
        Self {
            r,
            g: Graph {
                nodes,
                sites,
                fn_base,
                ..Default::default()
            },
            memo: Memo::default(),
            alternatives: FxHashMap::default(),
            macro_nodes: FxHashMap::default(),
            slot_memo: FxHashMap::default(),
            field_memo: FxHashMap::default(),
            pending_macros: Vec::new(),
        }
    }

    /// Resolves every call of the tree and every macro it reaches: files a chunk at a time,
    /// resolved on every core, then given their nodes in order.
    pub fn build(mut self) -> (Graph, Lookup) {
        let files = self.r.index.files;
        let mut call_targets = Vec::with_capacity(files.len());
        let groups = rayon::current_num_threads().max(1) * 4;
        for chunk in (0..files.len()).step_by(CHUNK_FILES) {
            let end = (chunk + CHUNK_FILES).min(files.len());
            let per_group = (end - chunk).div_ceil(groups);
            let r = &self.r;
            let resolved: Vec<Vec<FileResolved>> = (chunk..end)
                .step_by(per_group)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|from| {
                    let mut memo = Memo::default();
                    (from..(from + per_group).min(end))
                        .map(|fi| r.file(&mut memo, fi))
                        .collect()
                })
                .collect();
            for (fi, file) in (chunk..end).zip(resolved.into_iter().flatten()) {
                call_targets.push(self.add_file(fi, file));
                self.drain_macros();
            }
        }
        self.g.call_targets = call_targets;
        let mut defs: FxHashMap<String, Vec<LookupDef>> = FxHashMap::default();
        defs.reserve(self.r.defs.len());
        for (name, list) in &self.r.defs {
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
            file_arch: self.r.file_arch,
            preferred_arch: self.r.preferred_arch,
        };
        (self.g, lookup)
    }

    /// The nodes and sites of one file's resolved calls, in the order written; the targets of
    /// its calls.
    fn add_file(&mut self, fi: usize, file: FileResolved) -> Vec<Target> {
        let index = self.r.index;
        let f = &index.files[fi];
        for func in &f.functions {
            let mut stable = u64::MAX;
            for &k in func.assigned_params.iter().filter(|&&k| k < 64) {
                stable &= !(1u64 << k);
            }
            self.g.stable.push(stable);
        }
        let mut targets = Vec::with_capacity(f.calls.len());
        for ((ci, call), resolved) in f.calls.iter().enumerate().zip(file.calls) {
            let target = self.materialize(resolved);
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
        // Bare names used as statements that are macros (`LOCKIT;`) are calls of them.
        for (bare, resolved) in file.bare {
            let target = self.materialize(resolved);
            let is_macro = match target {
                Target::Prim(_) => true,
                Target::Node(n) => !matches!(self.g.nodes[n as usize], NodeKind::Function(_)),
                _ => false,
            };
            if is_macro {
                let node = self.g.fn_base[fi] + bare.caller;
                let name = self.g.strings.intern(&bare.name);
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
        targets
    }
}

/// How many files are resolved between two numberings (bounds what is held at once).
const CHUNK_FILES: usize = 2048;

/// One file's calls and bare names, resolved.
struct FileResolved<'f> {
    calls: Vec<Resolved>,
    /// Taken function by function, each function's in the order written.
    bare: Vec<(&'f BareName, Resolved)>,
}

impl<'a> Resolver<'_, 'a> {
    fn file(&self, memo: &mut Memo, fi: usize) -> FileResolved<'a> {
        let f: &'a FileFacts = &self.index.files[fi];
        let calls = f
            .calls
            .iter()
            .map(|call| {
                let ctx = Ctx {
                    file: fi as u32,
                    func: call.caller.map(|c| &f.functions[c as usize]),
                    macro_params: &[],
                };
                if call.indirect {
                    self.indirect(memo, &call.callee, ctx)
                } else {
                    self.direct(memo, &call.callee, ctx, None)
                }
            })
            .collect();
        // One sort, not a pass over the file's names per function.
        let mut order: Vec<&BareName> = f.bare_names.iter().collect();
        order.sort_by_key(|b| b.caller);
        let bare = order
            .into_iter()
            .filter_map(|bare| {
                let func = f.functions.get(bare.caller as usize)?;
                let ctx = Ctx {
                    file: fi as u32,
                    func: Some(func),
                    macro_params: &[],
                };
                Some((bare, self.direct(memo, &bare.name, ctx, None)))
            })
            .collect();
        FileResolved { calls, bare }
    }
}

#[cfg(test)]
mod tests;
