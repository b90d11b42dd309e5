//! From a call site up to the system calls: with which lock depths can a function be entered?
//!
//! The callers of a function are its direct callers (by name, with static scoping) and, when
//! it is stored in a slot, every call site through that slot. The search goes up from the
//! functions that call a slot and stops where it can: at a caller that takes the lock itself
//! before the call (whatever it was entered with, the lock is then held), at a system-call
//! entry (entered without the lock), at a function with no caller in the tree (unknown), or at
//! the search bounds (unknown). The entry depths are then a fixpoint over that graph, so
//! recursion that takes the lock on the way round is seen.

use rustc_hash::{FxHashMap, FxHashSet};

use super::lockstate::{summarise, summarise_calls, Deltas, Effect, LockSummary};
use super::slots::SlotSites;
use crate::chain::ChainStep;
use crate::entries::Slot;
use crate::index::{referenced_name, FnRef, Index};
use crate::kb::BklKb;

/// Entry depths are tracked up to this nesting (the top value means "this or more").
const MAX_ENTRY_DEPTH: i8 = 3;
/// Rounds of "a function that calls a function that changes the depth changes it too".
const EFFECT_ROUNDS: usize = 3;

/// What the search knows about the whole tree's calls.
pub struct Graph<'a> {
    index: &'a Index<'a>,
    kb: &'a BklKb,
    /// Direct calls by callee name: (file, call index).
    by_name: FxHashMap<&'a str, Vec<(u32, u32)>>,
    sites: &'a SlotSites,
    stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    /// Functions made entry points by a call (`kernel_thread(fn)`), with their entry depth.
    root_fns: FxHashMap<FnRef, u8>,
    /// Functions whose walk ends at another depth than it started, and by how much.
    effects: FxHashMap<FnRef, Deltas>,
    /// Functions that call a lock primitive or a function in `effects`: the ones walked.
    touching: FxHashSet<FnRef>,
    summaries: std::cell::RefCell<FxHashMap<FnRef, std::rc::Rc<LockSummary>>>,
}

impl<'a> Graph<'a> {
    pub fn new(
        index: &'a Index<'a>,
        kb: &'a BklKb,
        sites: &'a SlotSites,
        stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    ) -> Self {
        let mut by_name: FxHashMap<&str, Vec<(u32, u32)>> = FxHashMap::default();
        let mut root_fns = FxHashMap::default();
        for (fi, f) in index.files.iter().enumerate() {
            for (ci, c) in f.calls.iter().enumerate() {
                if c.indirect {
                    continue;
                }
                if c.caller.is_some() {
                    by_name
                        .entry(c.callee.as_str())
                        .or_default()
                        .push((fi as u32, ci as u32));
                }
                for r in kb.root_calls.iter().filter(|r| r.name == c.callee) {
                    let f = c
                        .args
                        .get(r.arg)
                        .and_then(|a| referenced_name(a))
                        .and_then(|n| index.resolve_function(fi, n));
                    if let Some(f) = f {
                        root_fns.insert(f, r.depth);
                    }
                }
            }
        }
        let mut g = Graph {
            index,
            kb,
            by_name,
            sites,
            stored,
            root_fns,
            effects: FxHashMap::default(),
            touching: FxHashSet::default(),
            summaries: Default::default(),
        };
        g.find_effects();
        g
    }

    /// The calls of the tree to `name` that reach the definition `f`.
    fn direct_callers(&self, name: &str, f: Option<FnRef>) -> Vec<(FnRef, u32)> {
        let mut out = Vec::new();
        for &(fi, ci) in self.by_name.get(name).into_iter().flatten() {
            let (fi, ci) = (fi as usize, ci as usize);
            let Some(caller) = self.index.files[fi].calls[ci].caller else {
                continue;
            };
            if f.is_some() && self.index.resolve_function(fi, name) != f {
                continue;
            }
            out.push((
                FnRef {
                    file: fi,
                    func: caller as usize,
                },
                ci as u32,
            ));
        }
        out
    }

