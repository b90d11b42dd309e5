//! What a call does to the use count, as the walk applies it.

use super::{Signs, NEG, POS, ZERO};

/// What a call or a bare name does to the module's use count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountEffect {
    None,
    Increment,
    Decrement,
    /// Depends on the path the callee took (`try_inc_mod_count`, a helper that pins on some
    /// returns only): the caller's path splits into one per outcome.
    Split(Outcomes),
    /// Raises or drops the count of another module (`__MOD_INC_USE_COUNT(host->module)`).
    OtherModule,
    /// Drops whatever the path holds: the driver's own release routine called on a failure
    /// path (it undoes the open, one count per open mode in the per-mode drivers).
    DropAll,
}

/// A callee's returns, by the use-count delta they leave (index k for delta k - 1, so -1, 0,
/// +1, +2): the signs of the values returned with that delta (0: no such return), and
/// whether something that may sleep ran, with the count not raised, before such a return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub results: [Signs; 4],
    /// Bit k: a return with delta k - 1 may have slept unpinned (for k = 2: before its pin).
    pub slept: u8,
}

impl Outcomes {
    /// Pins exactly when the result tests `truth` (`try_inc_mod_count`: true), sleeping on no
    /// path.
    pub fn pins_when(truth: bool) -> Self {
        let (yes, no) = if truth {
            (NEG | POS, ZERO)
        } else {
            (ZERO, NEG | POS)
        };
        Outcomes {
            results: [0, no, yes, 0],
            slept: 0,
        }
    }
}
