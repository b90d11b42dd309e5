//! The big kernel lock's nesting depth inside one function, relative to its entry.
//!
//! A forward walk over the function's CFG with the set of depths a path can have at each node.
//! `lock_kernel` adds one, `unlock_kernel` removes one, a call to a function whose own walk ends
//! with a different depth applies that change. Sleeping does not change the depth: `schedule`
//! drops the lock while the task sleeps and retakes it at the same nesting before returning
//! (`release_kernel_lock`/`reacquire_kernel_lock`), so code after a sleep holds it again. That
//! the lock was *released during* the sleep is rule 2's business (MR001), not this walk's.

use rustc_hash::FxHashMap;

use crate::cfg::{Cfg, Op, ENTRY, EXIT};
use crate::facts::{Event, Expr, Function, Value};

/// Lowest and highest depth change kept; beyond them the value saturates.
const MIN_DELTA: i8 = -2;
const MAX_DELTA: i8 = 3;

/// A set of lock-depth changes since function entry: bit `i` stands for `i + MIN_DELTA`.
/// The ends saturate: the top bit means "3 or more", the bottom one "-2 or less".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Deltas(u8);

impl Deltas {
    pub const EMPTY: Deltas = Deltas(0);
    /// No change: the depth the function was entered with.
    pub const ZERO: Deltas = Deltas(1 << (-MIN_DELTA) as u8);

    pub fn single(d: i8) -> Deltas {
        Deltas(1 << (d.clamp(MIN_DELTA, MAX_DELTA) - MIN_DELTA) as u8)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Deltas) -> Deltas {
        Deltas(self.0 | other.0)
    }

    pub fn contains(self, d: i8) -> bool {
        self.0 & Deltas::single(d).0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = i8> {
        (MIN_DELTA..=MAX_DELTA).filter(move |&d| self.contains(d))
    }

    /// Every value moved by `by`, saturating at the ends.
    pub fn shift(self, by: i8) -> Deltas {
        self.iter()
            .fold(Deltas::EMPTY, |acc, d| acc.union(Deltas::single(d + by)))
    }

    /// Every value moved by every change in `by`.
    pub fn then(self, by: Deltas) -> Deltas {
        by.iter()
            .fold(Deltas::EMPTY, |acc, b| acc.union(self.shift(b)))
    }

    /// The changes that do not release more than the function took.
    pub fn balanced_or_taken(self) -> Deltas {
        Deltas(self.0 & !(Deltas::ZERO.0 - 1))
    }

    /// Whether every path has taken the lock at least once more than it released it: the lock
    /// is held whatever the entry depth was.
    pub fn all_positive(self) -> bool {
        !self.is_empty() && self.iter().all(|d| d >= 1)
    }
}

/// What a call does to the lock depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Lock,
    Unlock,
    /// A function whose own paths end with these depth changes.
    Callee(Deltas),
}

impl Effect {
    fn apply(self, before: Deltas) -> Deltas {
        match self {
            Effect::None => before,
            Effect::Lock => before.shift(1),
            Effect::Unlock => before.shift(-1),
            Effect::Callee(d) => before.then(d),
        }
    }
}

/// The lock depths of one function: before each of its calls, and at its returns.
#[derive(Debug, Clone, Default)]
pub struct LockSummary {
    /// Depth changes on the paths reaching each call (index into the file's calls). A call
    /// that no path reaches is absent.
    at_call: FxHashMap<u32, Deltas>,
    /// Depth changes at the function's returns.
    pub exit: Deltas,
    /// The function was walked (it touches the lock). Otherwise every call is at `ZERO`.
    walked: bool,
}

impl LockSummary {
    /// A function that neither takes nor releases the lock: every call at the entry depth.
    pub fn neutral() -> LockSummary {
        LockSummary {
            at_call: FxHashMap::default(),
            exit: Deltas::ZERO,
            walked: false,
        }
    }

