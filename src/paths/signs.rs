//! What the walk knows of values: the signs of returned variables and of the result of the
//! call that last split the path, narrowed by the branch conditions that test them.

use super::{CallOracle, CountEffect, Signs, State, Walker, ANY, MAX_MASKS, NEG, POS, ZERO};
use crate::cfg::{Cfg, Op};
use crate::facts::{CmpOp, Value};
use crate::facts::{Event, Span};

impl<O: CallOracle> Walker<'_, '_, O> {
    /// The possible signs of a value in a state.
    pub(super) fn signs(&self, v: &Value, state: &State) -> Signs {
        match v {
            Value::Int(0) | Value::Null => ZERO,
            Value::Int(k) if *k < 0 => NEG,
            Value::Int(_) => POS,
            Value::NegErrno(_) => NEG,
            Value::Var(name) => match self.tracked.get(name.as_str()) {
                Some(&k) => state.vars[k],
                None => ANY,
            },
            Value::Call(c) => match state.last_result {
                Some((last, signs)) if last == *c => signs,
                _ => ANY,
            },
            Value::Not(inner) => match self.signs(inner, state) {
                ZERO => POS,
                s if s & ZERO == 0 => ZERO,
                _ => ZERO | POS,
            },
            Value::Cmp(..) | Value::And(..) | Value::Or(..) => ZERO | POS,
            Value::Field(f) => self.counter_signs(f, state),
            // A choice is not narrowed through (it was `Unknown` before the facts kept it).
            Value::BitAnd(..) | Value::Choice(..) | Value::Element(_) | Value::Unknown => ANY,
        }
    }

    /// The states in which `v` has the truth value `truth`; none if it cannot.
    pub(super) fn assume(&self, v: &Value, truth: bool, state: State, depth: u8) -> Vec<State> {
        if depth > 16 {
            return vec![state];
        }
        if let Some(states) = self.assume_counter(v, truth, &state) {
            return states;
        }
        match v {
            Value::Not(inner) => self.assume(inner, !truth, state, depth + 1),
            Value::And(a, b) | Value::Or(a, b) => {
                let is_and = matches!(v, Value::And(..));
                if truth == is_and {
                    // Both sides hold (&&), or both fail (|| false).
                    let mut out = Vec::new();
                    for s in self.assume(a, truth, state, depth + 1) {
                        out.extend(self.assume(b, truth, s, depth + 1));
                    }
                    out
                } else {
                    // Either side decides.
                    let mut out = self.assume(a, truth, state.clone(), depth + 1);
                    if self.oracle.short_circuits() {
                        out = out.into_iter().filter_map(|s| self.not_run(b, s)).collect();
                    }
                    for s in self.assume(a, !truth, state, depth + 1) {
                        out.extend(self.assume(b, truth, s, depth + 1));
                    }
                    out
                }
            }
            Value::Var(_) | Value::Call(_) => {
                self.restrict(v, if truth { NEG | POS } else { ZERO }, state)
            }
            Value::Cmp(l, op, r) => {
                let (var, op, k) = match (&**l, &**r) {
                    (x, Value::Int(k)) => (x, *op, *k),
                    (x, Value::Null) => (x, *op, 0),
                    (Value::Int(k), x) => (x, flip(*op), *k),
                    (Value::Null, x) => (x, flip(*op), 0),
                    _ => return vec![state],
                };
                if k != 0 {
                    return vec![state];
                }
                let holds = match op {
                    CmpOp::Eq => ZERO,
                    CmpOp::Ne => NEG | POS,
                    CmpOp::Lt => NEG,
                    CmpOp::Le => NEG | ZERO,
                    CmpOp::Gt => POS,
                    CmpOp::Ge => ZERO | POS,
                };
                self.restrict(var, if truth { holds } else { ANY & !holds }, state)
            }
            Value::Int(k) => {
                if (*k != 0) == truth {
                    vec![state]
                } else {
                    Vec::new()
                }
            }
            Value::Null => {
                if truth {
                    Vec::new()
                } else {
                    vec![state]
                }
            }
            Value::BitAnd(..) => {
                let mut state = state;
                let k = self.masks.iter().position(|x| *x == v);
                if truth {
                    state.mode = k.map(|k| k as u8);
                }
                if let Some(k) = k.filter(|&k| self.release_masks & (1 << k) != 0) {
                    // The open mode does not change while the routine runs: a second test of
                    // it goes the way the first went.
                    if state.modes & (1 << (k + if truth { 8 } else { 0 })) != 0 {
                        return Vec::new();
                    }
                    state.modes |= 1 << (k + if truth { 0 } else { 8 });
                }
                vec![state]
            }
            // The module's own module field is set whenever its code runs.
            Value::Field(f) if !truth && self.oracle.holds_own_module(f) => Vec::new(),
            _ => vec![state],
        }
    }

