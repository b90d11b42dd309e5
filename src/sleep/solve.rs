//! Summaries to a fixpoint over the strongly connected components of the call graph.
//!
//! A node's summary says whether it may sleep unconditionally, for which of its parameters a
//! sleeping GFP mask makes it sleep, and which parameter being zero or nonzero it may sleep
//! under (a guard: `CallGuard` in the facts). Each entry keeps why: the call site it comes
//! from and the callee entry it continues with, and the length of that chain. Components are
//! solved callees first (Tarjan's order); inside one, nodes are re-evaluated from a worklist
//! until nothing changes. Re-evaluation only ever finds shorter chains or new entries, both
//! bounded, so recursion terminates, and the chains it records are acyclic (each step points to
//! a strictly shorter chain).

use std::cell::RefCell;

use super::consts::ConstTable;
use super::graph::{Graph, Interner, NodeId, NodeKind, Origin, Site, Target};
use super::mask::{Mask, MaskTable};
use super::UnknownPolicy;
use crate::ctext::{parse_int, strip_parens};
use crate::facts::CallGuard;
use crate::index::Index;
use crate::kb::Kb;

/// A guard as the solver keeps it: parameter `param`, masked with `bits` (all ones for a
/// plain test of the parameter), is nonzero (or zero). A bit test's constant is valued when
/// its site is evaluated; one without a value guards nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guard {
    pub param: u8,
    pub nonzero: bool,
    pub bits: u64,
}

impl Guard {
    /// What is tested, for explanations: `creat`, `flags & 0x1`.
    pub fn tested(&self, name: &str) -> String {
        if self.bits == u64::MAX {
            name.to_string()
        } else {
            format!("{name} & {:#x}", self.bits)
        }
    }

    /// Whether a caller's constant `v` satisfies the guard.
    fn holds_for(&self, v: i64) -> bool {
        ((v as u64) & self.bits != 0) == self.nonzero
    }
}

/// How many unknowns a summary keeps; beyond that it only says there were more.
pub const MAX_UNKNOWNS: usize = 32;

/// Which entry of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Sleeps,
    /// Sleeps if parameter k is a sleeping mask.
    Mask(u8),
    /// Sleeps only if the guard holds.
    Guard(Guard),
}

/// What a chain continues with after its first call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The site's target itself: a primitive, or an unknown under the `sleeps` policy.
    End,
    /// An entry of the callee's summary.
    Node(NodeId, Entry),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Why {
    pub depth: u32,
    /// Index into the owner's sites.
    pub site: u32,
    pub next: Next,
    /// The sleeping mask decided at this site (interned), if one was.
    pub mask: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub sleeps: Option<Why>,
    /// Sleeps if parameter k is given a sleeping mask; sorted by k.
    pub conds: Vec<(u8, Why)>,
    /// Sleeps only when a parameter is zero (nonzero); sorted.
    pub guards: Vec<(Guard, Why)>,
}

impl Summary {
    fn offer_sleeps(&mut self, w: Why) {
        if self.sleeps.is_none_or(|old| w.depth < old.depth) {
            self.sleeps = Some(w);
        }
    }

    fn offer_cond(&mut self, k: u8, w: Why) {
        match self.conds.binary_search_by_key(&k, |(p, _)| *p) {
            Ok(i) => {
                if w.depth < self.conds[i].1.depth {
                    self.conds[i].1 = w;
                }
            }
            Err(i) => self.conds.insert(i, (k, w)),
        }
    }

    fn offer_guard(&mut self, g: Guard, w: Why) {
        match self.guards.binary_search_by_key(&g, |(x, _)| *x) {
            Ok(i) => {
                if w.depth < self.guards[i].1.depth {
                    self.guards[i].1 = w;
                }
            }
            Err(i) => self.guards.insert(i, (g, w)),
        }
    }

    pub fn entry(&self, e: Entry) -> Option<Why> {
        match e {
            Entry::Sleeps => self.sleeps,
            Entry::Mask(k) => self
                .conds
                .binary_search_by_key(&k, |(p, _)| *p)
                .ok()
                .map(|i| self.conds[i].1),
            Entry::Guard(g) => self
                .guards
                .binary_search_by_key(&g, |(x, _)| *x)
                .ok()
                .map(|i| self.guards[i].1),
        }
    }

    fn merge(&mut self, other: Summary) {
        if let Some(w) = other.sleeps {
            self.offer_sleeps(w);
        }
        for (k, w) in other.conds {
            self.offer_cond(k, w);
        }
        for (g, w) in other.guards {
            self.offer_guard(g, w);
        }
    }
}

