//! Rule 1 of the mail: does the core hold the big kernel lock when it calls a slot?
//!
//! For every slot that a module routine can sit in, find the core's calls through it
//! ([`slots`]), the lock depth at each call relative to the calling function's entry
//! ([`lockstate`]), and, where the function does not take the lock itself, the depths it can be
//! entered with, walking callers up to the system calls ([`callers`]). A call site is *held*
//! when every path found holds the lock, *not-held* when none does, *mixed* when some do, and
//! *unknown* when no path could be followed (with the reason). Paths that could not be followed
//! do not change a verdict drawn from the paths that could; they are reported beside it.
//!
//! Besides the lock taken in C, these protections are accepted: the lock taken by the
//! system-call entry code, and one-processor architectures ([`entry`]), and core pins
//! ([`flow`]), and call-backs into the caller's own table ([`flow`]) or object (`solver::own`,
//! read off the paths the solver found); a call site says which one protects it
//! (`CallSite::protection`, `pin`).
//! Provenance ([`flow`]) narrows the routines a slot call reaches, and so the callers of a
//! routine; per-architecture judgement ([`callers`]) drops calls from generic code into code
//! only other architectures build; values on a chain ([`prune`]: a string a caller fixes, a
//! table looked up by it, a flag test of that table; an integer a caller fixes or narrows,
//! decided by the callee's `switch` and comparisons, also two calls up through a field it
//! stores) drop a call for the callers under which it cannot run, and a call site's witness
//! goes through the calls they keep.
//!
//! What is modelled: `lock_kernel`/`unlock_kernel` nest (a depth, not a flag); a failure return
//! (NULL, `-E...`) that releases more than its function took does not pass that release on to
//! the callers ([`lockstate`]: an error path's bug must not turn the rest of a caller's loop
//! unlocked); sleeping keeps
//! the depth (the scheduler drops the lock while the task sleeps and retakes it); system-call
//! entries and new kernel threads start at depth 0; a function that takes the lock before a
//! call is not followed further up (it is assumed entered at depth 0, which only matters when
//! something below it releases the lock again). Not modelled: calls through pointers other
//! than slots, and interrupt context.

pub mod callers;
pub mod entry;
pub mod flow;
pub mod lockstate;
pub mod prune;
pub mod slots;
pub mod solver;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::chain::ChainStep;
use crate::entries::{Entry, Slot};
use crate::index::{FnRef, Index};
use crate::kb::{Kb, Takes};
use crate::usecount::drain::Drains;
pub use entry::EntryModel;
use rustc_hash::FxHashMap;
pub use slots::MatchedBy;

/// What keeps `rmmod` out at a call site on the paths judged safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Protection {
    /// The lock, taken in C on the path (or by the code that runs a module's init).
    Lock,
    /// The architecture's system-call entry code takes the lock (2.0).
    EntryLock {
        file: String,
        line: u32,
        takes: String,
    },
    /// The path's architecture runs on one processor in this tree.
    Uniprocessor { arch: String },
    /// The core pinned the table's module before the call.
    CorePin { by: String, line: u32 },
    /// The core counts the call in flight (`ops->use++`) and the unregister waits for it.
    Drain { by: String, line: u32 },
    /// The call goes into the table a module is registering, from inside its registration
    /// routine (`register_framebuffer` opens the new device): it reaches the module whose
    /// own code is running the registration, not a module that may be on its way out. Also
    /// found from the tree: a routine whose every caller passes its own table ([`flow`]'s
    /// call-backs).
    Registering { routine: String },
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protection::Lock => write!(f, "lock held"),
            Protection::EntryLock { file, line, takes } => {
                write!(
                    f,
                    "lock taken at system-call entry ({takes}, {file}:{line})"
                )
            }
            Protection::Uniprocessor { arch } => write!(f, "uniprocessor architecture {arch}"),
            Protection::CorePin { by, line } => write!(f, "core pin ({by}, line {line})"),
            Protection::Registering { routine } => {
                write!(
                    f,
                    "the table being registered, called back inside {routine}"
                )
            }
            Protection::Drain { by, line } => {
                write!(
                    f,
                    "calls in flight counted ({by}, line {line}) and drained on unregister"
                )
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Held,
    NotHeld,
    Mixed,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Held => "held",
            Verdict::NotHeld => "not-held",
            Verdict::Mixed => "mixed",
            Verdict::Unknown => "unknown",
        }
    }

    fn of(held: bool, not_held: bool) -> Verdict {
        match (held, not_held) {
            (true, false) => Verdict::Held,
            (false, true) => Verdict::NotHeld,
            (true, true) => Verdict::Mixed,
            (false, false) => Verdict::Unknown,
        }
    }
}

