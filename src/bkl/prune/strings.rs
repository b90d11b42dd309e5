//! Which string literals a variable must equal at each call of a function: facts from
//! `strcmp`-style tests, carried forward over the function's CFG (see [`super`]).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::cfg::{Cfg, Op, ENTRY};
use crate::facts::{CmpOp, Event, Expr, FileFacts, Value};

/// What is known of one variable on the paths reaching a point.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fact {
    /// It is 0.
    Zero,
    /// When it is nonzero, variable `.0` equals the literal `.1`.
    Flag(String, String),
    /// It equals one of these literals.
    Lits(BTreeSet<String>),
}

type State = BTreeMap<String, Fact>;

/// What a test's outcome tells.
enum Must {
    Nothing,
    On(String, BTreeSet<String>),
    /// The outcome cannot happen.
    Never,
}

/// The variables of a function fixed to literals at each of its calls, by call index.
pub type AtCalls = FxHashMap<u32, Vec<(String, BTreeSet<String>)>>;

pub(super) struct Strings<'a> {
    file: &'a FileFacts,
    string_equal: &'a [String],
}

impl<'a> Strings<'a> {
    pub fn new(file: &'a FileFacts, string_equal: &'a [String]) -> Self {
        Self { file, string_equal }
    }

    /// `strcmp(x, L)` as (x, L), for the call with index `call`.
    fn test(&self, call: u32) -> Option<(String, String)> {
        let c = self.file.calls.get(call as usize)?;
        if c.indirect || !self.string_equal.iter().any(|n| *n == c.callee) {
            return None;
        }
        let [a, b] = &c.args[..] else { return None };
        match (
            plain_name(a),
            self.literal(b),
            plain_name(b),
            self.literal(a),
        ) {
            (Some(x), Some(l), ..) | (_, _, Some(x), Some(l)) => Some((x.to_string(), l)),
            _ => None,
        }
    }

    /// A string literal, written out or as an object-like macro of the file.
    pub fn literal(&self, text: &str) -> Option<String> {
        let t = text.trim();
        if let Some(l) = quoted(t) {
            return Some(l.to_string());
        }
        let m = self
            .file
            .macros
            .iter()
            .find(|m| m.name == t && m.params.is_none())?;
        quoted(m.body.trim()).map(str::to_string)
    }

    /// What `v` having the truth value `truth` says.
    fn must(&self, v: &Value, truth: bool, st: &State, depth: u8) -> Must {
        if depth > 16 {
            return Must::Nothing;
        }
        let d = depth + 1;
        match v {
            Value::Not(a) => self.must(a, !truth, st, d),
            Value::Var(f) => match (st.get(f.as_str()), truth) {
                (Some(Fact::Zero), true) => Must::Never,
                (Some(Fact::Flag(x, l)), true) => Must::On(x.clone(), BTreeSet::from([l.clone()])),
                _ => Must::Nothing,
            },
            Value::Call(i) => match self.test(*i) {
                Some((x, l)) if !truth => Must::On(x, BTreeSet::from([l])),
                _ => Must::Nothing,
            },
            Value::Cmp(a, op @ (CmpOp::Eq | CmpOp::Ne), b) => {
                let inner = match (&**a, &**b) {
                    (x, Value::Int(0)) | (Value::Int(0), x) => x,
                    _ => return Must::Nothing,
                };
                self.must(inner, (*op == CmpOp::Ne) == truth, st, d)
            }
            Value::Int(k) if (*k != 0) != truth => Must::Never,
            Value::And(a, b) | Value::Or(a, b) => {
                let (x, y) = (self.must(a, truth, st, d), self.must(b, truth, st, d));
                // `a && b` true, or `a || b` false: both sides; otherwise either.
                if matches!(v, Value::And(..)) == truth {
                    meet(x, y)
                } else {
                    join_must(x, y)
                }
            }
            _ => Must::Nothing,
        }
    }

    /// The state after `e`'s calls and assignments.
    fn transfer(&self, e: &Expr, st: &mut State) {
        for ev in &e.events {
            let Event::Call(c) = ev else { continue };
            // `f(&x)` may write `x`.
            for a in self.file.calls[*c as usize].args.iter() {
                if let Some(x) = a.trim().strip_prefix('&').and_then(plain_name) {
                    forget(st, x);
                }
            }
        }
        for a in &e.assigns {
            let fact = match &a.value {
                Value::Int(0) => Some(Fact::Zero),
                Value::Var(y) => st.get(y.as_str()).cloned(),
                Value::Not(inner) => match &**inner {
                    Value::Call(i) => self.test(*i).map(|(x, l)| Fact::Flag(x, l)),
                    _ => None,
                },
                Value::Cmp(l, CmpOp::Eq, r) => match (&**l, &**r) {
                    (Value::Call(i), Value::Int(0)) | (Value::Int(0), Value::Call(i)) => {
                        self.test(*i).map(|(x, l)| Fact::Flag(x, l))
                    }
                    _ => None,
                },
                _ => None,
            };
            forget(st, &a.var);
            if let Some(f) = fact {
                st.insert(a.var.to_string(), f);
            }
        }
    }