/// Unknowns reached from a component, as interned strings, sorted and capped.
#[derive(Debug, Clone, Default)]
pub struct Unknowns {
    pub ids: Vec<u32>,
    pub more: bool,
}

impl Unknowns {
    pub fn normalize(&mut self) {
        self.ids.sort_unstable();
        self.ids.dedup();
        if self.ids.len() > MAX_UNKNOWNS {
            self.ids.truncate(MAX_UNKNOWNS);
            self.more = true;
        }
    }
}

/// Everything needed to evaluate a site against the current summaries.
pub struct Solver<'s, 'a> {
    pub index: &'s Index<'a>,
    pub kb: &'s Kb,
    pub graph: &'s Graph,
    pub masks: &'s MaskTable,
    pub consts: &'s ConstTable,
    pub policy: UnknownPolicy,
    /// Names interned while solving (sleeping masks, undecidable mask texts).
    pub strings: RefCell<Interner>,
}

/// What one site contributes.
#[derive(Default)]
pub struct SiteEval {
    pub summary: Summary,
    pub unknowns: Vec<u32>,
}

/// The argument texts of a site; `None` for a member site (arguments pass through).
pub fn site_args<'x>(
    graph: &'x Graph,
    index: &'x Index,
    site: &Site,
) -> Option<&'x [crate::facts::Text]> {
    match site.origin {
        Origin::Call { file, call } => Some(&index.files[file as usize].calls[call as usize].args),
        Origin::Body { idx } => Some(&graph.macro_sites[idx as usize].args),
        Origin::Name { .. } => Some(&[]),
        Origin::Member => None,
    }
}

/// Parameter names of a node, and the file its text is in.
pub fn owner_params<'x>(
    graph: &'x Graph,
    index: &'x Index,
    node: NodeId,
) -> (Vec<&'x str>, Option<usize>) {
    match &graph.nodes[node as usize] {
        NodeKind::Function(r) => (
            index
                .function(*r)
                .params
                .iter()
                .map(|p| p.name.as_deref().unwrap_or(""))
                .collect(),
            Some(r.file),
        ),
        NodeKind::Macro { file, params, .. } => (
            params.iter().map(|s| s.as_str()).collect(),
            Some(*file as usize),
        ),
        _ => (Vec::new(), None),
    }
}

impl Solver<'_, '_> {
    fn intern(&self, s: &str) -> u32 {
        self.strings.borrow_mut().intern(s)
    }

    /// Judges the mask at argument `arg` of a site written in a context with `params`.
    /// A member site passes parameter `arg` on unchanged.
    fn arg_mask(
        &self,
        args: Option<&[crate::facts::Text]>,
        arg: usize,
        params: &[&str],
        file: Option<usize>,
    ) -> (Mask, Option<u32>) {
        let Some(args) = args else {
            let ks = u8::try_from(arg).map_or(Vec::new(), |k| vec![k]);
            return (Mask::Params(ks), None);
        };
        let Some(text) = args.get(arg) else {
            return (Mask::Unknown, Some(self.intern("mask argument missing")));
        };
        let m = self.masks.eval(&self.index.macros, text, params, file);
        let unknown = matches!(m, Mask::Unknown)
            .then(|| self.intern(&format!("mask `{}`", super::ctext::shorten(text, 40))));
        (m, unknown)
    }

    /// What site `site_idx` of a node written with `params` contributes, given the summaries.
    pub fn eval_site(
        &self,
        summaries: &[Summary],
        site_idx: u32,
        site: &Site,
        (params, stable): (&[&str], u64),
        file: Option<usize>,
    ) -> SiteEval {
        let mut out = SiteEval::default();
        let args = site_args(self.graph, self.index, site);
        match site.target {
            Target::Never => {}
            Target::Unknown(u) => {
                out.unknowns.push(u);
                if self.policy == UnknownPolicy::Sleeps {
                    out.summary.offer_sleeps(Why {
                        depth: 1,
                        site: site_idx,
                        next: Next::End,
                        mask: None,
                    });
                }
            }
            Target::Prim(p) => match self.kb.data.sleep.primitives[p as usize].mask_arg {
                None => out.summary.offer_sleeps(Why {
                    depth: 1,
                    site: site_idx,
                    next: Next::End,
                    mask: None,
                }),
                Some(m) => {
                    let mask = self.arg_mask(args, m, params, file);
                    self.apply_mask(&mut out, mask, site_idx, 1, Next::End);
                }
            },
            Target::Node(t) => {
                let callee = &summaries[t as usize];
                if let Some(w) = callee.sleeps {
                    out.summary.offer_sleeps(Why {
                        depth: w.depth + 1,
                        site: site_idx,
                        next: Next::Node(t, Entry::Sleeps),
                        mask: None,
                    });
                }
                for &(j, w) in &callee.conds {
                    let mask = self.arg_mask(args, j as usize, params, file);
                    let next = Next::Node(t, Entry::Mask(j));
                    self.apply_mask(&mut out, mask, site_idx, w.depth + 1, next);
                }
                for &(g, w) in &callee.guards {
                    let why = Why {
                        depth: w.depth + 1,
                        site: site_idx,
                        next: Next::Node(t, Entry::Guard(g)),
                        mask: None,
                    };
                    let mut value = |t: &str| self.consts.value(self.index.files, t, file);
                    match guard_arg(args, g, params, stable, &mut value) {
                        GuardArg::Holds => out.summary.offer_sleeps(why),
                        GuardArg::Fails => {}
                        GuardArg::Param(k) => out.summary.offer_guard(Guard { param: k, ..g }, why),
                    }
                }
            }
        }
        // A guarded call: what sleeps unconditionally through it sleeps only under the guard.
        let guard = site.guard.and_then(|g| self.site_guard(g, file));
        if let (Some(g), Some(w)) = (guard, out.summary.sleeps) {
            out.summary.sleeps = None;
            out.summary.offer_guard(g, w);
        }
        out
    }

