//! May-sleep analysis: may this call sleep, and why.
//!
//! Sleeping starts at the knowledge base's primitives (`[sleep]` in `kb/linux-2.4.toml`):
//! routines that block, touch user memory, load a module, or allocate memory with a mask that
//! includes the wait bit. Which masks include it is read from the tree's `#define`s
//! (`mask.rs`). Everything else follows from the tree's call graph (`graph.rs`): functions,
//! macros, calls through ops-table slots and per-architecture definitions, solved to a fixpoint
//! over strongly connected components (`solve.rs`). Summaries are parameter-dependent:
//! `sk_alloc(family, priority, zero)` sleeps iff `priority` is a sleeping mask, and every
//! caller judges its own argument; a call guarded by a parameter test
//! (`if (!creat) return NULL;`, `CallGuard` in the facts) sleeps only for callers that may pass
//! such a value. A flag-bit test (`if (flags & EXTRACT_USER) copy_to_user(...)`) is such a
//! guard too: its bit and the callers' constants (`EXTRACT_SECONDARY`, `A | B`) are valued
//! from the tree's `#define`s (`consts.rs`), so `get_random_bytes`, which never passes the
//! user bit, does not sleep through the user-copy path.
//!
//! API (used by `modrace why-sleeps` and by the rules):
//! - [`SleepAnalysis::compute`] once per tree;
//! - [`SleepAnalysis::call_verdict`] for `files[file].calls[call]`: the arguments at that site
//!   are judged (a mask that is the caller's own parameter makes the answer conditional);
//! - [`SleepAnalysis::name_verdict`] for a bare macro name used as a statement (`LOCKIT;`),
//!   which the facts record as `Event::Name`, not as a call;
//! - [`SleepAnalysis::function_verdict`] / [`SleepAnalysis::function_verdict_in`] for a
//!   function (or macro, or primitive) by name, optionally with the mask it is given.
//!
//! Every "yes" carries its chain: one [`ChainStep`] per call, from the first call in the
//! function asked about (or the call site asked about) down to the primitive. Steps through a
//! slot or between alternative definitions are not steps of their own: the next step names
//! the function that was reached, and its file.
//!
//! Unknowns are callees with no definition in the tree and not in the knowledge base, calls
//! through pointers that cannot be resolved (or through a slot with more than
//! `max_slot_targets` implementations), and masks that are neither a macro nor a parameter
//! (`sk->allocation`). [`UnknownPolicy`] decides what they mean; every verdict lists those it
//! reached (up to 32).

mod consts;
pub mod ctext;
mod graph;
mod mask;
pub mod report;
mod solve;
mod verdict;

use std::time::Instant;

use serde::Serialize;

use crate::index::{FnRef, Index};
use crate::kb::{Kb, SleepPrimitive};
use consts::ConstTable;
use graph::{Builder, Graph, Lookup, NodeId, NodeKind, Origin, Target};
pub use mask::{Mask, MaskTable};
use solve::{owner_params, Entry, Solver, Summary, Unknowns};

/// What an unknown callee (or an undecidable mask) counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownPolicy {
    /// It may sleep: a chain may end at an unknown. Nothing that may sleep is missed, but
    /// every unresolved function pointer sleeps.
    Sleeps,
    /// It does not sleep (the default): what the tree defines decides, and the verdict lists
    /// the unknowns it assumed away. In a whole tree the unknowns are mostly compiler builtins,
    /// assembly helpers and function pointers, which rarely sleep; a checker that reports
    /// "may sleep" should not report every call through a pointer.
    #[default]
    NoSleep,
    /// A verdict that reached unknowns and found no chain is `Sleep::Unknown`.
    Report,
}

impl UnknownPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownPolicy::Sleeps => "sleeps",
            UnknownPolicy::NoSleep => "no-sleep",
            UnknownPolicy::Report => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sleep {
    Yes,
    No,
    Unknown,
}

/// One call on the way to a sleeping primitive. Paths are relative to the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStep {
    /// The function (or macro) the call is written in.
    pub function: String,
    pub file: String,
    pub line: u32,
    /// The call as written, arguments included.
    pub call: String,
    /// The slot (`net_proto_family.create`) or the set of alternative definitions (`->open`,
    /// a name defined per architecture) the previous call went through to reach this function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// A parameter whose mask decides: the verdict is "yes" if it is given a sleeping mask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// 0-based.
    pub param: usize,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub sleeps: Sleep,
    /// Down to the primitive, for `Yes`; for a conditional `Unknown`, the chain that sleeps
    /// when the condition holds.
    pub chain: Vec<ChainStep>,
    pub unknowns: Vec<String>,
    /// More unknowns were reached than are listed.
    pub more_unknowns: bool,
    /// What the last step does: `kmalloc allocates memory ...`.
    pub reason: Option<String>,
    /// The sleeping GFP mask that decided, when an allocation did.
    pub mask: Option<String>,
    /// Parameters of the function asked about (or of the caller, for a call site) whose mask
    /// decides, when no mask was given for them.
    pub conditions: Vec<Condition>,
}

