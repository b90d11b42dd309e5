//! Counters the routine steps and tests itself (issue 13, class 3): a driver that pins its
//! module while one of its objects is open counts the opens in a field and moves the module
//! count on the field's zero crossings,
//!
//! ```c
//! if (!port->gs.count) MOD_INC_USE_COUNT;     port->gs.count++;
//! ...
//! port->gs.count--;    if (!port->gs.count) MOD_DEC_USE_COUNT;
//! ```
//!
//! so the failure path drops exactly when the open raised. The walk keeps, per path, such a
//! field's value as its value at entry (known by its signs) plus the routine's own steps, and
//! a test of the field narrows the entry value as a test of a variable does. Other code's
//! changes (another open while this one sleeps) keep the driver's invariant (pinned while the
//! field is nonzero) and are not followed. A field the routine also stores with `=` is not
//! followed; an assignment of its base variable (`port = &ports[line]`) starts it afresh.

use super::{CallOracle, Signs, State, Walker, ANY, NEG, POS, ZERO};
use crate::cfg::{Cfg, Op};
use crate::facts::{CmpOp, Event, Function, Value};
use rustc_hash::FxHashMap as HashMap;

/// Counters followed per routine.
const MAX_COUNTERS: usize = 4;
/// Steps followed from the entry value; past them the value is lost.
const MAX_DELTA: i8 = 8;

/// A counter's value on a path: `entry + delta`, where `entry` is the field's value when the
/// routine began, known by its signs. `delta == i8::MIN`: not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Counter {
    entry: Signs,
    delta: i8,
}

impl Counter {
    pub(super) const START: Counter = Counter {
        entry: ANY,
        delta: 0,
    };
    pub(super) const LOST: Counter = Counter {
        entry: ANY,
        delta: i8::MIN,
    };

    fn step(self, up: bool) -> Counter {
        let delta = self.delta.saturating_add(if up { 1 } else { -1 });
        if self == Self::LOST || delta.abs() > MAX_DELTA {
            Self::LOST
        } else {
            Counter { delta, ..self }
        }
    }

    /// The counter where `value op k` holds, or `None` where it cannot.
    fn assume(self, op: CmpOp, k: i64) -> Option<Counter> {
        if self == Self::LOST {
            return Some(self);
        }
        let delta = i64::from(self.delta);
        if self.entry == ZERO {
            // The value is known exactly.
            return compare(delta, op, k).then_some(self);
        }
        let entry = self.entry & entry_signs(op, k - delta);
        (entry != 0).then_some(Counter { entry, ..self })
    }

    /// The signs of the value.
    pub(super) fn signs(self) -> Signs {
        match (self.entry, self.delta) {
            (_, i8::MIN) => ANY,
            (e, 0) => e,
            (ZERO, d) => sign(i64::from(d)),
            _ => ANY,
        }
    }
}

fn sign(x: i64) -> Signs {
    match x {
        0 => ZERO,
        x if x < 0 => NEG,
        _ => POS,
    }
}

fn compare(x: i64, op: CmpOp, k: i64) -> bool {
    match op {
        CmpOp::Eq => x == k,
        CmpOp::Ne => x != k,
        CmpOp::Lt => x < k,
        CmpOp::Le => x <= k,
        CmpOp::Gt => x > k,
        CmpOp::Ge => x >= k,
    }
}

/// The signs of the numbers `x` with `x op t`.
fn entry_signs(op: CmpOp, t: i64) -> Signs {
    match (op, sign(t)) {
        (CmpOp::Eq, s) => s,
        (CmpOp::Ne, ZERO) => NEG | POS,
        (CmpOp::Lt, ZERO) => NEG,
        (CmpOp::Le, ZERO) | (CmpOp::Lt | CmpOp::Le, NEG) => NEG | if t == 0 { ZERO } else { 0 },
        (CmpOp::Gt, ZERO) => POS,
        (CmpOp::Ge, ZERO) | (CmpOp::Gt | CmpOp::Ge, POS) => POS | if t == 0 { ZERO } else { 0 },
        _ => ANY,
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

/// The fields the routine steps (`f++`, `f--`) and tests in a branch, and does not store with
/// `=` (the oracle says), at most [`MAX_COUNTERS`], numbered.
pub(super) fn tracked<'b, O: CallOracle>(
    cfg: &Cfg<'b>,
    oracle: &O,
    function: &Function,
) -> HashMap<&'b str, usize> {
    let mut stepped: Vec<&'b str> = Vec::new();
    let mut tested: Vec<&'b str> = Vec::new();
    for node in &cfg.nodes {
        let (Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e))) = node.op else {
            continue;
        };
        for ev in &e.events {
            if let Event::Step { field, .. } = ev {
                stepped.push(field.as_str());
            }
        }
        if let Op::Branch(e) = node.op {
            fields_tested(&e.value, &mut tested);
        }
    }
    let mut out = HashMap::default();
    for f in stepped {
        if out.len() < MAX_COUNTERS
            && tested.contains(&f)
            && !oracle.stores_field(f, (function.line, function.end_line))
        {
            let next = out.len();
            out.entry(f).or_insert(next);
        }
    }
    out
}

