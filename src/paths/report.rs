//! What the path walk reports of one routine.

use super::{CountEffect, Outcomes};
use crate::facts::Span;

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
    /// Per delta at return (as in `return_counts`), the signs of the returned values and
    /// whether the path slept unpinned: what a caller sees of this routine.
    pub outcomes: Outcomes,
}

impl PathReport {
    /// The effect of calling this routine on the caller's count: none when every return
    /// leaves it as it was, else one outcome per delta, so the caller's test of the result
    /// (or its own return of it) picks the paths on which the routine pinned.
    pub fn net_effect(&self) -> CountEffect {
        match self.return_counts {
            0 | 0b0010 => CountEffect::None,
            _ => CountEffect::Split(self.outcomes),
        }
    }
}