impl Verdict {
    fn no() -> Self {
        Verdict {
            sleeps: Sleep::No,
            chain: Vec::new(),
            unknowns: Vec::new(),
            more_unknowns: false,
            reason: None,
            mask: None,
            conditions: Vec::new(),
        }
    }

    /// `request_irq -> kmalloc(GFP_KERNEL)`: the functions of the chain and the callee of its
    /// last call, with the deciding mask.
    pub fn short_chain(&self) -> String {
        let mut parts: Vec<String> = self.chain.iter().map(|s| s.function.clone()).collect();
        if let Some(last) = self.chain.last() {
            let callee = last.call.split('(').next().unwrap_or("").trim().to_string();
            parts.push(match &self.mask {
                Some(m) => format!("{callee}({m})"),
                None => callee,
            });
        }
        parts.join(" -> ")
    }
}

/// Counts for reports and benchmarks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SleepStats {
    pub nodes: usize,
    pub functions: usize,
    pub functions_sleeping: usize,
    pub functions_conditional: usize,
    /// May sleep only when some parameter is zero (or nonzero).
    pub functions_guarded: usize,
    pub functions_with_unknowns: usize,
    pub components: usize,
    pub largest_component: usize,
    pub seconds: f64,
}

pub struct SleepAnalysis {
    graph: Graph,
    lookup: Lookup,
    summaries: Vec<Summary>,
    scc_of: Vec<u32>,
    unknowns: Vec<Unknowns>,
    masks: MaskTable,
    consts: ConstTable,
    primitives: Vec<SleepPrimitive>,
    never: Vec<String>,
    policy: UnknownPolicy,
    seconds: f64,
}

/// The start of a chain that is not yet in the graph's summaries: what a call site (or a
/// question about a name) reaches.
#[derive(Debug, Clone, Copy)]
enum Cont {
    /// The target itself decides (a primitive, or an unknown under `sleeps`).
    End(Target),
    /// Continue with an entry of a node's summary.
    Node(NodeId, Entry),
}

/// What a target reached with some arguments amounts to.
#[derive(Default)]
struct Judged {
    sleeps: Option<(u32, Cont, Option<String>)>,
    /// (parameter of the context, chain length, continuation)
    conds: Vec<(u8, u32, Cont)>,
    unknowns: Vec<String>,
    more_unknowns: bool,
    /// The sleep needs a parameter of the context to be nonzero (zero): its name.
    only_if: Option<(String, bool)>,
}

