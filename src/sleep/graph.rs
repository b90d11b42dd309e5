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

mod resolve;
mod slots;

use crate::facts::{CallGuard as Guard, Function};
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{self, BodyPolicy};
    use crate::scan::Scan;

    /// The facts of `files` (path, text), in path order as a scan gives them.
    fn scan(files: &[(&str, &str)]) -> Scan {
        let kb = Kb::builtin();
        let normalizer = crate::normalize::Normalizer::new(&kb.data, &[], &[]);
        let mut files: Vec<_> = files
            .iter()
            .map(|(p, s)| facts::extract_with(p, s.as_bytes(), &normalizer, &BodyPolicy::All))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Scan {
            files,
            ..Default::default()
        }
    }

    /// The graph of the tree, and a way to name the target of `caller`'s call of `callee`.
    struct Built<'s> {
        index: Index<'s>,
        graph: Graph,
    }

    impl Built<'_> {
        fn target(&self, path: &str, caller: &str, callee: &str) -> Target {
            let fi = self
                .index
                .files
                .iter()
                .position(|f| f.path == path)
                .unwrap();
            let f = &self.index.files[fi];
            let ci = f
                .calls
                .iter()
                .position(|c| {
                    c.callee == callee
                        && c.caller
                            .is_some_and(|k| f.functions[k as usize].name == caller)
                })
                .unwrap_or_else(|| panic!("no call of {callee} in {caller}"));
            self.graph.call_targets[fi][ci]
        }

        fn function(&self, path: &str, name: &str) -> Target {
            let file = self
                .index
                .files
                .iter()
                .position(|f| f.path == path)
                .unwrap();
            let func = self.index.files[file]
                .functions
                .iter()
                .position(|f| f.name == name)
                .unwrap();
            Target::Node(self.graph.fn_node(FnRef { file, func }))
        }

        fn unknown_text(&self, t: Target) -> &str {
            match t {
                Target::Unknown(u) => self.graph.strings.get(u),
                other => panic!("not an unknown: {other:?}"),
            }
        }
    }

    fn build(scan: &Scan) -> Built<'_> {
        let kb = Kb::builtin();
        let index = Index::build(scan, &kb);
        let (graph, _) = Builder::new(&index, &kb).build();
        Built { index, graph }
    }

    #[test]
    fn direct_calls_resolve_as_c_sees_them() {
        let s = scan(&[
            (
                "drivers/a.c",
                "static int helper(void) { return 0; }\n\
                 int a(int (*fp)(void)) { helper(); shared(); hidden(); nowhere(); fp(); printk(\"x\"); schedule(); return 0; }\n",
            ),
            (
                "kernel/b.c",
                "int shared(void) { return 0; }\nstatic int hidden(void) { return 0; }\nvoid schedule(void) { }\n",
            ),
        ]);
        let b = build(&s);
        assert_eq!(
            b.target("drivers/a.c", "a", "helper"),
            b.function("drivers/a.c", "helper")
        );
        assert_eq!(
            b.target("drivers/a.c", "a", "shared"),
            b.function("kernel/b.c", "shared")
        );
        // Another file's static is not visible; a name defined nowhere is unknown.
        assert!(matches!(
            b.target("drivers/a.c", "a", "hidden"),
            Target::Unknown(_)
        ));
        assert_eq!(
            b.unknown_text(b.target("drivers/a.c", "a", "nowhere")),
            "nowhere"
        );
        assert_eq!(
            b.unknown_text(b.target("drivers/a.c", "a", "fp")),
            "(*fp) (function pointer)"
        );
        // The knowledge base wins over the tree: `never`, and primitives over a definition.
        assert_eq!(b.target("drivers/a.c", "a", "printk"), Target::Never);
        let kb = Kb::builtin();
        let Target::Prim(p) = b.target("drivers/a.c", "a", "schedule") else {
            panic!("schedule is a primitive");
        };
        assert_eq!(kb.data.sleep.primitives[p as usize].name, "schedule");
    }

    #[test]
    fn each_architecture_sees_its_own_definition() {
        let s = scan(&[
            (
                "arch/i386/kernel/irq.c",
                "int setup_irq(void) { return 1; }\nint use_i(void) { return setup_irq(); }\n",
            ),
            (
                "arch/alpha/kernel/irq.c",
                "int setup_irq(void) { return 2; }\nint use_a(void) { return setup_irq(); }\n",
            ),
            ("drivers/c.c", "int use_c(void) { return setup_irq(); }\n"),
        ]);
        let b = build(&s);
        let i386 = b.function("arch/i386/kernel/irq.c", "setup_irq");
        let alpha = b.function("arch/alpha/kernel/irq.c", "setup_irq");
        assert_eq!(
            b.target("arch/alpha/kernel/irq.c", "use_a", "setup_irq"),
            alpha
        );
        assert_eq!(
            b.target("arch/i386/kernel/irq.c", "use_i", "setup_irq"),
            i386
        );
        // Generic code sees the preferred architecture's.
        assert_eq!(b.target("drivers/c.c", "use_c", "setup_irq"), i386);
    }

    #[test]
    fn calls_through_a_field_reach_the_slot_and_its_implementations() {
        let s = scan(&[
            (
                "include/linux/knob.h",
                "struct knob_ops {\n\tint (*turn)(int);\n};\n",
            ),
            (
                "drivers/knob.c",
                "#include <linux/knob.h>\n\
                 static int left(int x) { return x; }\n\
                 static int right(int x) { return -x; }\n\
                 static struct knob_ops l_ops = { turn: left };\n\
                 static struct knob_ops r_ops = { .turn = right };\n\
                 int twist(struct knob_ops *ops) { return ops->turn(1); }\n",
            ),
        ]);
        let b = build(&s);
        let Target::Node(slot) = b.target("drivers/knob.c", "twist", "ops->turn") else {
            panic!("not a node");
        };
        assert!(
            matches!(&b.graph.nodes[slot as usize], NodeKind::Slot { name } if name == "knob_ops.turn"),
            "{:?}",
            b.graph.nodes[slot as usize]
        );
        let mut members: Vec<Target> = b.graph.sites[slot as usize]
            .iter()
            .map(|s| {
                assert!(matches!(s.origin, Origin::Member));
                s.target
            })
            .collect();
        members.sort_by_key(|t| format!("{t:?}"));
        let mut want = vec![
            b.function("drivers/knob.c", "left"),
            b.function("drivers/knob.c", "right"),
        ];
        want.sort_by_key(|t| format!("{t:?}"));
        assert_eq!(members, want);
    }

    #[test]
    fn macros_are_nodes_whose_bodies_are_scanned() {
        let s = scan(&[(
            "drivers/m.c",
            "#define WAIT_READY(q) interruptible_sleep_on(q)\nint m(int *q) { WAIT_READY(q); return 0; }\n",
        )]);
        let b = build(&s);
        let Target::Node(n) = b.target("drivers/m.c", "m", "WAIT_READY") else {
            panic!("not a node");
        };
        assert!(
            matches!(&b.graph.nodes[n as usize], NodeKind::Macro { params, .. } if params == &["q"])
        );
        let sites = &b.graph.sites[n as usize];
        assert_eq!(sites.len(), 1);
        let Origin::Body { idx } = sites[0].origin else {
            panic!("{:?}", sites[0].origin);
        };
        assert_eq!(
            b.graph.macro_sites[idx as usize].callee,
            "interruptible_sleep_on"
        );
        assert!(matches!(sites[0].target, Target::Prim(_)));
    }

    #[test]
    fn rank_and_arch_of() {
        assert_eq!(arch_of("arch/i386/kernel/irq.c"), Some("i386"));
        assert_eq!(arch_of("include/asm-alpha/io.h"), Some("alpha"));
        assert_eq!(arch_of("include/asm-generic/io.h"), None);
        assert_eq!(arch_of("drivers/char/mem.c"), None);
        // Generic definitions are near everyone; an architecture's only its own code, and
        // generic code when it is the preferred one.
        assert!(!rank(None, Some(1), Some(0)));
        assert!(!rank(Some(1), Some(1), Some(0)));
        assert!(rank(Some(2), Some(1), Some(0)));
        assert!(!rank(Some(0), None, Some(0)));
        assert!(rank(Some(1), None, Some(0)));
    }

    #[test]
    fn interner_gives_one_id_per_string() {
        let mut i = Interner::default();
        let a = i.intern("a");
        let b = i.intern("b");
        assert_ne!(a, b);
        assert_eq!(i.intern("a"), a);
        assert_eq!((i.get(a), i.get(b)), ("a", "b"));
        assert_eq!(i.strings.len(), 2);
    }
}