    /// Functions that change the depth for their callers: those that call the primitives and
    /// end unbalanced, then their callers, a few rounds deep.
    fn find_effects(&mut self) {
        let mut frontier: FxHashSet<FnRef> = FxHashSet::default();
        for name in self.kb.lock.iter().chain(&self.kb.unlock) {
            frontier.extend(self.direct_callers(name, None).into_iter().map(|(f, _)| f));
        }
        for _ in 0..EFFECT_ROUNDS {
            let mut changed = Vec::new();
            for &f in &frontier {
                if self.touching.insert(f) {
                    let s = self.walk(f);
                    if s.exit != Deltas::ZERO && !s.exit.is_empty() {
                        changed.push((f, s.exit));
                    }
                }
            }
            if changed.is_empty() {
                break;
            }
            frontier.clear();
            for (f, exit) in changed {
                self.effects.insert(f, exit);
                let name = self.index.function(f).name.as_str();
                frontier.extend(
                    self.direct_callers(name, Some(f))
                        .into_iter()
                        .map(|(c, _)| c),
                );
            }
        }
    }

    fn walk(&self, f: FnRef) -> LockSummary {
        let file = &self.index.files[f.file];
        let mut effect = |c: u32| {
            let call = &file.calls[c as usize];
            let name = call.callee.as_str();
            let is = |list: &[String]| list.iter().any(|n| n == name);
            if call.indirect || is(&self.kb.depth_preserving) {
                Effect::None
            } else if is(&self.kb.lock) {
                Effect::Lock
            } else if is(&self.kb.unlock) {
                Effect::Unlock
            } else {
                match self
                    .index
                    .resolve_function(f.file, name)
                    .and_then(|g| self.effects.get(&g))
                {
                    Some(&d) => Effect::Callee(d),
                    None => Effect::None,
                }
            }
        };
        let function = self.index.function(f);
        if function.body.is_empty() {
            // The scan lowers statement trees only for functions that name a lock primitive;
            // one that reaches the lock through a helper is taken as a straight line of calls.
            let calls = file
                .calls
                .iter()
                .enumerate()
                .filter(|(_, c)| c.caller == Some(f.func as u32))
                .map(|(i, _)| i as u32);
            return summarise_calls(calls, &mut effect);
        }
        summarise(function, &mut effect)
    }

    /// The lock depths inside `f`, relative to its entry.
    pub fn summary(&self, f: FnRef) -> std::rc::Rc<LockSummary> {
        if let Some(s) = self.summaries.borrow().get(&f) {
            return s.clone();
        }
        let s = std::rc::Rc::new(if self.touching.contains(&f) {
            self.walk(f)
        } else {
            LockSummary::neutral()
        });
        self.summaries.borrow_mut().insert(f, s.clone());
        s
    }

    pub fn is_syscall(&self, f: FnRef) -> bool {
        let name = self.index.function(f).name.as_str();
        self.kb
            .syscall_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }

    /// The lock depth `f` is entered with from outside the C code, if it is an entry point.
    /// An `asmlinkage` function that the tree calls is a helper (sunos_nfs_mount), not one.
    pub fn root_depth(&self, f: FnRef, has_callers: bool) -> Option<u8> {
        let function = self.index.function(f);
        let name = function.name.as_str();
        if let Some(&d) = self.root_fns.get(&f) {
            return Some(d);
        }
        if let Some(r) = self.kb.roots.iter().find(|r| r.name == name) {
            return Some(r.depth);
        }
        let syscall = self.is_syscall(f);
        let from_asm = !has_callers
            && function
                .attributes
                .iter()
                .any(|a| self.kb.root_attributes.iter().any(|r| r == a));
        (syscall || from_asm).then_some(0)
    }

    /// Every call that enters `f`: direct calls, and calls through the slots it is stored in.
    fn callers(&self, f: FnRef) -> Vec<(FnRef, u32)> {
        let name = self.index.function(f).name.as_str();
        let mut out = self.direct_callers(name, Some(f));
        for slot in self.stored.get(&f).into_iter().flatten() {
            for s in self.sites.by_slot.get(slot).into_iter().flatten() {
                out.push((s.caller, s.call));
            }
        }
        out.sort_by_key(|(g, c)| (g.file, g.func, *c));
        out.dedup();
        out
    }

