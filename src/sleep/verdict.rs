//! Verdicts from the solved graph: what a node or target reaches under a mask, and the chain
//! of call sites that explains it.

use super::graph::{self, NodeId, NodeKind, Origin, Target};
use super::solve::{self, guard_arg, owner_params, Entry, GuardArg, Next};
use super::{
    call_text, ctext, ChainStep, Condition, Cont, Judged, Mask, Sleep, SleepAnalysis,
    UnknownPolicy, Verdict,
};
use crate::index::Index;

impl SleepAnalysis {
    pub(super) fn unknown_name(&self, what: &str) -> Verdict {
        let mut v = Verdict::no();
        v.sleeps = match self.policy {
            UnknownPolicy::NoSleep => Sleep::No,
            _ => Sleep::Unknown,
        };
        v.unknowns.push(what.to_string());
        v
    }

    /// The nodes a name stands for, seen from `file` (or from generic code).
    pub(super) fn candidates(&self, file: Option<usize>, name: &str) -> Vec<NodeId> {
        let Some(defs) = self.lookup.defs.get(name) else {
            return Vec::new();
        };
        if let Some(f) = file {
            let mine = |k: graph::DefKind| {
                defs.iter()
                    .find(|d| {
                        d.file as usize == f
                            && (d.kind == graph::DefKind::Macro) == (k == graph::DefKind::Macro)
                    })
                    .map(|d| d.node)
            };
            if let Some(n) = mine(graph::DefKind::Macro).or_else(|| mine(graph::DefKind::Fn)) {
                return vec![n];
            }
        }
        let arch = file.and_then(|f| self.lookup.file_arch.get(f).copied().flatten());
        let ranked: Vec<_> = defs
            .iter()
            .filter(|d| d.exported)
            .map(|d| {
                let def_arch = self
                    .lookup
                    .file_arch
                    .get(d.file as usize)
                    .copied()
                    .flatten();
                (
                    graph::rank(def_arch, arch, self.lookup.preferred_arch),
                    d.node,
                )
            })
            .collect();
        if let Some(best) = ranked.iter().map(|(r, _)| *r).min() {
            return ranked
                .into_iter()
                .filter(|(r, _)| *r == best)
                .map(|(_, n)| n)
                .collect();
        }
        if file.is_none() {
            return defs.iter().map(|d| d.node).collect();
        }
        Vec::new()
    }

    pub(super) fn node_verdict(&self, index: &Index, node: NodeId, mask: Option<&str>) -> Verdict {
        let (params, _) = owner_params(&self.graph, index, node);
        let sum = &self.summaries[node as usize];
        let mut judged = Judged::default();
        if let Some(w) = sum.sleeps {
            judged.sleeps = Some((w.depth, Cont::Node(node, Entry::Sleeps), None));
        }
        for &(k, w) in &sum.conds {
            let cont = Cont::Node(node, Entry::Mask(k));
            match mask {
                Some(m) => match self.masks.eval(&index.macros, m, &[], None) {
                    Mask::Sleeps(name) => {
                        if judged.sleeps.as_ref().is_none_or(|s| w.depth < s.0) {
                            judged.sleeps = Some((w.depth, cont, Some(name)));
                        }
                    }
                    Mask::No | Mask::Params(_) => {}
                    Mask::Unknown => judged.unknowns.push(format!("mask `{m}`")),
                },
                None => judged.conds.push((k, w.depth, cont)),
            }
        }
        // Guarded sleeps: the arguments are not known, so they may hold.
        if judged.sleeps.is_none() {
            if let Some(&(g, w)) = sum.guards.iter().min_by_key(|(_, w)| w.depth) {
                judged.sleeps = Some((w.depth, Cont::Node(node, Entry::Guard(g)), None));
                let name = params.get(g.param as usize).copied().unwrap_or("");
                judged.only_if = Some((g.tested(name), g.nonzero));
            }
        }
        self.add_unknowns(&mut judged, node);
        self.finish(index, judged, None, &params)
    }

    pub(super) fn add_unknowns(&self, judged: &mut Judged, node: NodeId) {
        let u = &self.unknowns[self.scc_of[node as usize] as usize];
        judged
            .unknowns
            .extend(u.ids.iter().map(|&i| self.graph.strings.get(i).to_string()));
        judged.more_unknowns |= u.more;
    }