/// One call of the core through a slot.
#[derive(Debug, Clone, Serialize)]
pub struct CallSite {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The function that makes the call.
    pub function: String,
    /// The callee expression as written: `net_families[family]->create`.
    pub callee: String,
    /// "type" or "field-name": how the call was tied to the slot.
    pub matched_by: MatchedBy,
    pub verdict: Verdict,
    /// A path that holds the lock at the call, from where it starts (a system call, or the
    /// function that takes the lock) down to the call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_chain: Vec<ChainStep>,
    /// A path that does not hold it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unheld_chain: Vec<ChainStep>,
    /// What protects the held paths (the lock, entry code, one processor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    /// Why some paths to the call could not be followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The core pinned the table's module before the call: protected on every path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<Protection>,
    /// The routines (file, function) the call can reach, when every table its base can be is
    /// known ([`flow`]); `None`: every routine of the slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaches: Option<Vec<(String, String)>>,
    /// Why `reaches` is every routine of the slot, when a caller hands the call something no
    /// store names (`&p->ops`): the fallback, said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_routine: Option<String>,
}

/// A routine that sits in a slot.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exposed {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub module_capable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotLocking {
    pub slot: Slot,
    pub takes: Takes,
    pub verdict: Verdict,
    /// What the knowledge base's hand research says, for comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kb_bkl: Option<String>,
    pub call_sites: Vec<CallSite>,
    /// The routines of the tree in this slot (from `entries`).
    pub exposed: Vec<Exposed>,
}

#[derive(Debug, Default, Serialize)]
pub struct BklStats {
    pub slots: usize,
    pub name_slots: usize,
    /// Name-taking slots by verdict.
    pub name_slots_by_verdict: BTreeMap<&'static str, usize>,
    /// All slots by verdict.
    pub slots_by_verdict: BTreeMap<&'static str, usize>,
    pub call_sites: usize,
    pub call_sites_by_verdict: BTreeMap<&'static str, usize>,
    /// Call sites with some paths that could not be followed.
    pub call_sites_incomplete: usize,
    /// Call sites tied to their slot by field name only.
    pub call_sites_by_field_name: usize,
    pub indirect_calls: usize,
    /// Indirect calls whose slot could not be told.
    pub indirect_untyped: usize,
    /// Functions the caller search visited, and how many it cut off at its bounds.
    pub functions_searched: usize,
    pub functions_cut: usize,
    /// Name-taking slots where the knowledge base gives a verdict, and how many agree.
    pub kb_compared: usize,
    pub kb_agree: usize,
    /// Wall time; only with `--timings` (outputs are the same from run to run without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct BklReport {
    pub slots: Vec<SlotLocking>,
    pub stats: BklStats,
}

/// The calls the value models rule out under a caller: constant arguments (`prune::find`),
/// and values fixed two calls up (`prune::chain`), read where a slot call can be reached.
fn pruning(
    index: &Index,
    kb: &Kb,
    (graph, sites): (&callers::Graph, &slots::SlotSites),
    entry: &EntryModel,
) -> (prune::Pruned, prune::chain::Pruned2) {
    let mut pruned = prune::find(index, kb);
    let on_chains = on_chains(graph, sites);
    let (layout, preferred) = (&kb.data.layout, entry.preferred());
    let pruned2 = prune::chain::find(index, (graph, &on_chains), layout, preferred, &mut pruned);
    (pruned, pruned2)
}

/// The functions a slot call can be reached through, the only ones the solver walks: the
/// chain models read no other body (most of the tree's stay encoded in the cache).
fn on_chains(graph: &callers::Graph, sites: &slots::SlotSites) -> rustc_hash::FxHashSet<FnRef> {
    let mut found: rustc_hash::FxHashSet<FnRef> = (sites.by_slot.values().flatten())
        .map(|s| s.caller)
        .collect();
    let mut todo: Vec<FnRef> = found.iter().copied().collect();
    while let Some(f) = todo.pop() {
        for (m, _) in graph.callers(f) {
            if found.insert(m) {
                todo.push(m);
            }
        }
    }
    found
}

