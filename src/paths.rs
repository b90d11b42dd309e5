//! The use-count path analysis of one entry routine (rule 2 of the mail).
//!
//! Walks the routine's control-flow graph with a set of abstract states per node: the
//! use-count delta so far, whether something that may sleep ran before the increment, and
//! the sign of the variables the routine returns. Branch conditions refine the signs, so
//! `if (err) { MOD_DEC_USE_COUNT; } return err;` is seen as balanced. The rules read the
//! observations this analysis makes; they do not walk paths themselves.

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHashSet;

use crate::cfg::{Cfg, NodeId, Op, ENTRY};
use crate::facts::{CmpOp, Event, Expr, Function, Span, Value};

/// States kept per node before variable knowledge is dropped to stay bounded. Past it a node
/// only gains states without variable knowledge, of which there are at most
/// [`STATES_WITHOUT_VARS`]: so no node ever holds more than the sum, and only [`MAX_STEPS`]
/// can cut a walk short.
const MAX_STATES_PER_NODE: usize = 48;
/// Count (-1..=2) x slept x acted x dropped.
const STATES_WITHOUT_VARS: usize = 4 * 2 * 2 * 2;
/// Node visits after which the analysis gives up on a function (and says so).
const MAX_STEPS: usize = 200_000;

/// What a call or a bare name does to the module's use count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountEffect {
    None,
    Increment,
    Decrement,
    /// Increments only when its result tests `true` (`try_inc_mod_count`, a helper returning
    /// a pointer that pins on success), or `false` (a helper returning 0 on success).
    IncrementWhen(bool),
    /// Raises or drops the count of another module (`__MOD_INC_USE_COUNT(host->module)`).
    OtherModule,
}

/// What the analysis needs to know about the calls of the routine's file.
pub trait CallOracle {
    /// Whether the call `calls[call]` of the routine's file may sleep.
    fn may_sleep(&self, call: u32) -> bool;
    fn call_effect(&self, call: u32) -> CountEffect;
    fn name_effect(&self, name: &str) -> CountEffect;
    /// The call does nothing in this configuration (a debugging macro defined empty).
    fn is_noop(&self, _call: u32) -> bool {
        false
    }
}

/// How the slot's caller reads the routine's use count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discipline {
    /// Success keeps the module pinned until a later routine (release, close, put_super)
    /// drops it; failure must leave the count as it found it.
    Pin,
    /// Every return leaves the count as it found it (the routine pins itself while it runs).
    Bracket,
}

/// What a failing routine returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailValue {
    /// A nonzero value, in practice a negative errno (int-returning slots: the core tests
    /// `if (retval)`, so `return 1;` fails too).
    Nonzero,
    /// A null pointer (pointer-returning slots such as read_super).
    Null,
}

#[derive(Debug, Clone, Copy)]
pub struct SlotRules {
    pub discipline: Discipline,
    pub fail: FailValue,
}

/// Everything the rules need to know about one routine's paths. Spans point into its file.
#[derive(Debug, Default)]
pub struct PathReport {
    /// A may-sleep call (call index) ran before this increment on some path.
    pub sleep_before_inc: Vec<(u32, Span)>,
    /// The increment comes after other work (first such statement), though nothing slept.
    pub late_inc: Vec<(Span, Span)>,
    /// After the increment (first span), this return leaves the count raised on failure
    /// (or, for bracket slots, on any return).
    pub leaks: Vec<(Span, Span)>,
    /// Returns whose value may or may not be a failure, reached with the count raised.
    pub maybe_leaks: Vec<Span>,
    /// A second increment on a path that already holds one.
    pub double_inc: Vec<(Span, Span)>,
    /// A decrement on a path that holds no increment.
    pub dec_without_inc: Vec<Span>,
    /// A pin slot that drops its count and then returns success: (decrement, return).
    pub dec_on_success: Vec<(Span, Span)>,
    /// Some return that may be a success leaves the module pinned.
    pub pins_on_success: bool,
    /// Some path increments at all.
    pub increments: bool,
    /// The routine pins another module (a host adapter's, a template's).
    pub pins_other_module: bool,
    /// Some return that may be a success was reached (false for routines that always fail).
    pub success_reachable: bool,
    /// The use-count deltas seen at returns: bit k for delta k - 1 (so -1, 0, 1, 2).
    pub return_counts: u8,
    /// The same, at returns that may succeed, and at returns that must fail.
    pub success_counts: u8,
    pub failure_counts: u8,
    /// The analysis stopped early; its findings are a lower bound.
    pub incomplete: bool,
    /// The most states any node held (at most `MAX_STATES_PER_NODE + STATES_WITHOUT_VARS`).
    pub peak_states: usize,
}

