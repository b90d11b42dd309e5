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

use super::graph::{Graph, Interner, NodeId, NodeKind, Origin, Site, Target};
use super::mask::{Mask, MaskTable};
use super::UnknownPolicy;
use crate::ctext::{parse_int, strip_parens};
use crate::facts::CallGuard as Guard;
use crate::index::Index;
use crate::kb::Kb;

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
pub fn site_args<'x>(graph: &'x Graph, index: &'x Index, site: &Site) -> Option<&'x [String]> {
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
        args: Option<&[String]>,
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
        let m = self.masks.eval(self.index.files, text, params, file);
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
                    match guard_arg(args, g, params, stable) {
                        GuardArg::Holds => out.summary.offer_sleeps(why),
                        GuardArg::Fails => {}
                        GuardArg::Param(k) => out.summary.offer_guard(
                            Guard {
                                param: k,
                                nonzero: g.nonzero,
                            },
                            why,
                        ),
                    }
                }
            }
        }
        // A guarded call: what sleeps unconditionally through it sleeps only under the guard.
        if let (Some(g), Some(w)) = (site.guard, out.summary.sleeps) {
            out.summary.sleeps = None;
            out.summary.offer_guard(g, w);
        }
        out
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
        // Callers inside the same component, for the worklist.
        let mut preds: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (v, sites) in self.graph.sites.iter().enumerate() {
            for s in sites {
                if let Target::Node(t) = s.target {
                    let t = t as usize;
                    if t != v && scc_of[t] == scc_of[v] && !preds[t].contains(&(v as NodeId)) {
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
/// parameter k is never assigned; `args` is `None` for a member site (passes through).
pub fn guard_arg(args: Option<&[String]>, g: Guard, params: &[&str], stable: u64) -> GuardArg {
    let Some(args) = args else {
        return GuardArg::Param(g.param);
    };
    let Some(text) = args.get(g.param as usize) else {
        return GuardArg::Holds;
    };
    let t = strip_parens(text);
    let value = if t == "NULL" { Some(0) } else { parse_int(t) };
    if let Some(v) = value {
        return if (v != 0) == g.nonzero {
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
mod tests {
    use super::*;
    use crate::facts::{self, BodyPolicy};
    use crate::index::FnRef;
    use crate::scan::Scan;
    use crate::sleep::graph::Builder;

    const MM_H: (&str, &str) = (
        "include/linux/mm.h",
        "#define __GFP_WAIT 0x01\n#define GFP_ATOMIC 0x20\n#define GFP_KERNEL (__GFP_WAIT | 0x10)\n",
    );

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

    /// The solved summaries of a tree, by function name.
    struct Solved<'s> {
        index: Index<'s>,
        graph: Graph,
        summaries: Vec<Summary>,
        scc_of: Vec<u32>,
    }

    impl Solved<'_> {
        fn node(&self, name: &str) -> NodeId {
            for (file, f) in self.index.files.iter().enumerate() {
                if let Some(func) = f.functions.iter().position(|x| x.name == name) {
                    return self.graph.fn_node(FnRef { file, func });
                }
            }
            panic!("no function {name}")
        }

        fn summary(&self, name: &str) -> &Summary {
            &self.summaries[self.node(name) as usize]
        }

        /// The depth of the unconditional "sleeps" entry.
        fn sleeps(&self, name: &str) -> Option<u32> {
            self.summary(name).sleeps.map(|w| w.depth)
        }
    }

    fn solve(scan: &Scan, policy: UnknownPolicy) -> Solved<'_> {
        let kb = Kb::builtin();
        let index = Index::build(scan, &kb);
        let (mut graph, _) = Builder::new(&index, &kb).build();
        let masks = MaskTable::new(index.files, &kb.data.sleep.gfp_wait_bit);
        let strings = std::mem::take(&mut graph.strings);
        let solver = Solver {
            index: &index,
            kb: &kb,
            graph: &graph,
            masks: &masks,
            policy,
            strings: RefCell::new(strings),
        };
        let (summaries, scc_of, _) = solver.solve();
        drop(solver);
        Solved {
            index,
            graph,
            summaries,
            scc_of,
        }
    }

    #[test]
    fn recursion_is_solved_to_a_fixpoint() {
        let s = scan(&[(
            "kernel/r.c",
            "int flag;\n\
             int pong(int n);\n\
             int ping(int n) { if (flag) return pong(n - 1); return 0; }\n\
             int pong(int n) { if (flag) return ping(n - 1); schedule(); return 0; }\n\
             int walk(int n) { if (flag) walk(n - 1); return ping(n); }\n\
             int even(int n) { return n ? odd(n - 1) : 1; }\n\
             int odd(int n) { return n ? even(n - 1) : 0; }\n\
             int top(void) { return walk(3); }\n\
             int deep(int n) { if (n) { schedule(); return deep(n - 1); } return 0; }\n\
             int shallow(void) { return deep(0); }\n",
        )]);
        let r = solve(&s, UnknownPolicy::NoSleep);
        // ping and pong are one component; pong sleeps directly, ping through pong.
        assert_eq!(
            r.scc_of[r.node("ping") as usize],
            r.scc_of[r.node("pong") as usize]
        );
        assert_ne!(
            r.scc_of[r.node("ping") as usize],
            r.scc_of[r.node("walk") as usize]
        );
        assert_eq!(r.sleeps("pong"), Some(1));
        assert_eq!(r.sleeps("ping"), Some(2));
        // The shortest chain wins: walk -> ping -> pong -> schedule, not through walk again.
        assert_eq!(r.sleeps("walk"), Some(3));
        assert_eq!(r.sleeps("top"), Some(4));
        let why = r.summary("ping").sleeps.unwrap();
        assert_eq!(why.next, Next::Node(r.node("pong"), Entry::Sleeps));
        // A test of a parameter is a guard, even around recursion: `deep` sleeps only when
        // its argument is nonzero, and `shallow` passes zero.
        let g = Guard {
            param: 0,
            nonzero: true,
        };
        assert_eq!(r.sleeps("deep"), None);
        assert_eq!(
            r.summary("deep")
                .guards
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            vec![g]
        );
        assert_eq!(r.sleeps("shallow"), None);
        assert!(r.summary("shallow").guards.is_empty());
        // Recursion without a sleep stays silent.
        assert_eq!(r.sleeps("even"), None);
        assert_eq!(r.sleeps("odd"), None);
    }

    #[test]
    fn a_mask_parameter_makes_the_summary_conditional() {
        let s = scan(&[
            MM_H,
            (
                "net/core/sock.c",
                "#include <linux/mm.h>\n\
                 void *sk_alloc(int family, int priority) { return kmalloc(64, priority); }\n\
                 void *wrap(int how) { return sk_alloc(1, how); }\n\
                 void *k(void) { return wrap(GFP_KERNEL); }\n\
                 void *a(void) { return wrap(GFP_ATOMIC); }\n\
                 void *v(struct sock *sk) { return sk_alloc(1, sk->allocation); }\n",
            ),
        ]);
        let r = solve(&s, UnknownPolicy::NoSleep);
        let sk = r.summary("sk_alloc");
        assert_eq!(sk.sleeps, None);
        assert_eq!(sk.conds.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(sk.entry(Entry::Mask(1)).unwrap().depth, 1);
        // Through a wrapper the condition moves to the wrapper's own parameter.
        let wrap = r.summary("wrap");
        assert_eq!(wrap.conds.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(wrap.entry(Entry::Mask(0)).unwrap().depth, 2);
        // Callers decide with their arguments.
        assert_eq!(r.sleeps("k"), Some(3));
        let mask = r.summary("k").sleeps.unwrap().mask;
        assert!(mask.is_some(), "the sleeping mask is named");
        assert_eq!(r.sleeps("a"), None);
        assert!(r.summary("a").conds.is_empty());
        // A mask read from a field is unknown: under the default policy it does not sleep.
        assert_eq!(r.sleeps("v"), None);
        assert!(r.summary("v").conds.is_empty());
        let r = solve(&s, UnknownPolicy::Sleeps);
        assert_eq!(r.sleeps("v"), Some(2));
    }

    #[test]
    fn guards_follow_the_callers_arguments() {
        let s = scan(&[
            MM_H,
            (
                "net/core/neigh.c",
                "#include <linux/mm.h>\n\
                 void *lookup(int key, int creat) { if (!creat) return 0; return kmalloc(8, GFP_KERNEL); }\n\
                 void *find(int key) { return lookup(key, 0); }\n\
                 void *make(int key) { return lookup(key, 1); }\n\
                 void *pass(int key, int c) { return lookup(key, c); }\n",
            ),
        ]);
        let r = solve(&s, UnknownPolicy::NoSleep);
        let g = Guard {
            param: 1,
            nonzero: true,
        };
        let lookup = r.summary("lookup");
        assert_eq!(lookup.sleeps, None);
        assert_eq!(
            lookup.guards.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![g]
        );
        assert_eq!(r.sleeps("find"), None);
        assert_eq!(r.sleeps("make"), Some(2));
        let pass = r.summary("pass");
        assert_eq!(pass.sleeps, None);
        assert_eq!(
            pass.guards.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![Guard {
                param: 1,
                nonzero: true
            }]
        );
    }

    #[test]
    fn guard_arguments() {
        let g = Guard {
            param: 0,
            nonzero: true,
        };
        let args = |a: &str| vec![a.to_string()];
        assert_eq!(guard_arg(Some(&args("1")), g, &[], 0), GuardArg::Holds);
        assert_eq!(guard_arg(Some(&args("0")), g, &[], 0), GuardArg::Fails);
        assert_eq!(guard_arg(Some(&args("(NULL)")), g, &[], 0), GuardArg::Fails);
        let zero = Guard {
            param: 0,
            nonzero: false,
        };
        assert_eq!(
            guard_arg(Some(&args("NULL")), zero, &[], 0),
            GuardArg::Holds
        );
        // The caller's own parameter passes the guard on, if the caller never assigns it.
        assert_eq!(
            guard_arg(Some(&args("c")), g, &["k", "c"], 0b10),
            GuardArg::Param(1)
        );
        assert_eq!(
            guard_arg(Some(&args("c")), g, &["k", "c"], 0b01),
            GuardArg::Holds
        );
        assert_eq!(
            guard_arg(Some(&args("x + 1")), g, &["x"], 1),
            GuardArg::Holds
        );
        // A missing argument may be anything; a member site passes the parameter through.
        assert_eq!(guard_arg(Some(&[]), g, &[], 0), GuardArg::Holds);
        assert_eq!(guard_arg(None, g, &[], 0), GuardArg::Param(0));
    }

    #[test]
    fn tarjan_orders_callees_first() {
        let s = scan(&[(
            "kernel/t.c",
            "int c(void) { return 0; }\n\
             int b(void);\n\
             int a(void) { return b(); }\n\
             int b(void) { c(); return a(); }\n\
             int top(void) { return a(); }\n",
        )]);
        let r = solve(&s, UnknownPolicy::NoSleep);
        let (scc_of, sccs) = tarjan(&r.graph);
        assert_eq!(scc_of, r.scc_of);
        let comp = |n: &str| scc_of[r.node(n) as usize];
        assert_eq!(comp("a"), comp("b"));
        let ab = &sccs[comp("a") as usize];
        assert_eq!(ab.len(), 2);
        // Components come callees first.
        assert!(comp("c") < comp("a"));
        assert!(comp("a") < comp("top"));
    }

    #[test]
    fn summaries_keep_the_shortest_why() {
        let w = |depth| Why {
            depth,
            site: depth,
            next: Next::End,
            mask: None,
        };
        let mut s = Summary::default();
        s.offer_sleeps(w(3));
        s.offer_sleeps(w(2));
        s.offer_sleeps(w(5));
        assert_eq!(s.sleeps, Some(w(2)));
        s.offer_cond(2, w(4));
        s.offer_cond(0, w(6));
        s.offer_cond(2, w(1));
        assert_eq!(s.conds, vec![(0, w(6)), (2, w(1))]);
        assert_eq!(s.entry(Entry::Mask(2)), Some(w(1)));
        assert_eq!(s.entry(Entry::Mask(1)), None);
        let mut u = Unknowns {
            ids: (0..40).rev().chain(0..5).collect(),
            more: false,
        };
        u.normalize();
        assert_eq!(u.ids, (0..MAX_UNKNOWNS as u32).collect::<Vec<_>>());
        assert!(u.more);
    }
}