    /// What `target` amounts to when called with `args` from a context with `params`.
    pub(super) fn judge(
        &self,
        index: &Index,
        target: Target,
        args: Option<&[crate::facts::Text]>,
        (params, stable): (&[&str], u64),
        file: Option<usize>,
    ) -> Judged {
        let mut j = Judged::default();
        let mask_at = |j: &mut Judged, k: usize| -> Mask {
            let m = match args.and_then(|a| a.get(k)) {
                Some(text) => self.masks.eval(&index.macros, text, params, file),
                None => Mask::Unknown,
            };
            if m == Mask::Unknown {
                let text = args
                    .and_then(|a| a.get(k))
                    .map_or("(missing)", |s| s.as_str());
                j.unknowns
                    .push(format!("mask `{}`", ctext::shorten(text, 40)));
            }
            m
        };
        let offer = |j: &mut Judged, m: Mask, depth: u32, cont: Cont| match m {
            Mask::Sleeps(name) => {
                if j.sleeps.as_ref().is_none_or(|s| depth < s.0) {
                    j.sleeps = Some((depth, cont, Some(name)));
                }
            }
            Mask::Params(ks) => j.conds.extend(ks.into_iter().map(|k| (k, depth, cont))),
            Mask::No => {}
            Mask::Unknown => {
                if self.policy == UnknownPolicy::Sleeps && j.sleeps.is_none() {
                    j.sleeps = Some((depth, cont, None));
                }
            }
        };
        match target {
            Target::Never => {}
            Target::Unknown(u) => {
                j.unknowns.push(self.graph.strings.get(u).to_string());
                if self.policy == UnknownPolicy::Sleeps {
                    j.sleeps = Some((1, Cont::End(target), None));
                }
            }
            Target::Prim(p) => match self.primitives[p as usize].mask_arg {
                None => j.sleeps = Some((1, Cont::End(target), None)),
                Some(k) => {
                    let m = mask_at(&mut j, k);
                    offer(&mut j, m, 1, Cont::End(target));
                }
            },
            Target::Node(t) => {
                let sum = &self.summaries[t as usize];
                if let Some(w) = sum.sleeps {
                    j.sleeps = Some((w.depth + 1, Cont::Node(t, Entry::Sleeps), None));
                }
                for &(k, w) in &sum.conds {
                    let m = mask_at(&mut j, k as usize);
                    offer(&mut j, m, w.depth + 1, Cont::Node(t, Entry::Mask(k)));
                }
                for &(g, w) in &sum.guards {
                    let mut value = |t: &str| self.consts.value(index.files, t, file);
                    let only_if = match guard_arg(args, g, params, stable, &mut value) {
                        GuardArg::Fails => continue,
                        GuardArg::Holds => None,
                        GuardArg::Param(k) => {
                            params.get(k as usize).map(|p| (g.tested(p), g.nonzero))
                        }
                    };
                    if j.sleeps.as_ref().is_none_or(|s| w.depth + 1 < s.0) {
                        j.sleeps = Some((w.depth + 1, Cont::Node(t, Entry::Guard(g)), None));
                        j.only_if = only_if;
                    }
                }
                self.add_unknowns(&mut j, t);
            }
        }
        j
    }

    /// Turns a judgement into a verdict: `first` is the call asked about, if any; `params` the
    /// parameter names of the context, for conditions.
    pub(super) fn finish(
        &self,
        index: &Index,
        j: Judged,
        first: Option<ChainStep>,
        params: &[&str],
    ) -> Verdict {
        let mut v = Verdict::no();
        let mut unknowns = j.unknowns;
        unknowns.sort();
        unknowns.dedup();
        v.more_unknowns = j.more_unknowns;
        if unknowns.len() > solve::MAX_UNKNOWNS {
            unknowns.truncate(solve::MAX_UNKNOWNS);
            v.more_unknowns = true;
        }
        v.unknowns = unknowns;
        let cont = if let Some((_, cont, mask)) = j.sleeps.clone() {
            v.sleeps = Sleep::Yes;
            v.mask = mask;
            Some(cont)
        } else if let Some(&(_, _, cont)) = j.conds.iter().min_by_key(|c| c.1) {
            v.sleeps = if self.policy == UnknownPolicy::Sleeps {
                Sleep::Yes
            } else {
                Sleep::Unknown
            };
            let mut ks: Vec<u8> = j.conds.iter().map(|c| c.0).collect();
            ks.sort_unstable();
            ks.dedup();
            v.conditions = ks
                .into_iter()
                .map(|k| Condition {
                    param: k as usize,
                    name: params.get(k as usize).copied().unwrap_or("").to_string(),
                })
                .collect();
            Some(cont)
        } else {
            if self.policy == UnknownPolicy::Report && (!v.unknowns.is_empty() || v.more_unknowns) {
                v.sleeps = Sleep::Unknown;
            }
            None
        };
        let Some(cont) = cont else {
            return v;
        };
        v.chain.extend(first);
        match cont {
            Cont::End(target) => {
                v.reason = Some(self.reason(target, v.mask.as_deref()));
            }
            Cont::Node(node, state) => {
                let (steps, reason, mask) = self.chain_from(index, node, state);
                v.chain.extend(steps);
                v.reason = reason;
                if v.mask.is_none() {
                    v.mask = mask;
                }
            }
        }
        if let (Some((name, nonzero)), Some(r)) = (&j.only_if, &mut v.reason) {
            let what = if *nonzero { "nonzero" } else { "zero" };
            r.push_str(&format!(" (only when {name} is {what})"));
        }
        if let (Some(m), Some(r)) = (&v.mask, &mut v.reason) {
            if !r.contains(m.as_str()) {
                r.push_str(&format!("; {}", self.masks.why_waits(m)));
            }
        }
        v
    }