    /// The literals variables are fixed to at each call of the function `body`'s CFG.
    pub fn at_calls(&self, cfg: &Cfg) -> AtCalls {
        let mut state: Vec<Option<State>> = vec![None; cfg.nodes.len()];
        state[ENTRY] = Some(State::new());
        let mut work = vec![ENTRY];
        while let Some(id) = work.pop() {
            let Some(mut st) = state[id].clone() else {
                continue;
            };
            let node = cfg.node(id);
            let (expr, cond) = match node.op {
                Op::Eval(e) | Op::Return(Some(e)) => (Some(e), None),
                Op::Branch(e) => (Some(e), Some(&e.value)),
                _ => (None, None),
            };
            if let Some(e) = expr {
                self.transfer(e, &mut st);
            }
            for (k, &s) in node.succ.iter().enumerate() {
                let mut out = st.clone();
                if let Some(c) = cond.filter(|_| node.succ.len() == 2) {
                    if !narrow(&mut out, self.must(c, k == 0, &st, 0)) {
                        continue;
                    }
                }
                let merged = match &state[s] {
                    Some(old) => join(old, &out),
                    None => out,
                };
                if state[s].as_ref() != Some(&merged) {
                    state[s] = Some(merged);
                    work.push(s);
                }
            }
        }
        let mut out = AtCalls::default();
        for (id, st) in state.iter().enumerate() {
            let Some(st) = st else { continue };
            let expr = match cfg.node(id).op {
                Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e)) => e,
                _ => continue,
            };
            let fixed: Vec<(String, BTreeSet<String>)> = st
                .iter()
                .filter_map(|(x, f)| match f {
                    Fact::Lits(s) => Some((x.clone(), s.clone())),
                    _ => None,
                })
                .collect();
            if fixed.is_empty() {
                continue;
            }
            for ev in &expr.events {
                if let Event::Call(c) = ev {
                    out.insert(*c, fixed.clone());
                }
            }
        }
        out
    }
}

/// Adds what a test's outcome says to `st`; false when the outcome cannot happen.
fn narrow(st: &mut State, m: Must) -> bool {
    match m {
        Must::Nothing => true,
        Must::Never => false,
        Must::On(x, s) => {
            let s = match st.get(&x) {
                Some(Fact::Lits(old)) => old.intersection(&s).cloned().collect(),
                _ => s,
            };
            let possible = !s.is_empty();
            st.insert(x, Fact::Lits(s));
            possible
        }
    }
}

/// Both hold.
fn meet(a: Must, b: Must) -> Must {
    match (a, b) {
        (Must::Never, _) | (_, Must::Never) => Must::Never,
        (Must::Nothing, m) | (m, Must::Nothing) => m,
        (Must::On(x, s), Must::On(y, t)) if x == y => {
            let both: BTreeSet<String> = s.intersection(&t).cloned().collect();
            if both.is_empty() {
                Must::Never
            } else {
                Must::On(x, both)
            }
        }
        // Two variables: one is enough to keep (what is claimed stays true).
        (m, _) => m,
    }
}

/// One of them holds.
fn join_must(a: Must, b: Must) -> Must {
    match (a, b) {
        (Must::Never, m) | (m, Must::Never) => m,
        (Must::On(x, s), Must::On(y, t)) if x == y => Must::On(x, s.union(&t).cloned().collect()),
        _ => Must::Nothing,
    }
}

/// What holds on both of two paths.
fn join(a: &State, b: &State) -> State {
    let mut out = State::new();
    for (k, fa) in a {
        let Some(fb) = b.get(k) else { continue };
        let f = match (fa, fb) {
            (x, y) if x == y => x.clone(),
            // A zero flag says nothing about its string: the flag's meaning holds for both.
            (Fact::Zero, f @ Fact::Flag(..)) | (f @ Fact::Flag(..), Fact::Zero) => f.clone(),
            (Fact::Lits(s), Fact::Lits(t)) => Fact::Lits(s.union(t).cloned().collect()),
            _ => continue,
        };
        out.insert(k.clone(), f);
    }
    out
}

/// `x` changed: drop what was known of it and the flags that speak of it.
fn forget(st: &mut State, x: &str) {
    st.remove(x);
    st.retain(|_, f| !matches!(f, Fact::Flag(v, _) if v == x));
}

/// `"abc"` -> `abc`.
fn quoted(t: &str) -> Option<&str> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"') && !inner.contains('\\')).then_some(inner)
}

/// A plain variable, possibly under casts and parentheses: `(char *)type_page`.
pub(super) fn plain_name(text: &str) -> Option<&str> {
    let mut t = text.trim();
    while let Some(rest) = t.strip_prefix('(') {
        let close = rest.find(')')?;
        let (inner, after) = (&rest[..close], rest[close + 1..].trim());
        t = if after.is_empty() {
            inner.trim()
        } else {
            after
        };
    }
    crate::ctext::is_identifier(t).then_some(t)
}
