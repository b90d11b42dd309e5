//! Drained slots: the core counts its calls in flight and the unregister waits for them.
//!
//! 2.4's netfilter raises `ops->use` before it calls `ops->get` and drops it after;
//! `nf_unregister_sockopt(reg)`, which the module's cleanup calls, sleeps while `reg->use != 0`.
//! The module's code cannot go while such a call runs, so neither rule applies to the slot:
//! the routine need not pin (rule 2), and the lock is not needed to keep `rmmod` out (rule 1).
//!
//! Read off the tree, not listed: a *drain counter* is a field `S.F` that some function with a
//! parameter `p` of type `S *` tests (`p->F` in a branch) while it calls one of the knowledge
//! base's `[use_count] drain_waits` (it waits for the count to fall). A slot `S.x` is drained
//! when a function raises `b->F++` on a local or parameter `b` of type `S *` and then calls
//! `b->x(...)`.

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::facts::{Body, Event, Expr, FileFacts, StmtId, StmtKind, Value};
use crate::index::Index;
use crate::kb::Kb;

/// Drain counters and the slots they protect, for one tree.
#[derive(Debug, Default)]
pub struct Drains {
    /// (struct, counter field).
    counters: FxHashSet<(String, String)>,
    /// (struct, slot field) -> (the counter's update as written, its file and line).
    slots: Vec<DrainedSlot>,
}

/// A slot the core calls with a drain counter raised.
#[derive(Debug, Clone)]
pub struct DrainedSlot {
    pub strukt: String,
    pub slot: String,
    /// The update that raises the counter (`ops->use++`), its file and line.
    pub update: String,
    pub file: String,
    pub line: u32,
}

impl Drains {
    /// Read once per command, file by file in parallel, and shared by both rules' analyses.
    pub fn new(index: &Index, kb: &Kb) -> Self {
        let waits = &kb.data.use_count.drain_waits;
        let mut drains = Drains::default();
        if waits.is_empty() {
            return drains;
        }
        drains.counters = (index.files.par_iter())
            .flat_map_iter(|f| read_counters(index, f, waits))
            .collect();
        if drains.counters.is_empty() {
            return drains;
        }
        let mut slots: Vec<DrainedSlot> = (index.files.par_iter())
            .flat_map_iter(|f| drains.read_slots(index, f))
            .collect();
        slots.sort_by(|a, b| (&a.strukt, &a.slot).cmp(&(&b.strukt, &b.slot)));
        slots.dedup_by(|a, b| a.strukt == b.strukt && a.slot == b.slot);
        drains.slots = slots;
        drains
    }

    /// The core's raised counter when it calls `strukt.slot`, if the slot is drained.
    pub fn slot(&self, strukt: &str, slot: &str) -> Option<&DrainedSlot> {
        self.slots
            .iter()
            .find(|d| d.strukt == strukt && d.slot == slot)
    }

    /// Whether `base->field`, with `base` of type `strukt *`, is a drain counter.
    pub fn is_counter(&self, strukt: &str, field: &str) -> bool {
        self.counters
            .contains(&(strukt.to_string(), field.to_string()))
    }

    fn read_slots(&self, index: &Index, f: &FileFacts) -> Vec<DrainedSlot> {
        let mut out = Vec::new();
        for update in f.field_assigns.iter().filter(|a| {
            let v = a.value.trim_end();
            v.ends_with("++") || v.starts_with("++")
        }) {
            let Some(caller) = update.caller else {
                continue;
            };
            let Some(function) = f.functions.get(caller as usize) else {
                continue;
            };
            let Some(ty) = index.local_struct(function, &update.base) else {
                continue;
            };
            if !self.is_counter(ty, &update.field) {
                continue;
            }
            let prefix = format!("{}->", update.base);
            for c in f
                .calls
                .iter()
                .filter(|c| c.caller == Some(caller) && c.indirect && c.line >= update.line)
            {
                let callee: String = c.callee.chars().filter(|c| !c.is_whitespace()).collect();
                let callee = callee.trim_start_matches(['(', '*']).trim_end_matches(')');
                let Some(slot) = callee.strip_prefix(&prefix) else {
                    continue;
                };
                if crate::ctext::is_word(slot) {
                    out.push(DrainedSlot {
                        strukt: ty.to_string(),
                        slot: slot.to_string(),
                        update: update.value.to_string(),
                        file: f.path.to_string(),
                        line: update.line,
                    });
                }
            }
        }
        out
    }
}

/// The drain counters file `f` tests before a wait, as (struct, field).
fn read_counters(index: &Index, f: &FileFacts, waits: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let is_wait = |c: u32| {
        f.calls
            .get(c as usize)
            .is_some_and(|c| !c.indirect && waits.iter().any(|w| *w == c.callee))
    };
    // Only a function that calls a wait can test a counter before it: the calls say which,
    // without walking every body of the tree.
    let waiting: FxHashSet<u32> = (0..f.calls.len() as u32)
        .filter(|&c| is_wait(c))
        .filter_map(|c| f.calls[c as usize].caller)
        .collect();
    for (i, function) in f.functions.iter().enumerate() {
        if !waiting.contains(&(i as u32)) {
            continue;
        }
        let body = &function.body;
        for stmt in &body.stmts {
            // The test must guard the wait: `if (reg->use != 0) { ... schedule(); }` or
            // `while (reg->use) schedule();`.
            let (cond, guarded) = match &stmt.kind {
                StmtKind::If { cond, then, .. } => (cond, *then),
                StmtKind::While { cond, body } | StmtKind::DoWhile { cond, body } => (cond, *body),
                _ => continue,
            };
            if !calls_under(body, guarded).any(is_wait) {
                continue;
            }
            let mut tested = Vec::new();
            fields_read(&cond.value, &mut tested);
            for (base, field) in tested {
                let is_param = function
                    .params
                    .iter()
                    .any(|p| p.name.as_deref() == Some(base.as_str()));
                let ty = index.local_struct(function, &base).map(str::to_string);
                if let (true, Some(ty)) = (is_param, ty) {
                    out.push((ty, field));
                }
            }
        }
    }
    out
}

/// The calls (indices into the file's calls) of statement `id` and everything under it.
fn calls_under(body: &Body, id: StmtId) -> impl Iterator<Item = u32> + '_ {
    let mut stack = vec![id];
    let mut ids = Vec::new();
    while let Some(s) = stack.pop() {
        if let Some(stmt) = body.stmts.get(s as usize) {
            ids.push(s);
            stack.extend(stmt.kind.children());
        }
    }
    ids.into_iter().flat_map(move |s| {
        let stmt = &body.stmts[s as usize];
        let exprs: Vec<&Expr> = match &stmt.kind {
            StmtKind::Expr(e) | StmtKind::Declare(e) => vec![e],
            StmtKind::Return(e) => e.iter().collect(),
            _ => Vec::new(),
        };
        exprs.into_iter().flat_map(|e| {
            e.events.iter().filter_map(|ev| match ev {
                Event::Call(c) => Some(*c),
                Event::Name(_) | Event::Bump { .. } | Event::Step { .. } => None,
            })
        })
    })
}

/// `p->F` fields a value reads, as (p, F).
fn fields_read(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Field(f) => {
            if let Some((base, field)) = f.split_once("->") {
                if crate::ctext::is_word(base) && crate::ctext::is_word(field) {
                    out.push((base.to_string(), field.to_string()));
                }
            }
        }
        Value::Not(v) => fields_read(v, out),
        Value::Cmp(a, _, b) | Value::And(a, b) | Value::Or(a, b) => {
            fields_read(a, out);
            fields_read(b, out);
        }
        _ => {}
    }
}
