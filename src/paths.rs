//! The use-count path analysis of one entry routine (rule 2 of the mail).
//!
//! Walks the routine's control-flow graph with a set of abstract states per node: the
//! use-count delta so far, whether something that may sleep ran before the increment, and
//! the sign of the variables the routine returns. Branch conditions refine the signs, so
//! `if (err) { MOD_DEC_USE_COUNT; } return err;` is seen as balanced. The rules read the
//! observations this analysis makes; they do not walk paths themselves.

use rustc_hash::{FxHashMap as HashMap, FxHashSet};
use std::hash::{Hash, Hasher};

use crate::cfg::{Cfg, NodeId, Op, ENTRY};
use crate::facts::{Event, Expr, Function, Span, Value};

mod effect;
pub use effect::{CountEffect, Outcomes};

/// States kept per node before variable knowledge is dropped to stay bounded. Past it a node only
/// gains states without variable knowledge, of which there are at most [`STATES_WITHOUT_VARS`]:
/// so no node ever holds more than the sum, and only [`MAX_STEPS`] can cut a walk short.
const MAX_STATES_PER_NODE: usize = 48;
/// Count (-1..=2) x slept x acted x dropped x armed.
const STATES_WITHOUT_VARS: usize = 4 * 2 * 2 * 2 * 2;
/// Node visits after which the analysis gives up on a function (and says so).
const MAX_STEPS: usize = 200_000;

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
    /// The field (`tmpl.module`, as written without spaces) holds the routine's own module.
    fn holds_own_module(&self, _field: &str) -> bool {
        false
    }
    /// What `(*field)++` (`up`) or `(*field)--` does: 2.0's SCSI upper-level drivers count
    /// through `tmpl.usage_count`, which their init points at the module's own count.
    fn bump_effect(&self, _field: &str, _up: bool) -> CountEffect {
        CountEffect::None
    }
    /// Lines of the file's stores of a destructor that drops the count (`sk->destruct =
    /// x_destruct`): past one, a call that frees the object is a decrement.
    fn destructor_stores(&self) -> Vec<u32> {
        Vec::new()
    }
    /// The call frees an object through an installed destructor field (`sk_free(sk)`).
    fn frees_object(&self, _call: u32) -> bool {
        false
    }
    /// The bit tests (`file->f_mode & FMODE_WRITE`) under which the routine called by `call`,
    /// a release routine that drops what the path holds, drops one count each; `None` when
    /// it drops otherwise or the call is no such routine.
    fn release_modes(&self, _call: u32) -> Option<Vec<Value>> {
        None
    }
    /// Whether the routine (its `lines`) stores `field` with `=`: then its steps and tests of
    /// the field are not followed as a counter's (`counters`).
    fn stores_field(&self, _field: &str, _lines: (u32, u32)) -> bool {
        true
    }
    /// Read `a || b`, `a && b` as C does: where `a` decides, a split call in `b` did not run.
    fn short_circuits(&self) -> bool {
        false
    }
    /// The call does not return (`panic`): its path ends there.
    fn never_returns(&self, _call: u32) -> bool {
        false
    }
    /// The signs of every value the callee can return, when the callee is known to return
    /// only constants (a check compiled down to `return 0`).
    fn result_signs(&self, _call: u32) -> Option<Signs> {
        None
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

mod report;
pub use report::PathReport;

/// Sign of an integer or pointer value, as a set: bit 0 negative, bit 1 zero, bit 2 positive.
pub type Signs = u8;
pub const NEG: Signs = 1;
pub const ZERO: Signs = 2;
pub const POS: Signs = 4;
pub const ANY: Signs = 7;

#[derive(Debug, Clone)]
struct State {
    count: i8,
    slept: bool,
    acted: bool,
    dropped: bool,
    /// A destructor that drops the count was installed on this path and not yet run.
    armed: bool,
    /// The bit test (index into the walk's masks) last taken true on this path, and the one
    /// in force at the first increment: one increment per open mode is a pair, not a double.
    mode: Option<u8>,
    inc_mode: Option<u8>,
    /// Bit k: mask k tested true on this path; bit 8 + k: tested false.
    modes: u16,
    /// Signs of the tracked variables, by index into the tracked list.
    vars: Vec<Signs>,
    /// The values of the counters the routine steps and tests (`counters`), by index.
    counters: Vec<counters::Counter>,
    /// The last call whose outcome split the path, and the signs of its result on this one.
    last_result: Option<(u32, Signs)>,
    // Witnesses, not part of the state's identity.
    sleep_call: u32,
    first_action: Span,
    inc_at: Span,
    dec_at: Span,
    /// The increments (first, second) that brought the count to two: a double only if the
    /// path returns so (net1080 raises around its body and once more to pin: balanced).
    double_at: Option<(Span, Span)>,
}

impl State {
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        i8,
        [bool; 4],
        [Option<u8>; 2],
        u16,
        (&[Signs], &[counters::Counter]),
        Option<(u32, Signs)>,
    ) {
        (
            self.count,
            [self.slept, self.acted, self.dropped, self.armed],
            [self.mode, self.inc_mode],
            self.modes,
            (&self.vars, &self.counters),
            self.last_result,
        )
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
    /// The counters followed (`counters`), numbered.
    counters: HashMap<&'b str, usize>,
    report: PathReport,
    seen: FxHashSet<(&'static str, u32, u32)>,
    /// Lines that install a decrementing destructor.
    arms: Vec<u32>,
    /// The masks (bits by index) a per-mode release of a failure path tests: `State::modes`.
    release_masks: u8,
    /// The bit tests of the routine's branches (`file->f_mode&FMODE_READ`), at most
    /// [`MAX_MASKS`].
    masks: Vec<&'b Value>,
}

/// Bit tests told apart per routine; the others are unknown conditions.
const MAX_MASKS: usize = 8;

/// Analyses one routine.
pub fn analyse<O: CallOracle>(function: &Function, oracle: &O, rules: SlotRules) -> PathReport {
    let cfg = Cfg::build(&function.body);
    // Variables the routine returns, and those holding the result of a call whose outcome
    // splits the path (`err = foo_get(); if (err) ...`).
    let mut tracked: HashMap<&str, usize> = HashMap::default();
    for node in &cfg.nodes {
        let (Op::Eval(e) | Op::Branch(e) | Op::Return(Some(e))) = node.op else {
            continue;
        };
        let returned = match (&node.op, &e.value) {
            (Op::Return(_), Value::Var(v)) => Some(v.as_str()),
            _ => None,
        };
        let split = e.assigns.iter().filter_map(|a| match a.value {
            Value::Call(c) if matches!(oracle.call_effect(c), CountEffect::Split(_)) => {
                Some(a.var.as_str())
            }
            _ => None,
        });
        for v in returned.into_iter().chain(split) {
            let next = tracked.len();
            tracked.entry(v).or_insert(next);
        }
    }
    let masks = signs::masks(&cfg);
    let mut w = Walker {
        counters: counters::tracked(&cfg, oracle, function),
        masks,
        cfg: &cfg,
        oracle,
        rules,
        tracked,
        report: PathReport::default(),
        seen: FxHashSet::default(),
        arms: oracle.destructor_stores(),
        release_masks: 0,
    };
    w.release_masks = w.release_masks();
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
            armed: false,
            mode: None,
            inc_mode: None,
            modes: 0,
            vars: vec![ANY; self.tracked.len()],
            counters: vec![counters::Counter::START; self.counters.len()],
            last_result: None,
            sleep_call: 0,
            first_action: Span::default(),
            inc_at: Span::default(),
            dec_at: Span::default(),
            double_at: None,
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
                (state.counters.iter_mut()).for_each(|c| *c = counters::Counter::LOST);
                state.last_result = None;
                (state.mode, state.inc_mode, state.modes) = (None, None, 0);
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
                    for state in self.eval(e, node.span, state) {
                        for &s in &node.succ {
                            work.push((s, state.clone()));
                        }
                    }
                }
                Op::Branch(e) => {
                    for state in self.eval(e, node.span, state) {
                        for (&s, truth) in node.succ.iter().zip([true, false]) {
                            for st in self.assume(&e.value, truth, state.clone(), 0) {
                                work.push((s, st));
                            }
                        }
                    }
                }
                Op::Return(None) => self.ret(None, node.span, &state),
                Op::Return(Some(e)) => {
                    for state in self.eval(e, node.span, state) {
                        self.ret(Some(e), node.span, &state);
                    }
                }
            }
        }
    }

    fn note(&mut self, what: &'static str, a: Span, b: Span) -> bool {
        self.seen.insert((what, a.start, b.start))
    }

    /// The states after evaluating `e` in `state`: one, or one per outcome of a call that
    /// splits the path.
    fn eval(&mut self, e: &Expr, span: Span, state: State) -> Vec<State> {
        let mut state = state;
        if self.arms.binary_search(&e.line).is_ok() {
            state.armed = true;
        }
        let mut states = vec![state];
        for event in &e.events {
            match event {
                Event::Call(c) => {
                    let effect = self.oracle.call_effect(*c);
                    let before = std::mem::take(&mut states);
                    for state in before {
                        self.call(*c, effect, span, state, &mut states);
                    }
                }
                Event::Name(n) => {
                    let effect = self.oracle.name_effect(n);
                    for state in &mut states {
                        self.apply(effect, span, state);
                    }
                }
                Event::Bump { field, up } => {
                    let effect = self.oracle.bump_effect(field, *up);
                    for state in &mut states {
                        self.apply(effect, span, state);
                    }
                }
                Event::Step { field, up } => {
                    states.iter_mut().for_each(|s| self.step(field, *up, s));
                }
            }
        }
        for state in &mut states {
            for a in &e.assigns {
                self.rebase_counters(&a.var, state);
                if let Some(&k) = self.tracked.get(a.var.as_str()) {
                    state.vars[k] = self.signs(&a.value, state);
                }
            }
        }
        states
    }

    /// The call `c` in `state`: a split call adds one state per outcome, others one.
    fn call(
        &mut self,
        c: u32,
        effect: CountEffect,
        span: Span,
        mut state: State,
        out: &mut Vec<State>,
    ) {
        if self.oracle.never_returns(c) {
            return;
        }
        let CountEffect::Split(outcomes) = effect else {
            if effect == CountEffect::None && state.armed && self.oracle.frees_object(c) {
                // The core runs the destructor this path installed: its decrement.
                state.armed = false;
                self.decrement(span, &mut state);
                out.push(state);
                return;
            }
            if effect == CountEffect::None {
                self.sleep(c, self.oracle.may_sleep(c), &mut state);
                // Only calls count as work before the increment: initialising locals is not.
                if !self.oracle.is_noop(c) && !state.acted && state.count == 0 {
                    state.acted = true;
                    state.first_action = span;
                }
                if let Some(signs) = self.oracle.result_signs(c) {
                    state.last_result = Some((c, signs));
                }
            }
            self.drop_all_modes(c, effect, span, &mut state);
            self.apply(effect, span, &mut state);
            out.push(state);
            return;
        };
        for (k, &result) in outcomes.results.iter().enumerate() {
            if result == 0 {
                continue;
            }
            let mut s = state.clone();
            // A sleep inside the callee before its own pin is a sleep before this one.
            self.sleep(c, outcomes.slept & (1 << k) != 0, &mut s);
            match k {
                0 => self.decrement(span, &mut s),
                1 => {}
                _ => self.increment(span, &mut s),
            }
            s.last_result = Some((c, result));
            out.push(s);
        }
    }

    fn sleep(&self, c: u32, sleeps: bool, state: &mut State) {
        if sleeps && state.count <= 0 && !state.slept {
            state.slept = true;
            state.sleep_call = c;
        }
    }

    fn apply(&mut self, effect: CountEffect, span: Span, state: &mut State) {
        match effect {
            CountEffect::Increment => self.increment(span, state),
            CountEffect::Decrement => self.decrement(span, state),
            CountEffect::OtherModule => self.report.pins_other_module = true,
            // With nothing held, what a per-mode release drops depends on state the walk does
            // not follow: no finding either way.
            CountEffect::DropAll if state.count > 0 => {
                (state.count, state.double_at) = (0, None);
                state.dropped = true;
                state.dec_at = span;
            }
            CountEffect::DropAll | CountEffect::None | CountEffect::Split(_) => {}
        }
    }

    fn increment(&mut self, span: Span, state: &mut State) {
        self.report.increments = true;
        let per_mode =
            state.inc_mode.is_some() && state.mode.is_some() && state.mode != state.inc_mode;
        if state.count >= 1 {
            // One count per open mode, each under its own bit test: the release drops one
            // per mode (cs46xx, cs4281), so the second is not a double.
            if !per_mode && state.count == 1 {
                state.double_at = Some((state.inc_at, span));
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
            state.inc_mode = state.mode;
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
        if state.count < 2 {
            state.double_at = None;
        }
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
        if let Some((first, second)) = state.double_at.filter(|_| state.count >= 2) {
            if self.note("double", first, second) {
                self.report.double_inc.push((first, second));
            }
        }
        let bit = 1 << (state.count + 1);
        self.report.return_counts |= bit;
        self.report.outcomes.results[(state.count + 1) as usize] |= signs;
        if state.slept {
            self.report.outcomes.slept |= bit;
        }
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
}

mod counters;
mod signs;

#[cfg(test)]
mod tests;