    /// A site's guard with its bits valued in `file`; `None` when they have no value.
    fn site_guard(&self, g: CallGuard, file: Option<usize>) -> Option<Guard> {
        let bits = match g.bits {
            0 => u64::MAX,
            b => {
                let text = self
                    .index
                    .files
                    .get(file?)?
                    .guard_bits
                    .get(b as usize - 1)?;
                let v = self.consts.value(self.index.files, text, file)?;
                Some(v as u64).filter(|v| *v != 0)?
            }
        };
        Some(Guard {
            param: g.param,
            nonzero: g.nonzero,
            bits,
        })
    }

    fn apply_mask(
        &self,
        out: &mut SiteEval,
        (mask, unknown): (Mask, Option<u32>),
        site: u32,
        depth: u32,
        next: Next,
    ) {
        let why = |mask: Option<u32>| Why {
            depth,
            site,
            next,
            mask,
        };
        match mask {
            Mask::Sleeps(name) => out.summary.offer_sleeps(why(Some(self.intern(&name)))),
            Mask::No => {}
            Mask::Params(ks) => {
                for k in ks {
                    out.summary.offer_cond(k, why(None));
                }
            }
            Mask::Unknown => {
                out.unknowns.extend(unknown);
                if self.policy == UnknownPolicy::Sleeps {
                    out.summary.offer_sleeps(why(None));
                }
            }
        }
    }

    /// A node's summary from its sites, and the unknowns its own sites name.
    fn eval_node(&self, summaries: &[Summary], node: NodeId, unknowns: &mut Vec<u32>) -> Summary {
        let (params, file) = owner_params(self.graph, self.index, node);
        let stable = self.graph.stable_params(node);
        let mut summary = Summary::default();
        for (i, site) in self.graph.sites[node as usize].iter().enumerate() {
            let e = self.eval_site(summaries, i as u32, site, (&params, stable), file);
            summary.merge(e.summary);
            unknowns.extend(e.unknowns);
        }
        summary
    }

    /// Solves the whole graph: summaries per node, the component of each node, and the
    /// unknowns reached from each component.
    pub fn solve(&self) -> (Vec<Summary>, Vec<u32>, Vec<Unknowns>) {
        let n = self.graph.nodes.len();
        let (scc_of, sccs) = tarjan(self.graph);
        let mut summaries = vec![Summary::default(); n];
        let mut scc_unknowns: Vec<Unknowns> = vec![Unknowns::default(); sccs.len()];
        // Callers inside the same component, for the worklist. Callers are visited in order,
        // so a caller already listed for `t` is the last one listed.
        let mut preds: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (v, sites) in self.graph.sites.iter().enumerate() {
            for s in sites {
                if let Target::Node(t) = s.target {
                    let t = t as usize;
                    if t != v && scc_of[t] == scc_of[v] && preds[t].last() != Some(&(v as NodeId)) {
                        preds[t].push(v as NodeId);
                    }
                }
            }
        }
        let mut queued = vec![false; n];
        let mut scratch = Vec::new();
        for (ci, comp) in sccs.iter().enumerate() {
            let mut work: Vec<NodeId> = comp.clone();
            for &v in comp {
                queued[v as usize] = true;
            }
            while let Some(v) = work.pop() {
                queued[v as usize] = false;
                scratch.clear();
                let s = self.eval_node(&summaries, v, &mut scratch);
                if s != summaries[v as usize] {
                    summaries[v as usize] = s;
                    // A node calling itself sees its own new summary on the next round.
                    let selfloop = self.graph.sites[v as usize]
                        .iter()
                        .any(|x| x.target == Target::Node(v));
                    if selfloop && !queued[v as usize] {
                        queued[v as usize] = true;
                        work.push(v);
                    }
                    for &p in &preds[v as usize] {
                        if !queued[p as usize] {
                            queued[p as usize] = true;
                            work.push(p);
                        }
                    }
                }
            }
            // Unknowns: the component's own, and those of every component it calls.
            let mut u = Unknowns::default();
            for &v in comp {
                self.eval_node(&summaries, v, &mut u.ids);
                for s in &self.graph.sites[v as usize] {
                    if let Target::Node(t) = s.target {
                        let tc = scc_of[t as usize] as usize;
                        if tc != ci {
                            u.ids.extend_from_slice(&scc_unknowns[tc].ids);
                            u.more |= scc_unknowns[tc].more;
                        }
                    }
                }
                if u.ids.len() > 4 * MAX_UNKNOWNS {
                    u.normalize();
                }
            }
            u.normalize();
            scc_unknowns[ci] = u;
        }
        (summaries, scc_of, scc_unknowns)
    }
}