impl SleepAnalysis {
    /// Builds the call graph of the tree and solves it. The GFP mask table needs only the
    /// facts: it is read while the graph is built.
    /// `build`: the tree's build files, which tell the architecture of a driver only one
    /// architecture builds as a module (`graph::Builder::new`).
    pub fn compute(
        index: &Index,
        kb: &Kb,
        policy: UnknownPolicy,
        build: Option<&crate::buildinfo::BuildInfo>,
    ) -> Self {
        let _t = crate::timing::Phase::start("may-sleep");
        let start = Instant::now();
        let ((mut graph, lookup), (masks, consts)) = rayon::join(
            || {
                let _t = crate::timing::Phase::start("sleep graph");
                Builder::new(index, kb, build).build()
            },
            || {
                (
                    MaskTable::new(&index.macros, &kb.data.sleep),
                    ConstTable::new(index.files),
                )
            },
        );
        let strings = std::mem::take(&mut graph.strings);
        let solver = Solver {
            index,
            kb,
            graph: &graph,
            masks: &masks,
            consts: &consts,
            policy,
            strings: std::cell::RefCell::new(strings),
        };
        let (summaries, scc_of, unknowns) = {
            let _t = crate::timing::Phase::start("sleep solve");
            solver.solve()
        };
        let strings = solver.strings.into_inner();
        graph.strings = strings;
        SleepAnalysis {
            graph,
            lookup,
            summaries,
            scc_of,
            unknowns,
            masks,
            consts,
            primitives: kb.data.sleep.primitives.clone(),
            never: kb.data.sleep.never.clone(),
            policy,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    pub fn policy(&self) -> UnknownPolicy {
        self.policy
    }

    /// Verdict for one call site: `files[file].calls[call]`. Masks in its arguments are judged
    /// where they are written.
    pub fn call_verdict(&self, index: &Index, file: usize, call: usize) -> Verdict {
        let Some(&target) = self.graph.call_targets.get(file).and_then(|t| t.get(call)) else {
            return self.unknown_name("no such call site");
        };
        let f = &index.files[file];
        let c = &f.calls[call];
        let caller = c.caller.map(|i| &f.functions[i as usize]);
        let params: Vec<&str> = caller.map_or(Vec::new(), |func| {
            func.params
                .iter()
                .map(|p| p.name.as_deref().unwrap_or(""))
                .collect()
        });
        let stable = c.caller.map_or(0, |i| {
            self.graph.stable_params(self.graph.fn_base[file] + i)
        });
        let judged = self.judge(index, target, Some(&c.args), (&params, stable), Some(file));
        let first = ChainStep {
            function: caller.map_or("<file scope>".to_string(), |f| f.name.to_string()),
            file: f.path.to_string(),
            line: c.line,
            call: call_text(&c.callee, &c.args),
            via: None,
        };
        self.finish(index, judged, Some(first), &params)
    }

    /// Verdict for a bare name used as a statement in `files[file].functions[func]`
    /// (`Event::Name`): a macro that expands to calls. Anything else does not sleep.
    pub fn name_verdict(&self, index: &Index, file: usize, func: usize, name: &str) -> Verdict {
        let Some(&base) = self.graph.fn_base.get(file) else {
            return Verdict::no();
        };
        let node = base as usize + func;
        let Some(site) = self.graph.sites.get(node).and_then(|sites| {
            sites.iter().find(|s| {
                matches!(s.origin, Origin::Name { name: n, .. } if self.graph.strings.get(n) == name)
            })
        }) else {
            return Verdict::no();
        };
        let Origin::Name { line, .. } = site.origin else {
            return Verdict::no();
        };
        let (params, _) = owner_params(&self.graph, index, node as NodeId);
        let stable = self.graph.stable_params(node as NodeId);
        let judged = self.judge(index, site.target, Some(&[]), (&params, stable), Some(file));
        let first = ChainStep {
            function: index.files[file].functions[func].name.to_string(),
            file: index.files[file].path.to_string(),
            line,
            call: name.to_string(),
            via: None,
        };
        self.finish(index, judged, Some(first), &params)
    }

    /// Verdict for a function (or macro, or primitive) by name, as code outside any file sees
    /// it: generic and preferred-architecture definitions first; a name defined only as
    /// `static` is looked up in every file. `mask` is the mask it is given, for a function
    /// whose sleeping depends on one.
    pub fn function_verdict(&self, index: &Index, name: &str, mask: Option<&str>) -> Verdict {
        self.function_verdict_in(index, None, name, mask)
    }

    /// Like [`Self::function_verdict`], with the static scoping of `file`.
    pub fn function_verdict_in(
        &self,
        index: &Index,
        file: Option<usize>,
        name: &str,
        mask: Option<&str>,
    ) -> Verdict {
        if self.never.iter().any(|g| crate::kb::glob_match(g, name)) {
            let mut v = Verdict::no();
            v.reason = Some(format!("{name} never sleeps (knowledge base)"));
            return v;
        }
        if let Some(i) = self.primitives.iter().position(|p| p.name == name) {
            let p = &self.primitives[i];
            let target = Target::Prim(i as u32);
            let args = p.mask_arg.map(|m| {
                let mut args = vec![crate::facts::Text::default(); m + 1];
                args[m] = mask.unwrap_or("mask").into();
                args
            });
            let params: &[&str] = if mask.is_none() { &["mask"] } else { &[] };
            let mut judged = self.judge(index, target, args.as_deref(), (params, 0), None);
            for c in &mut judged.conds {
                c.0 = p.mask_arg.unwrap_or(0) as u8;
            }
            let mut v = self.finish(index, judged, None, &[]);
            if let Some(c) = v.conditions.first_mut() {
                c.name = "mask".into();
            }
            return v;
        }
        let nodes = self.candidates(file, name);
        if nodes.is_empty() {
            return self.unknown_name(&format!("{name} (no definition in the tree)"));
        }
        let mut best: Option<Verdict> = None;
        let mut unknowns: Vec<String> = Vec::new();
        let mut more = false;
        for node in nodes {
            let v = self.node_verdict(index, node, mask);
            unknowns.extend(v.unknowns.iter().cloned());
            more |= v.more_unknowns;
            let better = match &best {
                None => true,
                Some(b) => {
                    let order = |s: Sleep| match s {
                        Sleep::Yes => 0,
                        Sleep::Unknown => 1,
                        Sleep::No => 2,
                    };
                    (order(v.sleeps), v.chain.len()) < (order(b.sleeps), b.chain.len())
                }
            };
            if better {
                best = Some(v);
            }
        }
        let mut v = best.unwrap_or_else(Verdict::no);
        unknowns.sort();
        unknowns.dedup();
        v.unknowns = unknowns;
        v.more_unknowns = more;
        v
    }

    /// Where a name is defined in the tree (functions, and macros that some code uses), as
    /// `function_verdict_in` would pick them.
    pub fn definitions(
        &self,
        index: &Index,
        file: Option<usize>,
        name: &str,
    ) -> Vec<(String, u32)> {
        self.candidates(file, name)
            .into_iter()
            .filter_map(|n| match &self.graph.nodes[n as usize] {
                NodeKind::Function(r) => Some((
                    index.files[r.file].path.to_string(),
                    index.function(*r).line,
                )),
                NodeKind::Macro { file, idx, .. } => {
                    let f = &index.files[*file as usize];
                    Some((f.path.to_string(), f.macros[*idx as usize].line))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether the knowledge base knows the name (as a primitive or as never sleeping).
    pub fn is_known_primitive(&self, name: &str) -> bool {
        self.primitives.iter().any(|p| p.name == name)
            || self.never.iter().any(|g| crate::kb::glob_match(g, name))
    }

    /// Verdict for one function definition.
    pub fn definition_verdict(&self, index: &Index, r: FnRef, mask: Option<&str>) -> Verdict {
        match self.graph.fn_base.get(r.file) {
            Some(&base) => self.node_verdict(index, base + r.func as NodeId, mask),
            None => Verdict::no(),
        }
    }

    /// Unknown targets of call sites across the tree, most frequent first.
    pub fn unknown_callees(&self) -> Vec<(String, usize)> {
        let mut counts: rustc_hash::FxHashMap<u32, usize> = Default::default();
        for t in self.graph.call_targets.iter().flatten() {
            if let Target::Unknown(u) = t {
                *counts.entry(*u).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(u, n)| (self.graph.strings.get(u).to_string(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    pub fn stats(&self) -> SleepStats {
        let mut s = SleepStats {
            nodes: self.graph.nodes.len(),
            seconds: self.seconds,
            ..Default::default()
        };
        let mut sizes = vec![0usize; self.unknowns.len()];
        for &c in &self.scc_of {
            sizes[c as usize] += 1;
        }
        s.components = sizes.len();
        s.largest_component = sizes.iter().copied().max().unwrap_or(0);
        for (n, kind) in self.graph.nodes.iter().enumerate() {
            if !matches!(kind, NodeKind::Function(_)) {
                continue;
            }
            s.functions += 1;
            let sum = &self.summaries[n];
            if sum.sleeps.is_some() {
                s.functions_sleeping += 1;
            } else if !sum.conds.is_empty() {
                s.functions_conditional += 1;
            } else if !sum.guards.is_empty() {
                s.functions_guarded += 1;
            }
            let u = &self.unknowns[self.scc_of[n] as usize];
            if !u.ids.is_empty() || u.more {
                s.functions_with_unknowns += 1;
            }
        }
        s
    }
}

fn call_text(callee: &str, args: &[crate::facts::Text]) -> String {
    ctext::shorten(&format!("{callee}({})", args.join(", ")), 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<SleepAnalysis>();
        shared::<Verdict>();
    }

    #[test]
    fn short_chain_names_functions_and_the_last_callee() {
        let step = |function: &str, call: &str| ChainStep {
            function: function.into(),
            file: "f.c".into(),
            line: 1,
            call: call.into(),
            via: None,
        };
        let mut v = Verdict::no();
        v.chain = vec![step("a", "b(1)"), step("b", "kmalloc(n, prio)")];
        v.mask = Some("GFP_KERNEL".into());
        assert_eq!(v.short_chain(), "a -> b -> kmalloc(GFP_KERNEL)");
        assert_eq!(Verdict::no().short_chain(), "");
    }
}
