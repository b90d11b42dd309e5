//! What a function's own tests tell of a parameter it passes on (see the parent's docs): at
//! `dev_ioctl(cmd, arg)` under `case SIOCGIFFLAGS: case SIOCSIFLINK:` of `switch (cmd)`,
//! `cmd` is one of those, whatever the caller passed; under `if (cmd >= A && cmd <= B)` it
//! is in that range.

use rustc_hash::FxHashMap;

use super::values::{join, Set, Values};
use crate::cfg::{Cfg, Op, ENTRY};
use crate::facts::{CmpOp, Event, Value};

/// Ranges this narrow or narrower are listed as sets.
const LISTED: i64 = 16;

/// What is known of a value at a point: anything, a range, or a set of values.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Known {
    Any,
    Range(i64, i64),
    Set(Set),
}

impl Known {
    fn range(lo: i64, hi: i64) -> Known {
        match hi.checked_sub(lo) {
            Some(d) if d < 0 => Known::Set(Vec::new()),
            Some(d) if d < LISTED => Known::Set((lo..=hi).collect()),
            _ => Known::Range(lo, hi),
        }
    }

    /// The values, when listed.
    pub(super) fn set(&self) -> Option<&Set> {
        match self {
            Known::Set(s) => Some(s),
            _ => None,
        }
    }

    fn meet(&self, s: &Set) -> Known {
        Known::Set(match self {
            Known::Any => s.clone(),
            Known::Range(lo, hi) => s.iter().copied().filter(|x| lo <= x && x <= hi).collect(),
            Known::Set(t) => t.iter().copied().filter(|x| s.contains(x)).collect(),
        })
    }

    fn meet_range(&self, lo: i64, hi: i64) -> Known {
        match self {
            Known::Any => Known::range(lo, hi),
            Known::Range(a, b) => Known::range(lo.max(*a), hi.min(*b)),
            Known::Set(t) => {
                Known::Set(t.iter().copied().filter(|x| lo <= *x && *x <= hi).collect())
            }
        }
    }

    fn without(&self, v: i64) -> Known {
        match self {
            Known::Set(t) => Known::Set(t.iter().copied().filter(|x| *x != v).collect()),
            k => k.clone(),
        }
    }

    fn join(&self, other: &Known) -> Known {
        let hull = |s: &Set| (s.first().copied(), s.last().copied());
        match (self, other) {
            (Known::Any, _) | (_, Known::Any) => Known::Any,
            (Known::Set(a), Known::Set(b)) => {
                join(a.clone(), b.clone()).map_or_else(|| hull_of(a, b), Known::Set)
            }
            (Known::Range(a, b), Known::Range(c, d)) => Known::range(*a.min(c), *b.max(d)),
            (Known::Range(a, b), Known::Set(s)) | (Known::Set(s), Known::Range(a, b)) => {
                match hull(s) {
                    (Some(lo), Some(hi)) => Known::range(lo.min(*a), hi.max(*b)),
                    _ => Known::Range(*a, *b),
                }
            }
        }
    }
}

fn hull_of(a: &Set, b: &Set) -> Known {
    let lo = a.first().into_iter().chain(b.first()).min();
    let hi = a.last().into_iter().chain(b.last()).max();
    match (lo, hi) {
        (Some(lo), Some(hi)) => Known::range(*lo, *hi),
        _ => Known::Set(Vec::new()),
    }
}