    /// Whether some call of the function runs with the lock taken on every path.
    pub fn holds_around_a_call(&self) -> bool {
        self.walked && self.at_call.values().any(|d| d.all_positive())
    }

    pub fn at_call(&self, call: u32) -> Deltas {
        if self.walked {
            self.at_call.get(&call).copied().unwrap_or_default()
        } else {
            Deltas::ZERO
        }
    }
}

/// A function without a statement tree: its calls in source order, one path.
pub fn summarise_calls(
    calls: impl Iterator<Item = u32>,
    effect: &mut dyn FnMut(u32) -> Effect,
) -> LockSummary {
    let mut summary = LockSummary {
        walked: true,
        exit: Deltas::EMPTY,
        ..LockSummary::default()
    };
    let mut d = Deltas::ZERO;
    for c in calls {
        let at = summary.at_call.entry(c).or_default();
        *at = at.union(d);
        d = effect(c).apply(d);
    }
    summary.exit = d;
    summary
}

/// Walks one function. `effect` says what the call `calls[i]` of its file does to the lock.
pub fn summarise(function: &Function, effect: &mut dyn FnMut(u32) -> Effect) -> LockSummary {
    let cfg = Cfg::build(&function.body);
    let mut state = vec![Deltas::EMPTY; cfg.nodes.len()];
    let mut summary = LockSummary {
        walked: true,
        exit: Deltas::EMPTY,
        ..LockSummary::default()
    };
    let mut effects: FxHashMap<u32, Effect> = FxHashMap::default();
    state[ENTRY] = Deltas::ZERO;
    let mut work = vec![ENTRY];
    while let Some(id) = work.pop() {
        let node = cfg.node(id);
        let mut d = state[id];
        let expr: Option<&Expr> = match node.op {
            Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) => Some(e),
            Op::Return(None) | Op::Nop => None,
        };
        for event in expr.map_or(&[][..], |e| &e.events[..]) {
            if let Event::Call(c) = *event {
                let at = summary.at_call.entry(c).or_default();
                *at = at.union(d);
                let e = *effects.entry(c).or_insert_with(|| effect(c));
                d = e.apply(d);
            }
        }
        if let Op::Return(Some(e)) = node.op {
            if is_failure(&e.value) {
                // An error return that releases a lock the function never took is a bug of
                // that error path (cpia's register routine on a failed allocation): the
                // callers' depth after the call is judged from the other returns.
                d = d.balanced_or_taken();
            }
        }
        if id == EXIT {
            summary.exit = summary.exit.union(d);
        }
        for &s in &node.succ {
            let merged = state[s].union(d);
            if merged != state[s] {
                state[s] = merged;
                work.push(s);
            }
        }
    }
    summary
}

/// A value returned only on failure: NULL, a negated error code or a negative number.
fn is_failure(v: &Value) -> bool {
    matches!(v, Value::Null | Value::NegErrno(_)) || matches!(v, Value::Int(i) if *i < 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_saturate() {
        let z = Deltas::ZERO;
        assert_eq!(z.shift(1), Deltas::single(1));
        assert_eq!(z.shift(5), Deltas::single(3));
        assert_eq!(z.shift(-5), Deltas::single(-2));
        assert_eq!(Deltas::single(3).shift(1), Deltas::single(3));
        let both = z.union(Deltas::single(1));
        assert_eq!(both.iter().collect::<Vec<_>>(), vec![0, 1]);
        assert!(!both.all_positive());
        assert!(both.shift(1).all_positive());
        assert_eq!(
            Deltas::single(1).then(both),
            Deltas::single(1).union(Deltas::single(2))
        );
        assert!(!Deltas::EMPTY.all_positive());
        let unbalanced = Deltas::single(-1).union(z).union(Deltas::single(2));
        assert_eq!(unbalanced.balanced_or_taken(), z.union(Deltas::single(2)));
    }
}