impl PathReport {
    /// The effect of calling this routine on the caller's count: when every return agrees,
    /// or when it pins exactly on success (then the caller's test of the result decides).
    pub fn net_effect(&self, fail: FailValue) -> CountEffect {
        match self.return_counts {
            0b0001 => CountEffect::Decrement,
            0b0100 => CountEffect::Increment,
            _ if self.success_counts == 0b0100 && self.failure_counts == 0b0010 => {
                // Success is a non-null pointer (true) or zero (false).
                CountEffect::IncrementWhen(fail == FailValue::Null)
            }
            _ => CountEffect::None,
        }
    }
}

/// Sign of an integer or pointer value, as a set: bit 0 negative, bit 1 zero, bit 2 positive.
type Signs = u8;
const NEG: Signs = 1;
const ZERO: Signs = 2;
const POS: Signs = 4;
const ANY: Signs = 7;

#[derive(Debug, Clone)]
struct State {
    count: i8,
    slept: bool,
    acted: bool,
    dropped: bool,
    /// Signs of the tracked variables, by index into the tracked list.
    vars: Vec<Signs>,
    // Witnesses, not part of the state's identity.
    sleep_call: u32,
    first_action: Span,
    inc_at: Span,
    dec_at: Span,
}

impl State {
    fn key(&self) -> (i8, bool, bool, bool, &[Signs]) {
        (self.count, self.slept, self.acted, self.dropped, &self.vars)
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for State {}
impl Hash for State {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key().hash(h)
    }
}

struct Walker<'a, 'b, O: CallOracle> {
    cfg: &'a Cfg<'b>,
    oracle: &'a O,
    rules: SlotRules,
    tracked: HashMap<&'b str, usize>,
    report: PathReport,
    seen: FxHashSet<(&'static str, u32, u32)>,
}

/// Analyses one routine.
pub fn analyse<O: CallOracle>(function: &Function, oracle: &O, rules: SlotRules) -> PathReport {
    let cfg = Cfg::build(&function.body);
    let mut tracked = HashMap::default();
    for node in &cfg.nodes {
        if let Op::Return(Some(e)) = node.op {
            if let Value::Var(v) = &e.value {
                let next = tracked.len();
                tracked.entry(v.as_str()).or_insert(next);
            }
        }
    }
    let mut w = Walker {
        cfg: &cfg,
        oracle,
        rules,
        tracked,
        report: PathReport::default(),
        seen: FxHashSet::default(),
    };
    w.run();
    w.report
}

impl<'b, O: CallOracle> Walker<'_, 'b, O> {
    fn run(&mut self) {
        let start = State {
            count: 0,
            slept: false,
            acted: false,
            dropped: false,
            vars: vec![ANY; self.tracked.len()],
            sleep_call: 0,
            first_action: Span::default(),
            inc_at: Span::default(),
            dec_at: Span::default(),
        };
        let mut at_node: Vec<FxHashSet<State>> = vec![FxHashSet::default(); self.cfg.nodes.len()];
        let mut work: Vec<(NodeId, State)> = vec![(ENTRY, start)];
        let mut steps = 0;
        while let Some((id, mut state)) = work.pop() {
            steps += 1;
            if steps > MAX_STEPS {
                self.report.incomplete = true;
                break;
            }
            if at_node[id].len() >= MAX_STATES_PER_NODE {
                // Forget what is known of variables rather than grow without bound.
                state.vars.iter_mut().for_each(|v| *v = ANY);
            }
            if !at_node[id].insert(state.clone()) {
                continue;
            }
            debug_assert!(at_node[id].len() <= MAX_STATES_PER_NODE + STATES_WITHOUT_VARS);
            self.report.peak_states = self.report.peak_states.max(at_node[id].len());
            let node = self.cfg.node(id);
            match node.op {
                Op::Nop => {
                    for &s in &node.succ {
                        work.push((s, state.clone()));
                    }
                }
                Op::Eval(e) => {
                    self.eval(e, node.span, &mut state);
                    for &s in &node.succ {
                        work.push((s, state.clone()));
                    }
                }
                Op::Branch(e) => {
                    self.eval(e, node.span, &mut state);
                    let mut outcomes = [Vec::new(), Vec::new()];
                    for (k, truth) in [true, false].into_iter().enumerate() {
                        outcomes[k] = self.assume(&e.value, truth, state.clone(), node.span, 0);
                    }
                    for (k, &s) in node.succ.iter().enumerate() {
                        for st in outcomes.get(k).into_iter().flatten() {
                            work.push((s, st.clone()));
                        }
                    }
                }
                Op::Return(e) => {
                    if let Some(e) = e {
                        self.eval(e, node.span, &mut state);
                    }
                    self.ret(e, node.span, &state);
                }
            }
        }
    }