/// Decides, for every slot that holds a routine in `entries` and every name-taking slot of the
/// knowledge base, whether the core holds the big kernel lock where it calls the slot.
pub fn analyse(
    index: &Index,
    kb: &Kb,
    (entries, entry): (&[Entry], &EntryModel),
    drains: &Drains,
) -> BklReport {
    let _t = crate::timing::Phase::start("bkl");
    let started = Instant::now();
    let bkl = &kb.data.bkl;
    let typer = slots::Typer::new(index);
    let (sites, stored) = rayon::join(
        || slots::find_sites(index, &typer),
        || slots::stored_in(index, &typer),
    );
    let flow = flow::Flow::new(index, kb, &typer, &stored, drains);
    let registered = prune::registered::find(index, &sites, &stored);
    let flows = site_flows(&flow, &sites, registered.fixed);
    let graph = callers::Graph::new(index, bkl, &kb.data.layout, entry, &sites, &stored, &flows);

    let (wanted, mut exposed) = wanted_slots(kb, entries);

    let narrowed = registered.narrowed;
    let (pruned, pruned2) = pruning(index, kb, (&graph, &sites), entry);
    let mut solver = callers::Solver::new(&graph, pruned, narrowed, pruned2);
    let targets: Vec<_> = wanted
        .keys()
        .filter_map(|s| sites.by_slot.get(s))
        .flatten()
        .filter(|s| !graph.summary(s.caller).at_call(s.call).all_positive())
        .map(|s| s.caller)
        .collect();
    solver.expand(targets);
    solver.solve();

    let allocators = solver::allocators(index, &kb.alloc_routines().collect::<Vec<_>>());
    let alloc = |name: &str| allocators.contains(name);
    // Module routines by (file, name): the paths on which a slot call reaches none of them
    // leave no module exposed ([`prune::registered`]).
    let modular: rustc_hash::FxHashSet<(String, String)> = (exposed.values().flatten())
        .filter(|e| e.module_capable)
        .map(|e| (e.file.clone(), e.function.clone()))
        .collect();
    let module = |f: FnRef| {
        let key = (
            index.files[f.file].path.to_string(),
            index.function(f).name.to_string(),
        );
        modular.contains(&key)
    };
    let mut report = BklReport::default();
    for (slot, takes) in wanted {
        let mut call_sites = Vec::new();
        for s in sites.by_slot.get(&slot).into_iter().flatten() {
            let r = solver.site(s.caller, s.call, &module);
            let file = &index.files[s.caller.file];
            let mut site_flow = flows.get(&(s.caller, s.call)).cloned().unwrap_or_default();
            if r.not_held && site_flow.pin.is_none() {
                site_flow.pin = solver.own_object(&flow, &alloc, s.caller, s.call);
            }
            let reaches = site_flow.targets.map(|t| named(index, t));
            let call = &file.calls[s.call as usize];
            call_sites.push(CallSite {
                file: file.path.to_string(),
                line: call.line,
                column: call.column,
                function: index.function(s.caller).name.to_string(),
                callee: call.callee.to_string(),
                matched_by: s.matched_by,
                verdict: Verdict::of(r.held, r.not_held),
                held_chain: r.held_chain,
                unheld_chain: r.unheld_chain,
                unknown: r.unknown,
                protection: r.protection,
                pin: site_flow.pin,
                reaches,
                every_routine: site_flow.every_routine,
            });
        }
        let held = call_sites
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Held | Verdict::Mixed));
        let not_held = call_sites
            .iter()
            .any(|c| matches!(c.verdict, Verdict::NotHeld | Verdict::Mixed));
        let kb_bkl = kb
            .slot(&slot.strukt, &slot.field)
            .and_then(|s| s.bkl.clone());
        report.slots.push(SlotLocking {
            verdict: Verdict::of(held, not_held),
            takes,
            kb_bkl,
            call_sites,
            exposed: exposed
                .remove(&slot)
                .map(|s| s.into_iter().collect())
                .unwrap_or_default(),
            slot,
        });
    }

    report.stats = stats(&report.slots, &sites, &solver);
    report.stats.seconds = Some(started.elapsed().as_secs_f64());
    report
}

/// The slots to judge: the knowledge base's name-taking slots and every slot that holds a
/// routine of `entries`, each with the routines exposed through it.
fn wanted_slots(
    kb: &Kb,
    entries: &[Entry],
) -> (BTreeMap<Slot, Takes>, BTreeMap<Slot, BTreeSet<Exposed>>) {
    let mut wanted: BTreeMap<Slot, Takes> = BTreeMap::new();
    for s in kb.data.slots.iter().filter(|s| s.takes == Takes::Name) {
        wanted.insert(Slot::new(&s.struct_name, &s.field), Takes::Name);
    }
    let mut exposed: BTreeMap<Slot, BTreeSet<Exposed>> = BTreeMap::new();
    for e in entries {
        // `routine(argN)` callbacks have no slot the core calls by a field.
        let Some(slot) = e.slot.field() else {
            continue;
        };
        wanted.entry(slot.clone()).or_insert(e.takes);
        exposed.entry(slot.clone()).or_default().insert(Exposed {
            function: e.function.clone(),
            file: e.file.clone(),
            line: e.line,
            module_capable: e.module_capable,
        });
    }
    (wanted, exposed)
}

