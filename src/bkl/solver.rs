//! The fixpoint over the callers the search found: with which lock depths each function can
//! be entered, and the shortest readable witness path per depth.

use rustc_hash::FxHashMap;

use super::callers::{Graph, MAX_ENTRY_DEPTH};
use super::lockstate::Deltas;
use super::prune::chain::Pruned2;
use super::prune::registered::Narrowed;
use super::prune::Pruned;
use super::Protection;
use crate::chain::ChainStep;
use crate::index::FnRef;

mod own;
pub use own::allocators;

/// How a function got an entry depth: as a root, or from a caller's call.
#[derive(Debug, Clone, Copy)]
enum Pred {
    Root,
    /// `from` calls at `call`, entered with `from_depth`; `None` when `from` takes the lock
    /// itself before the call and its own callers were not followed. `via`: the call cannot
    /// run under some of `from`'s callers ([`super::prune`]), and `from` got that depth from
    /// its in-edge `.0`, entered with `.1`.
    Edge {
        from: FnRef,
        call: u32,
        from_depth: Option<u8>,
        via: Option<(u32, Option<u8>)>,
    },
}

struct Node {
    func: FnRef,
    level: usize,
    /// Bit `d`: some path enters with depth `d` (the top bit: that or more).
    entry: u8,
    /// The depths it gets as a root.
    root: u8,
    pred: [Option<Pred>; (MAX_ENTRY_DEPTH + 1) as usize],
    /// Rank of the witness path per depth; lower is better.
    rank: [Rank; (MAX_ENTRY_DEPTH + 1) as usize],
    /// Some paths could not be followed: how many calls away, and why. The nearest reason
    /// is kept.
    unknown: Option<(u16, String)>,
    /// What protects the function as a root when not the lock taken in C (entry code).
    protection: Option<Protection>,
}

const DEPTHS: usize = (MAX_ENTRY_DEPTH + 1) as usize;

/// The in-edge (and its caller's depth) a depth came from when some in-edges are left out;
/// `inner`: the caller's own in-edge (and depth) when its in-edges were restricted too.
#[derive(Debug, Clone, Copy)]
struct ViaStep {
    edge: u32,
    from_depth: Option<u8>,
    inner: Option<(u32, Option<u8>)>,
}

/// Per entry depth, where a pruned call's depth came from.
type Via = [Option<ViaStep>; DEPTHS];

/// In-edges into a function whose caller's depths come from only some of its in-edges: a
/// value fixed two calls up ([`super::prune::chain`]).
type Nested = [NestedEdge];
type NestedEdge = ((FnRef, u32), Vec<(FnRef, u32)>);

/// How good a witness path is: shorter first, then one that starts at a system call, then
/// one whose last caller is generic code rather than architecture code (clearer examples).
type Rank = (u16, bool, bool);
const WORST: Rank = (u16::MAX, true, true);

struct InEdge {
    from: FnRef,
    call: u32,
    deltas: Deltas,
    /// The caller's node, when its entry depth matters.
    from_node: Option<usize>,
    /// The witness rank of a path that starts at the caller (when it takes the lock itself).
    start: Rank,
    /// The caller is architecture code.
    arch: bool,
    /// The calls into `from` under which this call cannot reach the function: it cannot run
    /// ([`super::prune`]) or its table index selects other routines.
    excluded: Option<Box<[(FnRef, u32)]>>,
}

/// Entry depths of the functions above a set of call sites.
pub struct Solver<'g, 'a> {
    g: &'g Graph<'a>,
    nodes: Vec<Node>,
    in_edges: Vec<Vec<InEdge>>,
    ids: FxHashMap<FnRef, usize>,
    /// Calls that cannot run under some of their function's callers.
    pruned: Pruned,
    /// Slot calls that reach only some routines under some of their function's callers.
    narrowed: Narrowed,
    /// Calls that cannot run under some pairs of calls into their function and its caller.
    pruned2: Pruned2,
    /// Functions the search did not follow further because of its bounds.
    pub cut: usize,
}

