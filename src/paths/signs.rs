//! What the walk knows of values: the signs of returned variables and of the result of the
//! call that last split the path, narrowed by the branch conditions that test them.

use super::{CallOracle, Signs, State, Walker, ANY, NEG, POS, ZERO};
use crate::facts::{CmpOp, Value};

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
            // A choice is not narrowed through (it was `Unknown` before the facts kept it).
            Value::Field(_) | Value::BitAnd(..) | Value::Choice(..) | Value::Unknown => ANY,
        }
    }

    /// The states in which `v` has the truth value `truth`; none if it cannot.
    pub(super) fn assume(&self, v: &Value, truth: bool, state: State, depth: u8) -> Vec<State> {
        if depth > 16 {
            return vec![state];
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
                if truth {
                    state.mode = self.masks.iter().position(|x| *x == v).map(|k| k as u8);
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