    pub fn step(&self, f: FnRef, call: u32) -> ChainStep {
        let file = &self.index.files[f.file];
        let c = &file.calls[call as usize];
        ChainStep {
            function: self.index.function(f).name.to_string(),
            file: file.path.to_string(),
            line: c.line,
            call: c.callee.to_string(),
        }
    }
}

/// How a function got an entry depth: as a root, or from a caller's call.
#[derive(Debug, Clone, Copy)]
enum Pred {
    Root,
    /// `from` calls at `call`, entered with `from_depth`; `None` when `from` takes the lock
    /// itself before the call and its own callers were not followed.
    Edge {
        from: FnRef,
        call: u32,
        from_depth: Option<u8>,
    },
}

struct Node {
    func: FnRef,
    level: usize,
    /// Bit `d`: some path enters with depth `d` (the top bit: that or more).
    entry: u8,
    pred: [Option<Pred>; (MAX_ENTRY_DEPTH + 1) as usize],
    /// Rank of the witness path per depth; lower is better.
    rank: [Rank; (MAX_ENTRY_DEPTH + 1) as usize],
    /// Some paths could not be followed: how many calls away, and why. The nearest reason
    /// is kept.
    unknown: Option<(u16, String)>,
}

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
}

/// Entry depths of the functions above a set of call sites.
pub struct Solver<'g, 'a> {
    g: &'g Graph<'a>,
    nodes: Vec<Node>,
    in_edges: Vec<Vec<InEdge>>,
    ids: FxHashMap<FnRef, usize>,
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
}

impl<'g, 'a> Solver<'g, 'a> {
    pub fn new(g: &'g Graph<'a>) -> Self {
        Self {
            g,
            nodes: Vec::new(),
            in_edges: Vec::new(),
            ids: FxHashMap::default(),
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
            pred: [None; (MAX_ENTRY_DEPTH + 1) as usize],
            rank: [WORST; (MAX_ENTRY_DEPTH + 1) as usize],
            unknown: None,
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
            if let Some(d) = root {
                let d = d.min(MAX_ENTRY_DEPTH as u8) as usize;
                self.nodes[id].entry |= 1 << d;
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
                self.in_edges[id].push(InEdge {
                    from,
                    call,
                    deltas,
                    from_node,
                    start: (0, !self.g.is_syscall(from), false),
                    arch: self.g.index.in_arch_dir(from.file),
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
            for m in edges.iter().filter_map(|e| e.from_node) {
                if users[m].last() != Some(&id) {
                    users[m].push(id);
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
            let (src, src_rank) = match from_node {
                Some(m) => (self.nodes[m].entry, self.nodes[m].rank),
                // The caller takes the lock itself: the path starts there.
                None => (1, [edge.start; (MAX_ENTRY_DEPTH + 1) as usize]),
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

    /// The path that gave `f` the entry depth `d`, from its start down to `f`'s entry.
    fn chain(&self, f: FnRef, d: u8) -> Vec<ChainStep> {
        let mut steps = Vec::new();
        let (mut cur, mut depth) = (f, d);
        for _ in 0..64 {
            let Some(&id) = self.ids.get(&cur) else { break };
            match self.nodes[id].pred[depth as usize] {
                Some(Pred::Edge {
                    from,
                    call,
                    from_depth,
                }) => {
                    steps.push(self.g.step(from, call));
                    match from_depth {
                        Some(fd) => (cur, depth) = (from, fd),
                        None => break,
                    }
                }
                Some(Pred::Root) | None => break,
            }
        }
        steps.reverse();
        steps
    }

    /// Whether the lock is held at the call `call` of `f`, with witnesses.
    pub fn site(&self, f: FnRef, call: u32) -> SiteLocking {
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
        }
        if deltas.all_positive() {
            return out;
        }
        let Some(&id) = self.ids.get(&f) else {
            out.unknown = Some("the callers were not searched".into());
            return out;
        };
        let node = &self.nodes[id];
        for d in 0..=MAX_ENTRY_DEPTH {
            if node.entry & (1 << d) == 0 {
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
                    *chain = self.chain(f, d as u8);
                    chain.push(last.clone());
                }
            }
        }
        out.unknown = node.unknown.as_ref().map(|(_, why)| why.clone());
        out
    }
}