/// What is known at one call site.
#[derive(Debug, Clone, Default)]
pub struct SiteLocking {
    pub held: bool,
    pub not_held: bool,
    /// A path that holds the lock, from where it starts to the call.
    pub held_chain: Vec<ChainStep>,
    /// A path that does not.
    pub unheld_chain: Vec<ChainStep>,
    /// Why some paths could not be followed.
    pub unknown: Option<String>,
    /// What protects the held path.
    pub protection: Option<Protection>,
}

impl<'g, 'a> Solver<'g, 'a> {
    pub fn new(g: &'g Graph<'a>, pruned: Pruned, narrowed: Narrowed, pruned2: Pruned2) -> Self {
        Self {
            g,
            nodes: Vec::new(),
            in_edges: Vec::new(),
            ids: FxHashMap::default(),
            pruned,
            narrowed,
            pruned2,
            cut: 0,
        }
    }

    pub fn functions(&self) -> usize {
        self.nodes.len()
    }

    fn add(&mut self, f: FnRef, level: usize) -> (usize, bool) {
        if let Some(&id) = self.ids.get(&f) {
            return (id, false);
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            func: f,
            level,
            entry: 0,
            root: 0,
            pred: [None; (MAX_ENTRY_DEPTH + 1) as usize],
            rank: [WORST; (MAX_ENTRY_DEPTH + 1) as usize],
            unknown: None,
            protection: None,
        });
        self.in_edges.push(Vec::new());
        self.ids.insert(f, id);
        (id, true)
    }

    /// Finds the callers of `targets`, breadth first, as far as their entry depth matters.
    pub fn expand(&mut self, targets: impl IntoIterator<Item = FnRef>) {
        let mut queue = std::collections::VecDeque::new();
        for t in targets {
            let (id, new) = self.add(t, 0);
            if new {
                queue.push_back(id);
            }
        }
        let kb = self.g.kb;
        while let Some(id) = queue.pop_front() {
            let f = self.nodes[id].func;
            let level = self.nodes[id].level;
            let callers = self.g.callers(f);
            let root = self.g.root_depth(f, !callers.is_empty());
            if let Some((d, protection)) = root.clone() {
                self.nodes[id].protection = protection;
                let d = d.min(MAX_ENTRY_DEPTH as u8) as usize;
                self.nodes[id].entry |= 1 << d;
                self.nodes[id].root |= 1 << d;
                self.nodes[id].pred[d] = Some(Pred::Root);
                self.nodes[id].rank[d] = (0, !self.g.is_syscall(f), false);
            }
            if callers.is_empty() && root.is_none() {
                let name = &self.g.index.function(f).name;
                self.nodes[id].unknown = Some((
                    0,
                    format!("no caller of {name} found (reached through a pointer?)"),
                ));
            }
            for (from, call) in callers {
                let deltas = self.g.summary(from).at_call(call);
                if deltas.is_empty() {
                    let name = &self.g.index.function(from).name;
                    self.nodes[id].unknown.get_or_insert_with(|| {
                        (
                            0,
                            format!("the call in {name} is on no path of its control flow"),
                        )
                    });
                    continue;
                }
                let from_node = if deltas.all_positive() {
                    None
                } else {
                    let full = level + 1 > kb.max_depth || self.nodes.len() >= kb.max_functions;
                    let known = self.ids.contains_key(&from);
                    let (fid, new) = if full && !known {
                        let (fid, _) = self.add(from, level + 1);
                        self.cut += 1;
                        self.nodes[fid].unknown = Some((
                            0,
                            format!(
                                "search stopped at {} (bounds: {} callers up, {} functions)",
                                self.g.index.function(from).name,
                                kb.max_depth,
                                kb.max_functions
                            ),
                        ));
                        (fid, false)
                    } else {
                        self.add(from, level + 1)
                    };
                    if new {
                        queue.push_back(fid);
                    }
                    Some(fid)
                };
                let excluded = self.excluded(from, call, |reach| !reach.contains(&f));
                self.in_edges[id].push(InEdge {
                    from,
                    call,
                    deltas,
                    from_node,
                    start: (0, !self.g.is_syscall(from), false),
                    arch: self.g.index.in_arch_dir(from.file),
                    excluded,
                });
            }
        }
    }

    /// Propagates entry depths until nothing changes; keeps the shortest witness per depth.
    pub fn solve(&mut self) {
        let n = self.nodes.len();
        // Who must be looked at again when a node's entry depths change.
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (id, edges) in self.in_edges.iter().enumerate() {
            for e in edges {
                let Some(m) = e.from_node else { continue };
                let mut sources = vec![m];
                if e.excluded.is_some() {
                    sources.extend(self.in_edges[m].iter().filter_map(|x| x.from_node));
                }
                for m in sources {
                    if users[m].last() != Some(&id) {
                        users[m].push(id);
                    }
                }
            }
        }
        let mut queued = vec![true; n];
        let mut work: std::collections::VecDeque<usize> = (0..n).collect();
        while let Some(id) = work.pop_front() {
            queued[id] = false;
            if self.relax(id) {
                for &u in &users[id] {
                    if !queued[u] {
                        queued[u] = true;
                        work.push_back(u);
                    }
                }
            }
        }
    }

    /// Recomputes a node's entry depths from its callers; whether anything changed.
    fn relax(&mut self, id: usize) -> bool {
        let mut changed = false;
        for e in 0..self.in_edges[id].len() {
            let edge = &self.in_edges[id][e];
            let (from, call, deltas, from_node) =
                (edge.from, edge.call, edge.deltas, edge.from_node);
            let (src, src_rank, via) = match from_node {
                Some(m) => match self.in_edges[id][e].excluded.as_deref() {
                    Some(excluded) => self.entry_without(m, excluded, &[], false),
                    None => (self.nodes[m].entry, self.nodes[m].rank, [None; DEPTHS]),
                },
                // The caller takes the lock itself: the path starts there.
                None => (1, [edge.start; DEPTHS], [None; DEPTHS]),
            };
            let arch = edge.arch;
            let node = &mut self.nodes[id];
            for d in 0..=MAX_ENTRY_DEPTH {
                if src & (1 << d) == 0 {
                    continue;
                }
                let (len, not_syscall, _) = src_rank[d as usize];
                let rank = (len.saturating_add(1), not_syscall, arch);
                for delta in deltas.iter() {
                    let nd = (d + delta).clamp(0, MAX_ENTRY_DEPTH) as usize;
                    if node.entry & (1 << nd) == 0 || rank < node.rank[nd] {
                        node.entry |= 1 << nd;
                        node.rank[nd] = rank;
                        node.pred[nd] = Some(Pred::Edge {
                            from,
                            call,
                            from_depth: from_node.map(|_| d as u8),
                            via: via[d as usize].map(|v| (v.edge, v.from_depth)),
                        });
                        changed = true;
                    }
                }
            }
            let Some(m) = from_node else { continue };
            let Some(dist) = self.nodes[m]
                .unknown
                .as_ref()
                .map(|(d, _)| d.saturating_add(1))
            else {
                continue;
            };
            if self.nodes[id]
                .unknown
                .as_ref()
                .is_none_or(|(d, _)| dist < *d)
            {
                let why = self.nodes[m].unknown.as_ref().map(|(_, w)| w.clone());
                self.nodes[id].unknown = why.map(|w| (dist, w));
                changed = true;
            }
        }
        changed
    }

    /// The entry depths of node `m` from its roots and from its in-edges that are not in
    /// `excluded`, with the witness rank of each and the in-edge (and its caller's depth)
    /// that gave it; an in-edge in `nested` takes its caller's depths from that caller's
    /// other in-edges, and so does, when `deep`, an in-edge whose call cannot run under some
    /// of its caller's in-edges (as [`Self::relax`] computed `m`'s own depths).
    fn entry_without(
        &self,
        m: usize,
        excluded: &[(FnRef, u32)],
        nested: &Nested,
        deep: bool,
    ) -> (u8, [Rank; DEPTHS], Via) {
        let node = &self.nodes[m];
        let mut entry = node.root;
        let mut rank = [WORST; DEPTHS];
        let mut via = [None; DEPTHS];
        for (d, r) in rank.iter_mut().enumerate() {
            if node.root & (1 << d) != 0 {
                *r = node.rank[d];
            }
        }
        for (k, e) in self.in_edges[m].iter().enumerate() {
            if excluded.contains(&(e.from, e.call)) {
                continue;
            }
            let mut off: Vec<(FnRef, u32)> = Vec::new();
            if let Some((_, o)) = nested.iter().find(|(edge, _)| *edge == (e.from, e.call)) {
                off.extend(o);
            }
            if deep {
                off.extend(e.excluded.iter().flatten());
            }
            let (src, src_rank, inner_via) = match e.from_node {
                Some(s) if !off.is_empty() => self.entry_without(s, &off, &[], false),
                Some(s) => (self.nodes[s].entry, self.nodes[s].rank, [None; DEPTHS]),
                None => (1, [e.start; DEPTHS], [None; DEPTHS]),
            };
            for d in (0..DEPTHS).filter(|d| src & (1 << d) != 0) {
                let (len, not_syscall, _) = src_rank[d];
                let r = (len.saturating_add(1), not_syscall, e.arch);
                for delta in e.deltas.iter() {
                    let nd = (d as i8 + delta).clamp(0, MAX_ENTRY_DEPTH) as usize;
                    if entry & (1 << nd) == 0 || r < rank[nd] {
                        entry |= 1 << nd;
                        rank[nd] = r;
                        via[nd] = Some(ViaStep {
                            edge: k as u32,
                            from_depth: e.from_node.map(|_| d as u8),
                            inner: inner_via[d].map(|v| (v.edge, v.from_depth)),
                        });
                    }
                }
            }
        }
        (entry, rank, via)
    }

    /// The path that gave `f` the entry depth `d`, from its start down to `f`'s entry, and
    /// what protects it when it starts at a root the entry code protects.
    fn chain(&self, f: FnRef, d: u8) -> (Vec<ChainStep>, Option<Protection>) {
        self.chain_below(f, d, None)
    }

    /// [`Self::chain`], when the call below `f` on the path cannot run under the calls into
    /// `f` that `below` lists: every step goes through an in-edge its call below allows.
    fn chain_below(
        &self,
        f: FnRef,
        d: u8,
        below: Option<&[(FnRef, u32)]>,
    ) -> (Vec<ChainStep>, Option<Protection>) {
        let mut steps = Vec::new();
        let (mut cur, mut depth) = (f, d);
        let mut protection = None;
        let mut pending = below;
        for _ in 0..64 {
            let Some(&id) = self.ids.get(&cur) else { break };
            // The depth came from the in-edges the call below allows (a root otherwise).
            if let Some(off) = pending.take() {
                let (_, _, via) = self.entry_without(id, off, &[], false);
                if let Some(v) = via[depth as usize] {
                    let e = &self.in_edges[id][v.edge as usize];
                    steps.push(self.g.step(e.from, e.call));
                    pending = e.excluded.as_deref();
                    match v.from_depth {
                        Some(fd) => (cur, depth) = (e.from, fd),
                        None => break,
                    }
                    continue;
                }
            }
            match self.nodes[id].pred[depth as usize] {
                Some(Pred::Edge {
                    from,
                    call,
                    from_depth,
                    via,
                }) => {
                    steps.push(self.g.step(from, call));
                    let next = match (via, from_depth) {
                        // The caller's own best path may be one under which the call cannot
                        // run: go through the in-edge that gave the depth instead.
                        (Some((k, d)), Some(_)) => {
                            let e = &self.in_edges[self.ids[&from]][k as usize];
                            steps.push(self.g.step(e.from, e.call));
                            pending = e.excluded.as_deref();
                            d.map(|d| (e.from, d))
                        }
                        (None, Some(fd)) => Some((from, fd)),
                        (_, None) => None,
                    };
                    match next {
                        Some(n) => (cur, depth) = n,
                        None => break,
                    }
                }
                Some(Pred::Root) => {
                    protection = self.nodes[id].protection.clone();
                    break;
                }
                None => break,
            }
        }
        steps.reverse();
        (steps, protection)
    }

    /// The path a depth of node `id` came from when some of its in-edges were left out.
    fn via_chain(&self, id: usize, v: ViaStep) -> (Vec<ChainStep>, Option<Protection>) {
        let e = &self.in_edges[id][v.edge as usize];
        let (mut steps, p) = match (v.inner, v.from_depth) {
            // The caller's depth came from one of its own in-edges, others left out.
            (Some((k, d)), Some(_)) => {
                let inner = &self.in_edges[self.ids[&e.from]][k as usize];
                let (mut steps, p) = match d {
                    Some(d) => self.chain_below(inner.from, d, inner.excluded.as_deref()),
                    None => (Vec::new(), None),
                };
                steps.push(self.g.step(inner.from, inner.call));
                (steps, p)
            }
            (_, Some(fd)) => self.chain_below(e.from, fd, e.excluded.as_deref()),
            (_, None) => (Vec::new(), None),
        };
        steps.push(self.g.step(e.from, e.call));
        (steps, p)
    }

    /// Per call into `f`, the calls into that call's function under which `f`'s call `call`
    /// cannot run ([`super::prune::chain`]).
    fn nested(&self, f: FnRef, call: u32) -> Vec<NestedEdge> {
        let mut out: Vec<NestedEdge> = Vec::new();
        for &(edge, inner) in self.pruned2.get(&(f, call)).into_iter().flatten() {
            match out.iter_mut().find(|(e, _)| *e == edge) {
                Some((_, list)) => list.push(inner),
                None => out.push((edge, vec![inner])),
            }
        }
        out
    }

    /// The calls into `from` under which its call `call` cannot run, or reaches only
    /// routines `off` says to leave out.
    fn excluded(
        &self,
        from: FnRef,
        call: u32,
        off: impl Fn(&rustc_hash::FxHashSet<FnRef>) -> bool,
    ) -> Option<Box<[(FnRef, u32)]>> {
        let mut out: Vec<(FnRef, u32)> = (self.pruned.get(&(from, call)))
            .cloned()
            .unwrap_or_default();
        for (into, reach) in self.narrowed.get(&(from, call)).into_iter().flatten() {
            if off(reach) && !out.contains(into) {
                out.push(*into);
            }
        }
        (!out.is_empty()).then(|| out.into_boxed_slice())
    }

    /// Whether the lock is held at the call `call` of `f`, with witnesses; the paths under
    /// which the call reaches no routine `module` holds for are left out.
    pub fn site(&self, f: FnRef, call: u32, module: &dyn Fn(FnRef) -> bool) -> SiteLocking {
        let deltas = self.g.summary(f).at_call(call);
        let last = self.g.step(f, call);
        let mut out = SiteLocking::default();
        if deltas.is_empty() {
            out.unknown = Some("the call is on no path of the function's control flow".into());
            return out;
        }
        if deltas.iter().any(|d| d >= 1) {
            out.held = true;
            out.held_chain = vec![last.clone()];
            out.protection = Some(Protection::Lock);
        }
        if deltas.all_positive() {
            return out;
        }
        let Some(&id) = self.ids.get(&f) else {
            out.unknown = Some("the callers were not searched".into());
            return out;
        };
        let node = &self.nodes[id];
        let excluded = self.excluded(f, call, |reach| !reach.iter().any(|&t| module(t)));
        let nested = self.nested(f, call);
        let (entry, _, via) = match (excluded.as_deref(), nested.is_empty()) {
            (None, true) => (node.entry, node.rank, [None; DEPTHS]),
            (excluded, _) => self.entry_without(id, excluded.unwrap_or_default(), &nested, true),
        };
        for d in 0..=MAX_ENTRY_DEPTH {
            if entry & (1 << d) == 0 {
                continue;
            }
            for delta in deltas.iter().filter(|&x| x < 1) {
                let held = d + delta >= 1;
                let (flag, chain) = if held {
                    (&mut out.held, &mut out.held_chain)
                } else {
                    (&mut out.not_held, &mut out.unheld_chain)
                };
                if !*flag {
                    *flag = true;
                    let (steps, protection) = match via[d as usize] {
                        Some(v) => self.via_chain(id, v),
                        None => self.chain(f, d as u8),
                    };
                    *chain = steps;
                    chain.push(last.clone());
                    if held {
                        out.protection = Some(protection.unwrap_or(Protection::Lock));
                    }
                }
            }
        }
        out.unknown = node.unknown.as_ref().map(|(_, why)| why.clone());
        out
    }
}
