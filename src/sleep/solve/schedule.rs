//! The order of the solve: components callees first, and those whose callees are all solved
//! at once on the thread pool.
//!
//! A component's level is one more than the highest level of the components it calls, so the
//! components of one level depend only on lower levels: they are solved in parallel, each with
//! its own worklist over its own nodes, reading the finished summaries of the levels below.
//! Every component is evaluated in the same order as a sequential solve would, so summaries are
//! the same whatever the thread count.

use std::sync::{PoisonError, RwLock};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Solver, Summaries, Summary, Unknowns};
use crate::sleep::graph::{Graph, Interner, NodeId, Target};

/// The interner while solving, shared by the threads. Strings the graph interned keep their
/// ids, in the graph's deterministic order; strings first met while solving get ids in
/// whichever order the threads reach them, so whatever is ordered by id orders those by text.
pub struct SolveStrings {
    interner: RwLock<Interner>,
    /// The first id interned while solving.
    base: u32,
}

impl SolveStrings {
    pub fn new(interner: Interner) -> Self {
        let base = interner.strings.len() as u32;
        SolveStrings {
            interner: RwLock::new(interner),
            base,
        }
    }

    pub fn intern(&self, s: &str) -> u32 {
        let read = self.interner.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = read.find(s) {
            return id;
        }
        drop(read);
        let mut write = self
            .interner
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        write.intern(s)
    }

    /// Sorts ids: the graph's by id, then those interned while solving by their text.
    pub fn sort(&self, ids: &mut [u32]) {
        ids.sort_unstable();
        let first = ids.partition_point(|&id| id < self.base);
        let tail = &mut ids[first..];
        if tail.len() > 1 {
            let strings = self.interner.read().unwrap_or_else(PoisonError::into_inner);
            tail.sort_unstable_by(|&a, &b| strings.get(a).cmp(strings.get(b)));
        }
    }

    pub fn into_inner(self) -> Interner {
        self.interner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The summaries of one component while it is solved: its own nodes' in progress, every
/// other node's from the levels already solved.
struct ComponentView<'s> {
    done: &'s [Summary],
    comp: &'s [NodeId],
    /// Position of a node in `comp`, for components of more than one node.
    pos: FxHashMap<NodeId, u32>,
    local: Vec<Summary>,
}

impl ComponentView<'_> {
    fn local_pos(&self, node: NodeId) -> Option<usize> {
        match self.comp {
            [only] => (*only == node).then_some(0),
            _ => self.pos.get(&node).map(|&p| p as usize),
        }
    }
}

impl Summaries for ComponentView<'_> {
    fn summary(&self, node: NodeId) -> &Summary {
        match self.local_pos(node) {
            Some(p) => &self.local[p],
            None => &self.done[node as usize],
        }
    }
}

/// Levels with fewer components than this are solved on the calling thread.
const PARALLEL_LEVEL: usize = 512;

/// What the components share while they are solved.
struct Shared<'s> {
    sccs: &'s [Vec<NodeId>],
    scc_of: &'s [u32],
    /// Callers inside the same component, for the worklists.
    preds: &'s [Vec<NodeId>],
}

impl Solver<'_, '_> {
    /// Solves the whole graph: summaries per node, the component of each node, and the
    /// unknowns reached from each component.
    pub fn solve(&self) -> (Vec<Summary>, Vec<u32>, Vec<Unknowns>) {
        let n = self.graph.nodes.len();
        let (scc_of, sccs) = tarjan(self.graph);
        let preds = same_component_callers(self.graph, &scc_of);
        let shared = Shared {
            sccs: &sccs,
            scc_of: &scc_of,
            preds: &preds,
        };
        let mut summaries = vec![Summary::default(); n];
        let mut scc_unknowns: Vec<Unknowns> = vec![Unknowns::default(); sccs.len()];
        for level in levels(self.graph, &scc_of, &sccs) {
            let solve = |&ci: &u32| self.solve_component(ci, &shared, &summaries, &scc_unknowns);
            // Handing a small level to the pool costs more than solving it here.
            let solved: Vec<(Vec<Summary>, Unknowns)> = if level.len() < PARALLEL_LEVEL {
                level.iter().map(solve).collect()
            } else {
                level.par_iter().with_min_len(64).map(solve).collect()
            };
            for (&ci, (local, u)) in level.iter().zip(solved) {
                for (&v, s) in sccs[ci as usize].iter().zip(local) {
                    summaries[v as usize] = s;
                }
                scc_unknowns[ci as usize] = u;
            }
        }
        (summaries, scc_of, scc_unknowns)
    }