    pub(super) fn reason(&self, target: Target, mask: Option<&str>) -> String {
        match target {
            Target::Prim(p) => {
                let p = &self.primitives[p as usize];
                match mask {
                    Some(m) => format!(
                        "{} {}; {}",
                        p.name,
                        p.kind.describe(),
                        self.masks.why_waits(m)
                    ),
                    None => format!("{} {}", p.name, p.kind.describe()),
                }
            }
            Target::Unknown(u) => format!(
                "{} is unknown, and the `sleeps` policy counts it as sleeping",
                self.graph.strings.get(u)
            ),
            Target::Never | Target::Node(_) => String::new(),
        }
    }

    /// The chain recorded in the summaries, from `node`'s entry (`state`: unconditional or
    /// for a parameter) down to the primitive: steps, reason, and the mask decided on the way.
    pub(super) fn chain_from(
        &self,
        index: &Index,
        mut node: NodeId,
        mut state: Entry,
    ) -> (Vec<ChainStep>, Option<String>, Option<String>) {
        let mut steps: Vec<ChainStep> = Vec::new();
        let mut mask: Option<String> = None;
        let mut via: Option<String> = None;
        // Chains are acyclic by construction; the bound only guards against a bug.
        for _ in 0..10_000 {
            let sum = &self.summaries[node as usize];
            let Some(why) = sum.entry(state) else {
                break;
            };
            let site = &self.graph.sites[node as usize][why.site as usize];
            if mask.is_none() {
                mask = why.mask.map(|m| self.graph.strings.get(m).to_string());
            }
            match &self.graph.nodes[node as usize] {
                NodeKind::Slot { name } | NodeKind::Alternatives { name } => {
                    via.get_or_insert_with(|| name.clone());
                }
                _ => {}
            }
            if let Some(mut step) = self.step(index, node, site) {
                step.via = via.take();
                steps.push(step);
            }
            match why.next {
                Next::End => {
                    let reason = self.reason(site.target, mask.as_deref());
                    return (steps, Some(reason), mask);
                }
                Next::Node(t, s) => {
                    node = t;
                    state = s;
                }
            }
        }
        (steps, None, mask)
    }

    pub(super) fn step(
        &self,
        index: &Index,
        node: NodeId,
        site: &graph::Site,
    ) -> Option<ChainStep> {
        let (function, file, line) = match &self.graph.nodes[node as usize] {
            NodeKind::Function(r) => {
                let f = index.function(*r);
                let line = match site.origin {
                    Origin::Call { file, call } => {
                        index.files[file as usize].calls[call as usize].line
                    }
                    Origin::Name { line, .. } => line,
                    _ => f.line,
                };
                (f.name.clone(), index.files[r.file].path.clone(), line)
            }
            NodeKind::Macro { file, idx, .. } => {
                let f = &index.files[*file as usize];
                let m = &f.macros[*idx as usize];
                (m.name.clone(), f.path.clone(), m.line)
            }
            NodeKind::Slot { .. } | NodeKind::Alternatives { .. } => return None,
        };
        let call = match site.origin {
            Origin::Call { file, call } => {
                let c = &index.files[file as usize].calls[call as usize];
                call_text(&c.callee, &c.args)
            }
            Origin::Name { name, .. } => self.graph.strings.get(name).to_string(),
            Origin::Body { idx } => {
                let s = &self.graph.macro_sites[idx as usize];
                if s.alias {
                    s.callee.clone()
                } else {
                    call_text(&s.callee, &s.args)
                }
            }
            Origin::Member => return None,
        };
        Some(ChainStep {
            function: function.to_string(),
            file: file.to_string(),
            line,
            call,
            via: None,
        })
    }
}