/// Per call of the body (its index in the file's calls), what the body's own tests say of
/// `name` (a parameter it never assigns) where the call is made.
pub(super) fn at_calls(cfg: &Cfg, name: &str, values: &Values) -> FxHashMap<u32, Known> {
    let n = cfg.nodes.len();
    let mut state: Vec<Option<Known>> = vec![None; n];
    state[ENTRY] = Some(Known::Any);
    let mut work = vec![ENTRY];
    let mut budget = n.saturating_mul(8).max(64);
    let edge = Edge { name, values };
    while let Some(id) = work.pop() {
        if budget == 0 {
            // No fixpoint within bounds: nothing is claimed.
            return FxHashMap::default();
        }
        budget -= 1;
        let Some(k) = state[id].clone() else { continue };
        let node = cfg.node(id);
        for (i, &s) in node.succ.iter().enumerate() {
            let out = edge.after(cfg, id, i, &k);
            let new = match &state[s] {
                None => out,
                Some(old) => old.join(&out),
            };
            if state[s].as_ref() != Some(&new) {
                state[s] = Some(new);
                work.push(s);
            }
        }
    }
    let mut out = FxHashMap::default();
    for (id, node) in cfg.nodes.iter().enumerate() {
        let (Some(k), Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e))) = (&state[id], &node.op)
        else {
            continue;
        };
        for ev in &e.events {
            if let Event::Call(c) = ev {
                out.insert(*c, k.clone());
            }
        }
    }
    out
}

struct Edge<'e, 'a> {
    name: &'e str,
    values: &'e Values<'a>,
}

impl Edge<'_, '_> {
    /// What holds on successor `i` of node `id` when `k` holds before it.
    fn after(&self, cfg: &Cfg, id: usize, i: usize, k: &Known) -> Known {
        let node = cfg.node(id);
        match node.op {
            Op::Branch(e) if node.succ.len() == 2 => self.narrow(&e.value, i == 0, k, 0),
            Op::Eval(e) if matches!(&e.value, Value::Var(v) if v == self.name) => {
                let Some(labels) = cfg.switch_labels.get(&id) else {
                    return k.clone();
                };
                match labels.get(i) {
                    Some(Some(l)) => self.values.of(l).map_or_else(|| k.clone(), |s| k.meet(&s)),
                    // Past every case: none of the values a case surely has.
                    _ => labels.iter().flatten().fold(k.clone(), |k, l| {
                        match self.values.of(l).as_deref() {
                            Some([v]) => k.without(*v),
                            _ => k,
                        }
                    }),
                }
            }
            _ => k.clone(),
        }
    }

    fn narrow(&self, v: &Value, truth: bool, k: &Known, depth: u8) -> Known {
        if depth > 16 {
            return k.clone();
        }
        let d = depth + 1;
        match v {
            Value::Not(a) => self.narrow(a, !truth, k, d),
            Value::And(a, b) | Value::Or(a, b) => {
                let both = matches!(v, Value::And(..)) == truth;
                if both {
                    self.narrow(b, truth, &self.narrow(a, truth, k, d), d)
                } else {
                    self.narrow(a, truth, k, d)
                        .join(&self.narrow(b, truth, k, d))
                }
            }
            Value::Cmp(a, op, b) => {
                let (op, c) = match (&**a, &**b) {
                    (Value::Var(x), c) if x == self.name => (*op, c),
                    (c, Value::Var(x)) if x == self.name => (flip(*op), c),
                    _ => return k.clone(),
                };
                let Some(c) = self.constant(c) else {
                    return k.clone();
                };
                let op = if truth { op } else { negate(op) };
                match (op, c.as_slice()) {
                    (CmpOp::Eq, _) => k.meet(&c),
                    (CmpOp::Ne, [c]) => k.without(*c),
                    (CmpOp::Lt, [c]) => k.meet_range(i64::MIN, c.saturating_sub(1)),
                    (CmpOp::Le, [c]) => k.meet_range(i64::MIN, *c),
                    (CmpOp::Gt, [c]) => k.meet_range(c.saturating_add(1), i64::MAX),
                    (CmpOp::Ge, [c]) => k.meet_range(*c, i64::MAX),
                    _ => k.clone(),
                }
            }
            _ => k.clone(),
        }
    }

    fn constant(&self, v: &Value) -> Option<Set> {
        match v {
            Value::Int(k) => Some(vec![*k]),
            Value::Var(n) => self.values.of(n),
            _ => None,
        }
    }
}

/// `c op x` as `x op' c`.
pub(super) fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}