    /// One component to its fixpoint, then the unknowns reached from it.
    fn solve_component(
        &self,
        ci: u32,
        shared: &Shared,
        done: &[Summary],
        scc_unknowns: &[Unknowns],
    ) -> (Vec<Summary>, Unknowns) {
        let comp = &shared.sccs[ci as usize][..];
        let pos = match comp.len() {
            1 => FxHashMap::default(),
            _ => comp
                .iter()
                .enumerate()
                .map(|(i, &v)| (v, i as u32))
                .collect(),
        };
        let mut view = ComponentView {
            done,
            comp,
            pos,
            local: vec![Summary::default(); comp.len()],
        };
        let mut work: Vec<NodeId> = comp.to_vec();
        let mut queued = vec![true; comp.len()];
        let mut scratch = Vec::new();
        while let Some(v) = work.pop() {
            let p = view.local_pos(v).unwrap_or_default();
            queued[p] = false;
            scratch.clear();
            let s = self.eval_node(&view, v, &mut scratch);
            if s == view.local[p] {
                continue;
            }
            view.local[p] = s;
            // A node calling itself sees its own new summary on the next round.
            let selfloop = self.graph.sites[v as usize]
                .iter()
                .any(|x| x.target == Target::Node(v));
            let again = selfloop.then_some(v);
            for w in again
                .into_iter()
                .chain(shared.preds[v as usize].iter().copied())
            {
                let q = view.local_pos(w).unwrap_or_default();
                if !queued[q] {
                    queued[q] = true;
                    work.push(w);
                }
            }
        }
        // Unknowns: the component's own, and those of every component it calls.
        let mut u = Unknowns::default();
        for &v in comp {
            self.eval_node(&view, v, &mut u.ids);
            for s in &self.graph.sites[v as usize] {
                if let Target::Node(t) = s.target {
                    let tc = shared.scc_of[t as usize];
                    if tc != ci {
                        u.ids.extend_from_slice(&scc_unknowns[tc as usize].ids);
                        u.more |= scc_unknowns[tc as usize].more;
                    }
                }
            }
            if u.ids.len() > 4 * super::MAX_UNKNOWNS {
                u.normalize(&self.strings);
            }
        }
        u.normalize(&self.strings);
        (view.local, u)
    }
}

/// Callers inside the same component, per node. Callers are visited in order, so a caller
/// already listed for `t` is the last one listed.
fn same_component_callers(graph: &Graph, scc_of: &[u32]) -> Vec<Vec<NodeId>> {
    let mut preds: Vec<Vec<NodeId>> = vec![Vec::new(); graph.nodes.len()];
    for (v, sites) in graph.sites.iter().enumerate() {
        for s in sites {
            if let Target::Node(t) = s.target {
                let t = t as usize;
                if t != v && scc_of[t] == scc_of[v] && preds[t].last() != Some(&(v as NodeId)) {
                    preds[t].push(v as NodeId);
                }
            }
        }
    }
    preds
}

/// The components of each level, in Tarjan's order within a level.
fn levels(graph: &Graph, scc_of: &[u32], sccs: &[Vec<NodeId>]) -> Vec<Vec<u32>> {
    let mut level = vec![0u32; sccs.len()];
    let mut out: Vec<Vec<u32>> = Vec::new();
    for (ci, comp) in sccs.iter().enumerate() {
        let mut l = 0;
        for &v in comp {
            for s in &graph.sites[v as usize] {
                if let Target::Node(t) = s.target {
                    let tc = scc_of[t as usize] as usize;
                    if tc != ci {
                        l = l.max(level[tc] + 1);
                    }
                }
            }
        }
        level[ci] = l;
        if out.len() <= l as usize {
            out.resize_with(l as usize + 1, Vec::new);
        }
        out[l as usize].push(ci as u32);
    }
    out
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
