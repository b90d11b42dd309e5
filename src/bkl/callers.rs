//! From a call site up to the system calls: with which lock depths can a function be entered?
//!
//! The callers of a function are its direct callers (by name, with static scoping) and, when
//! it is stored in a slot, every call site through that slot. The search goes up from the
//! functions that call a slot and stops where it can: at a caller that takes the lock itself
//! before the call (whatever it was entered with, the lock is then held), at a system-call
//! entry (entered without the lock), at a function with no caller in the tree (unknown), or at
//! the search bounds (unknown). The entry depths are then a fixpoint over that graph
//! ([`super::solver`]), so recursion that takes the lock on the way round is seen.
//!
//! Roots get their depth from the architecture's entry model ([`super::entry`]): a system
//! call of an architecture whose entry code takes the lock, or any root of a one-processor
//! architecture, starts held. A caller is dropped when the call cannot happen in one build:
//! generic code is judged on the preferred architecture, so it reaches code of other
//! architectures (their directories, their `#ifdef`s, directories only their configurations
//! source) only from those architectures' own code; and a slot call whose tables are known
//! ([`super::flow`]) reaches only their routines.

use rustc_hash::{FxHashMap, FxHashSet};

use super::entry::{ArchEntry, EntryModel};
use super::flow::SiteFlow;
use super::lockstate::{summarise, summarise_calls, Deltas, Effect, LockSummary};
use super::slots::SlotSites;
pub use super::solver::{SiteLocking, Solver};
use super::Protection;
use crate::chain::ChainStep;
use crate::entries::Slot;
use crate::index::{referenced_name, FnRef, Index};
use crate::kb::{BklKb, Layout};

/// Entry depths are tracked up to this nesting (the top value means "this or more").
pub(super) const MAX_ENTRY_DEPTH: i8 = 3;
/// Rounds of "a function that calls a function that changes the depth changes it too".
const EFFECT_ROUNDS: usize = 3;

/// What the search knows about the whole tree's calls.
pub struct Graph<'a> {
    pub(super) index: &'a Index<'a>,
    pub(super) kb: &'a BklKb,
    layout: &'a Layout,
    /// How each architecture enters system calls.
    entry: &'a EntryModel,
    /// Direct calls by callee name: (file, call index).
    by_name: FxHashMap<&'a str, Vec<(u32, u32)>>,
    sites: &'a SlotSites,
    stored: &'a FxHashMap<FnRef, Vec<Slot>>,
    /// What each slot call can reach, when known.
    flows: &'a FxHashMap<(FnRef, u32), SiteFlow>,
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
        layout: &'a Layout,
        entry: &'a EntryModel,
        sites: &'a SlotSites,
        stored: &'a FxHashMap<FnRef, Vec<Slot>>,
        flows: &'a FxHashMap<(FnRef, u32), SiteFlow>,
    ) -> Self {
        let mut by_name: FxHashMap<&str, Vec<(u32, u32)>> = FxHashMap::default();
        let mut pending: FxHashMap<FnRef, (u8, Option<&str>)> = FxHashMap::default();
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
                        pending.insert(f, (r.depth, r.inside.as_deref()));
                    }
                }
            }
        }
        let mut g = Graph {
            index,
            kb,
            layout,
            entry,
            by_name,
            sites,
            stored,
            flows,
            root_fns: FxHashMap::default(),
            effects: FxHashMap::default(),
            touching: FxHashSet::default(),
            summaries: Default::default(),
        };
        g.find_effects();
        // A root that runs inside another function's work holds the lock when that one does.
        for (f, (depth, inside)) in pending {
            let held = inside
                .and_then(|name| index.resolve_function(f.file, name))
                .is_some_and(|w| g.summary(w).holds_around_a_call());
            g.root_fns.insert(f, if held { 1 } else { depth });
        }
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

    /// The lock depth `f` is entered with from outside the C code, if it is an entry point,
    /// and what protects it when that is not the lock taken in C. An `asmlinkage` function
    /// that the tree calls is a helper (sunos_nfs_mount), not one.
    pub fn root_depth(&self, f: FnRef, has_callers: bool) -> Option<(u8, Option<Protection>)> {
        let function = self.index.function(f);
        let name = function.name.as_str();
        let syscall = self.is_syscall(f);
        let from_asm = !has_callers
            && function
                .attributes
                .iter()
                .any(|a| self.kb.root_attributes.iter().any(|r| r == a));
        let depth = if let Some(&d) = self.root_fns.get(&f) {
            d
        } else if let Some(r) = self.kb.roots.iter().find(|r| r.name == name) {
            r.depth
        } else if syscall || from_asm {
            0
        } else {
            return None;
        };
        if depth > 0 {
            return Some((depth, None));
        }
        let arch = self.layout.arch_of(&self.index.files[f.file].path);
        let Some(model) = self.entry.of(arch) else {
            return Some((0, None));
        };
        let protection = match model {
            ArchEntry::Uniprocessor => Protection::Uniprocessor {
                arch: arch.or(self.entry_arch()).unwrap_or_default().to_string(),
            },
            ArchEntry::LockAtEntry { file, line, takes } if syscall || from_asm => {
                Protection::EntryLock {
                    file: file.clone(),
                    line: *line,
                    takes: takes.clone(),
                }
            }
            ArchEntry::LockAtEntry { .. } => return Some((0, None)),
        };
        Some((1, Some(protection)))
    }

    fn entry_arch(&self) -> Option<&str> {
        self.entry.preferred()
    }

    /// The architectures a function is built for: its directory's, that of the `#ifdef` it
    /// sits under, or those whose configuration alone reaches its directory; `None` for
    /// generic code.
    fn arches_of(&self, f: FnRef) -> Option<Vec<&str>> {
        let path = &self.index.files[f.file].path;
        let one = self
            .layout
            .arch_of(path)
            .or(self.index.function(f).arch.as_deref())
            .filter(|a| self.entry.is_arch(a));
        match one {
            Some(a) => Some(vec![a]),
            None => self
                .entry
                .config_arch_of(path)
                .map(|v| v.iter().map(String::as_str).collect()),
        }
    }

    /// Whether a call from `from` can reach `to`: generic code is judged on the preferred
    /// architecture, so it reaches another architecture's code only from that architecture's
    /// own code (a path through it is judged on that architecture, from its own callers).
    fn same_build(&self, from: FnRef, to: FnRef) -> bool {
        let Some(to_arches) = self.arches_of(to) else {
            return true;
        };
        let preferred = self.entry.preferred();
        if to_arches.iter().any(|a| Some(*a) == preferred) {
            return true;
        }
        self.arches_of(from)
            .is_some_and(|from| from.iter().any(|a| to_arches.contains(a)))
    }

    /// Every call that enters `f`: direct calls, and calls through the slots it is stored in.
    pub(super) fn callers(&self, f: FnRef) -> Vec<(FnRef, u32)> {
        let name = self.index.function(f).name.as_str();
        let mut out = self.direct_callers(name, Some(f));
        out.retain(|&(from, _)| self.same_build(from, f));
        for slot in self.stored.get(&f).into_iter().flatten() {
            for s in self.sites.by_slot.get(slot).into_iter().flatten() {
                // A call whose tables are known reaches only their routines.
                let reaches = self
                    .flows
                    .get(&(s.caller, s.call))
                    .and_then(|x| x.targets.as_ref());
                if reaches.is_none_or(|t| t.contains(&f)) && self.same_build(s.caller, f) {
                    out.push((s.caller, s.call));
                }
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