    /// `state` on a path where `b` was not evaluated: if the call that last split the path is
    /// in `b`, only its outcome that left the count as it was (none if it has no such).
    fn not_run(&self, b: &Value, state: State) -> Option<State> {
        let Some((c, _)) = state.last_result else {
            return Some(state);
        };
        if !calls(b, c) {
            return Some(state);
        }
        let super::CountEffect::Split(outcomes) = self.oracle.call_effect(c) else {
            return Some(state);
        };
        self.restrict(&Value::Call(c), outcomes.results[1], state)
            .into_iter()
            .next()
    }

    /// `state` if `v` (a tracked variable, the result of the call that last split the path)
    /// may have a sign in `allowed`, narrowed to them; none if it cannot.
    fn restrict(&self, v: &Value, allowed: Signs, mut state: State) -> Vec<State> {
        let signs = match v {
            Value::Var(name) => match self.tracked.get(name.as_str()) {
                Some(&k) => &mut state.vars[k],
                None => return vec![state],
            },
            Value::Call(c) => match &mut state.last_result {
                Some((last, signs)) if last == c => signs,
                _ => return vec![state],
            },
            _ => return vec![state],
        };
        *signs &= allowed;
        if *signs == 0 {
            Vec::new()
        } else {
            vec![state]
        }
    }
}

/// The bit tests of a condition, in order.
pub(super) fn masks_of<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::BitAnd(..) if out.len() < MAX_MASKS && !out.contains(&v) => out.push(v),
        Value::Not(a) => masks_of(a, out),
        Value::And(a, b) | Value::Or(a, b) => {
            masks_of(a, out);
            masks_of(b, out);
        }
        _ => {}
    }
}

/// The bit tests of the routine's branches, at most [`MAX_MASKS`].
pub(super) fn masks<'b>(cfg: &Cfg<'b>) -> Vec<&'b Value> {
    let mut masks = Vec::new();
    for node in &cfg.nodes {
        if let Op::Branch(e) = node.op {
            masks_of(&e.value, &mut masks);
        }
    }
    masks
}

impl<O: CallOracle> Walker<'_, '_, O> {
    /// The masks that the per-mode releases called on the routine's paths test: the walk
    /// follows only those in `State::modes`, so other bit tests split no state.
    pub(super) fn release_masks(&self) -> u8 {
        let mut bits = 0u8;
        for node in &self.cfg.nodes {
            let (Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e))) = node.op else {
                continue;
            };
            for ev in &e.events {
                let Event::Call(c) = ev else { continue };
                if self.oracle.call_effect(*c) != CountEffect::DropAll {
                    continue;
                }
                for m in self.oracle.release_modes(*c).into_iter().flatten() {
                    if let Some(k) = self.masks.iter().position(|x| **x == m) {
                        bits |= 1 << k;
                    }
                }
            }
        }
        bits
    }

    /// Before the driver's own release runs on a failure path (`DropAll`): when it drops one
    /// count per open mode and this path knows each mode's test, it drops that many; more than
    /// the path holds is a decrement without an increment (a read+write open whose read setup
    /// fails holds one count, its release drops two).
    pub(super) fn drop_all_modes(
        &mut self,
        c: u32,
        effect: CountEffect,
        span: Span,
        state: &mut State,
    ) {
        if effect != CountEffect::DropAll || state.count <= 0 {
            return;
        }
        let Some(modes) = self.oracle.release_modes(c) else {
            return;
        };
        let mut drops = 0;
        for m in &modes {
            let Some(k) = self.masks.iter().position(|x| *x == m) else {
                return;
            };
            match ((state.modes >> k) & 1, (state.modes >> (k + 8)) & 1) {
                (1, _) => drops += 1,
                (0, 1) => {}
                _ => return,
            }
        }
        if drops > state.count && self.note("dec0", span, Span::default()) {
            self.report.dec_without_inc.push(span);
        }
    }
}

/// Whether value `v` contains call `c`.
fn calls(v: &Value, c: u32) -> bool {
    match v {
        Value::Call(k) => *k == c,
        Value::Not(a) => calls(a, c),
        Value::Cmp(a, _, b) | Value::And(a, b) | Value::Or(a, b) => calls(a, c) || calls(b, c),
        _ => false,
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