    fn note(&mut self, what: &'static str, a: Span, b: Span) -> bool {
        self.seen.insert((what, a.start, b.start))
    }

    fn eval(&mut self, e: &Expr, span: Span, state: &mut State) {
        for event in &e.events {
            let effect = match event {
                Event::Call(c) => {
                    let effect = self.oracle.call_effect(*c);
                    if effect == CountEffect::None
                        && state.count <= 0
                        && !state.slept
                        && self.oracle.may_sleep(*c)
                    {
                        state.slept = true;
                        state.sleep_call = *c;
                    }
                    effect
                }
                Event::Name(n) => self.oracle.name_effect(n),
            };
            match effect {
                CountEffect::Increment => self.increment(span, state),
                CountEffect::Decrement => self.decrement(span, state),
                CountEffect::IncrementWhen(_) => self.report.increments = true,
                CountEffect::OtherModule => self.report.pins_other_module = true,
                // Only calls count as work before the increment: initialising locals is not.
                CountEffect::None => {
                    let work = matches!(event, Event::Call(c) if !self.oracle.is_noop(*c));
                    if work && !state.acted && state.count == 0 {
                        state.acted = true;
                        state.first_action = span;
                    }
                }
            }
        }
        for a in &e.assigns {
            if let Some(&k) = self.tracked.get(a.var.as_str()) {
                state.vars[k] = self.signs(&a.value, state);
            }
        }
    }

    fn increment(&mut self, span: Span, state: &mut State) {
        self.report.increments = true;
        if state.count >= 1 {
            if self.note("double", state.inc_at, span) {
                self.report.double_inc.push((state.inc_at, span));
            }
        } else if state.count == 0 {
            if state.slept {
                if self.note("sleep", span, Span::default()) {
                    self.report.sleep_before_inc.push((state.sleep_call, span));
                }
            } else if state.acted && self.note("late", state.first_action, span) {
                self.report.late_inc.push((state.first_action, span));
            }
            state.inc_at = span;
        }
        state.count = (state.count + 1).min(2);
    }

    fn decrement(&mut self, span: Span, state: &mut State) {
        if state.count <= 0 {
            if self.note("dec0", span, Span::default()) {
                self.report.dec_without_inc.push(span);
            }
        } else {
            state.dropped = true;
            state.dec_at = span;
        }
        state.count = (state.count - 1).max(-1);
    }