/// The fields a condition tests against zero or a constant.
fn fields_tested<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::Field(f) => out.push(f.as_str()),
        Value::Not(a) => fields_tested(a, out),
        Value::And(a, b) | Value::Or(a, b) | Value::Cmp(a, _, b) => {
            fields_tested(a, out);
            fields_tested(b, out);
        }
        _ => {}
    }
}

impl<O: CallOracle> Walker<'_, '_, O> {
    /// `f++` or `f--` of a followed counter.
    pub(super) fn step(&self, field: &str, up: bool, state: &mut State) {
        if let Some(&k) = self.counters.get(field) {
            state.counters[k] = state.counters[k].step(up);
        }
    }

    /// An assignment of `var` (`port = &ports[line]`) makes the counters reached through it
    /// those of another object: their value is unknown again, and the steps count from there.
    pub(super) fn rebase_counters(&self, var: &str, state: &mut State) {
        for (field, &k) in &self.counters {
            let root = field.split(['-', '.']).next().unwrap_or("");
            if root == var {
                state.counters[k] = Counter::START;
            }
        }
    }

    /// The state where the test `field op k` (`truth`) holds, if it can; `None` when the field
    /// is not followed (the caller keeps the state as it is).
    pub(super) fn assume_counter(
        &self,
        v: &Value,
        truth: bool,
        state: &State,
    ) -> Option<Vec<State>> {
        let (field, op, k) = match v {
            Value::Field(f) => (f, CmpOp::Ne, 0),
            Value::Cmp(l, op, r) => match (&**l, &**r) {
                (Value::Field(f), Value::Int(k)) => (f, *op, *k),
                (Value::Int(k), Value::Field(f)) => (f, flip(*op), *k),
                _ => return None,
            },
            _ => return None,
        };
        let &i = self.counters.get(field.as_str())?;
        let op = if truth { op } else { negate(op) };
        let mut state = state.clone();
        Some(match state.counters[i].assume(op, k) {
            Some(c) => {
                state.counters[i] = c;
                vec![state]
            }
            None => Vec::new(),
        })
    }

    /// The signs of a followed counter's value.
    pub(super) fn counter_signs(&self, field: &str, state: &State) -> Signs {
        self.counters
            .get(field)
            .map_or(ANY, |&k| state.counters[k].signs())
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_raised_from_zero_and_lowered_is_zero_again() {
        let c = Counter::START.assume(CmpOp::Eq, 0).unwrap();
        let c = c.step(true).step(false);
        assert!(c.assume(CmpOp::Eq, 0).is_some());
        assert!(c.assume(CmpOp::Ne, 0).is_none());
    }

    #[test]
    fn a_counter_nonzero_at_entry_is_nonzero_after_a_step_there_and_back() {
        let c = Counter::START.assume(CmpOp::Ne, 0).unwrap();
        let c = c.step(true).step(false);
        assert!(c.assume(CmpOp::Eq, 0).is_none());
        // One step away it may be zero (entry -1 or 1).
        assert!(c.step(false).assume(CmpOp::Eq, 0).is_some());
    }

    #[test]
    fn a_lost_counter_allows_every_test() {
        let mut c = Counter::START;
        for _ in 0..=MAX_DELTA {
            c = c.step(true);
        }
        assert_eq!(c, Counter::LOST);
        assert!(c.assume(CmpOp::Eq, 0).is_some() && c.assume(CmpOp::Ne, 0).is_some());
    }
}