/// The counts over the slots' verdicts and call sites.
fn stats(slots: &[SlotLocking], sites: &slots::SlotSites, solver: &callers::Solver) -> BklStats {
    let mut st = BklStats {
        indirect_calls: sites.indirect,
        indirect_untyped: sites.untyped,
        functions_searched: solver.functions(),
        functions_cut: solver.cut,
        ..BklStats::default()
    };
    for s in slots {
        st.slots += 1;
        *st.slots_by_verdict.entry(s.verdict.as_str()).or_default() += 1;
        if s.takes != Takes::Name {
            continue;
        }
        st.name_slots += 1;
        *st.name_slots_by_verdict
            .entry(s.verdict.as_str())
            .or_default() += 1;
        if let Some(k) = &s.kb_bkl {
            st.kb_compared += 1;
            st.kb_agree += (k == s.verdict.as_str()) as usize;
        }
        for c in &s.call_sites {
            st.call_sites += 1;
            *st.call_sites_by_verdict
                .entry(c.verdict.as_str())
                .or_default() += 1;
            st.call_sites_incomplete += c.unknown.is_some() as usize;
            st.call_sites_by_field_name += (c.matched_by == MatchedBy::FieldName) as usize;
        }
    }
    st
}

/// Pins and provenance of every slot call.
fn site_flows(
    flow: &flow::Flow,
    sites: &slots::SlotSites,
    fixed: FxHashMap<(FnRef, u32), rustc_hash::FxHashSet<FnRef>>,
) -> FxHashMap<(FnRef, u32), flow::SiteFlow> {
    let mut flows = FxHashMap::default();
    for (slot, list) in &sites.by_slot {
        for s in list {
            flows.insert((s.caller, s.call), flow.site(s.caller, s.call, slot));
        }
    }
    // A constant index written at the call (`arr[CONST]->slot`) names the tables it reaches.
    for (site, reach) in fixed {
        let f: &mut flow::SiteFlow = flows.entry(site).or_default();
        if f.targets.is_none() {
            f.targets = Some(reach);
        }
    }
    flows
}

/// Functions as sorted (file, name) pairs.
fn named(index: &Index, functions: impl IntoIterator<Item = FnRef>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = functions
        .into_iter()
        .map(|g| {
            let name = index.function(g).name.to_string();
            (index.files[g.file].path.to_string(), name)
        })
        .collect();
    v.sort();
    v
}

impl BklReport {
    pub fn slot(&self, slot: &Slot) -> Option<&SlotLocking> {
        self.slots
            .binary_search_by(|s| s.slot.cmp(slot))
            .ok()
            .map(|i| &self.slots[i])
    }

    /// The verdict on the slot an entry sits in (the `bkl` key of entries rows); `unknown`
    /// for a slot that was not analysed and for a callback, which sits in no slot.
    pub fn verdict_of(&self, entry: &Entry) -> Verdict {
        (entry.slot.field())
            .and_then(|s| self.slot(s))
            .map_or(Verdict::Unknown, |s| s.verdict)
    }
}

impl SlotLocking {
    /// The routines of module-capable code in this slot.
    pub fn module_routines(&self) -> impl Iterator<Item = &Exposed> {
        self.exposed.iter().filter(|e| e.module_capable)
    }

    /// Whether the core calls this slot, which takes a name and holds module code, without
    /// the lock on some path at `site`: what rule 1 of the mail forbids.
    pub fn is_unlocked_module_call(&self, site: &CallSite) -> bool {
        self.takes == Takes::Name
            && matches!(site.verdict, Verdict::NotHeld | Verdict::Mixed)
            && site.pin.is_none()
            && self.module_routines_at(site).next().is_some()
    }

    /// The module routines a call site can reach: those its provenance allows, or all.
    pub fn module_routines_at<'s>(
        &'s self,
        site: &'s CallSite,
    ) -> impl Iterator<Item = &'s Exposed> + 's {
        self.module_routines().filter(move |e| {
            site.reaches.as_ref().is_none_or(|r| {
                r.binary_search_by(|(f, n)| (f.as_str(), n.as_str()).cmp(&(&e.file, &e.function)))
                    .is_ok()
            })
        })
    }

    /// The call sites [`Self::is_unlocked_module_call`] holds for.
    pub fn unlocked_module_calls(&self) -> impl Iterator<Item = &CallSite> {
        self.call_sites
            .iter()
            .filter(|c| self.is_unlocked_module_call(c))
    }
}