    fn ret(&mut self, e: Option<&Expr>, span: Span, state: &State) {
        let signs = e.map_or(ANY, |e| self.signs(&e.value, state));
        let fail_signs = match self.rules.fail {
            FailValue::Nonzero => NEG | POS,
            FailValue::Null => ZERO,
        };
        // A routine returning nothing, or a value that cannot be a failure, succeeded.
        let may_succeed = e.is_none() || signs & !fail_signs != 0;
        let must_fail = e.is_some() && signs & !fail_signs == 0;
        if may_succeed {
            self.report.success_reachable = true;
        }
        let bit = 1 << (state.count + 1);
        self.report.return_counts |= bit;
        if must_fail {
            self.report.failure_counts |= bit;
        } else {
            self.report.success_counts |= bit;
        }
        match self.rules.discipline {
            Discipline::Pin => {
                if must_fail && state.count > 0 && self.note("leak", state.inc_at, span) {
                    self.report.leaks.push((state.inc_at, span));
                }
                if !must_fail
                    && signs & fail_signs != 0
                    && state.count > 0
                    && self.note("maybe", span, Span::default())
                {
                    self.report.maybe_leaks.push(span);
                }
                if may_succeed && state.count > 0 {
                    self.report.pins_on_success = true;
                }
                if may_succeed
                    && !must_fail
                    && signs & fail_signs == 0
                    && state.dropped
                    && state.count == 0
                    && self.note("decok", state.dec_at, span)
                {
                    self.report.dec_on_success.push((state.dec_at, span));
                }
            }
            Discipline::Bracket => {
                if state.count > 0 && self.note("leak", state.inc_at, span) {
                    self.report.leaks.push((state.inc_at, span));
                }
                if state.dropped || state.count > 0 {
                    self.report.pins_on_success = true;
                }
            }
        }
    }

    /// The possible signs of a value in a state.
    fn signs(&self, v: &Value, state: &State) -> Signs {
        match v {
            Value::Int(0) | Value::Null => ZERO,
            Value::Int(k) if *k < 0 => NEG,
            Value::Int(_) => POS,
            Value::NegErrno(_) => NEG,
            Value::Var(name) => match self.tracked.get(name.as_str()) {
                Some(&k) => state.vars[k],
                None => ANY,
            },
            Value::Not(inner) => match self.signs(inner, state) {
                ZERO => POS,
                s if s & ZERO == 0 => ZERO,
                _ => ZERO | POS,
            },
            Value::Cmp(..) | Value::And(..) | Value::Or(..) => ZERO | POS,
            Value::Call(_) | Value::Unknown => ANY,
        }
    }

    /// The states in which `v` has the truth value `truth`; none if it cannot.
    fn assume(
        &mut self,
        v: &Value,
        truth: bool,
        mut state: State,
        at: Span,
        depth: u8,
    ) -> Vec<State> {
        if depth > 16 {
            return vec![state];
        }
        match v {
            Value::Not(inner) => self.assume(inner, !truth, state, at, depth + 1),
            Value::And(a, b) | Value::Or(a, b) => {
                let is_and = matches!(v, Value::And(..));
                if truth == is_and {
                    // Both sides hold (&&), or both fail (|| false).
                    let mut out = Vec::new();
                    for s in self.assume(a, truth, state, at, depth + 1) {
                        out.extend(self.assume(b, truth, s, at, depth + 1));
                    }
                    out
                } else {
                    // Either side decides.
                    let mut out = self.assume(a, truth, state.clone(), at, depth + 1);
                    for s in self.assume(a, !truth, state, at, depth + 1) {
                        out.extend(self.assume(b, truth, s, at, depth + 1));
                    }
                    out
                }
            }
            Value::Var(_) => self.restrict(v, if truth { NEG | POS } else { ZERO }, state),
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
            Value::Call(c) => {
                // A successful `try_inc_mod_count` raises the count on that branch only.
                // Through `increment`, so a sleep or work before it is seen.
                if self.oracle.call_effect(*c) == CountEffect::IncrementWhen(truth) {
                    self.increment(at, &mut state);
                }
                vec![state]
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
            _ => vec![state],
        }
    }

    fn restrict(&self, v: &Value, allowed: Signs, mut state: State) -> Vec<State> {
        let Value::Var(name) = v else {
            return vec![state];
        };
        let Some(&k) = self.tracked.get(name.as_str()) else {
            return vec![state];
        };
        state.vars[k] &= allowed;
        if state.vars[k] == 0 {
            Vec::new()
        } else {
            vec![state]
        }
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
mod tests;