/// What a guard on a callee's parameter means at a call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardArg {
    /// The argument may satisfy it: the call may sleep.
    Holds,
    /// The argument is a constant that contradicts it.
    Fails,
    /// The argument is the caller's own (unassigned) parameter k: the caller is guarded.
    Param(u8),
}

/// Judges the argument at a guarded parameter. `stable` has bit k set when the caller's
/// parameter k is never assigned; `args` is `None` for a member site (passes through);
/// `value` values a constant as the caller's file sees it (a bit test's argument).
pub fn guard_arg(
    args: Option<&[crate::facts::Text]>,
    g: Guard,
    params: &[&str],
    stable: u64,
    value: &mut dyn FnMut(&str) -> Option<i64>,
) -> GuardArg {
    let Some(args) = args else {
        return GuardArg::Param(g.param);
    };
    let Some(text) = args.get(g.param as usize) else {
        return GuardArg::Holds;
    };
    let t = strip_parens(text);
    let constant = if t == "NULL" {
        Some(0)
    } else if g.bits == u64::MAX {
        parse_int(t)
    } else {
        parse_int(t).or_else(|| value(t))
    };
    if let Some(v) = constant {
        return if g.holds_for(v) {
            GuardArg::Holds
        } else {
            GuardArg::Fails
        };
    }
    match params.iter().position(|p| !p.is_empty() && *p == t) {
        Some(k) if k < 64 && stable & (1 << k) != 0 => GuardArg::Param(k as u8),
        _ => GuardArg::Holds,
    }
}

/// Strongly connected components, callees before callers. Iterative: call chains in a kernel
/// are deep enough to overflow a recursive walk.
pub fn tarjan(graph: &Graph) -> (Vec<u32>, Vec<Vec<NodeId>>) {
    const UNSEEN: u32 = u32::MAX;
    let n = graph.nodes.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<NodeId> = Vec::new();
    let mut scc_of = vec![UNSEEN; n];
    let mut sccs: Vec<Vec<NodeId>> = Vec::new();
    let mut counter = 0u32;
    let succ = |v: NodeId, i: usize| -> Option<Option<NodeId>> {
        graph.sites[v as usize].get(i).map(|s| match s.target {
            Target::Node(t) => Some(t),
            _ => None,
        })
    };
    for root in 0..n as NodeId {
        if order[root as usize] != UNSEEN {
            continue;
        }
        let mut call: Vec<(NodeId, usize)> = vec![(root, 0)];
        order[root as usize] = counter;
        low[root as usize] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            match succ(v, *i) {
                Some(next) => {
                    *i += 1;
                    let Some(w) = next else { continue };
                    if order[w as usize] == UNSEEN {
                        order[w as usize] = counter;
                        low[w as usize] = counter;
                        counter += 1;
                        stack.push(w);
                        on_stack[w as usize] = true;
                        call.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(order[w as usize]);
                    }
                }
                None => {
                    call.pop();
                    if let Some(&(parent, _)) = call.last() {
                        low[parent as usize] = low[parent as usize].min(low[v as usize]);
                    }
                    if low[v as usize] == order[v as usize] {
                        let id = sccs.len() as u32;
                        let mut comp = Vec::new();
                        while let Some(w) = stack.pop() {
                            on_stack[w as usize] = false;
                            scc_of[w as usize] = id;
                            comp.push(w);
                            if w == v {
                                break;
                            }
                        }
                        sccs.push(comp);
                    }
                }
            }
        }
    }
    (scc_of, sccs)
}

#[cfg(test)]
mod tests;
