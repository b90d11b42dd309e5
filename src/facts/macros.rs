//! Which macro definitions a file's facts keep.

use super::{FileFacts, Text};
use crate::normalize::{MacroDef, Normalized};

/// Which `#define`s a file's facts keep: they are a large part of a modern tree's facts (3.8
/// million on 6.1), and only some analyses read them (may-sleep, lock and use-count all of
/// them; the owner analysis those that name a module's exit macros). The normalizer uses them
/// either way.
#[derive(Debug, Default)]
pub enum MacroPolicy {
    #[default]
    All,
    None,
    /// Function-like macros whose body names one of these words.
    Mentioning(Vec<memchr::memmem::Finder<'static>>),
}

impl MacroPolicy {
    pub fn mentioning<S: AsRef<str>>(words: &[S]) -> MacroPolicy {
        MacroPolicy::Mentioning(super::finders(words))
    }

    pub(super) fn keep(&self, macros: Vec<MacroDef>) -> Vec<MacroDef> {
        match self {
            MacroPolicy::All => macros,
            MacroPolicy::None => Vec::new(),
            MacroPolicy::Mentioning(words) => macros
                .into_iter()
                .filter(|m| m.params.is_some())
                .filter(|m| words.iter().any(|w| w.find(m.body.as_bytes()).is_some()))
                .collect(),
        }
    }
}

/// What the normalizer's choices on unknown symbols leave for the tree-wide reading
/// (`nowork`): alternative macro bodies, and, for a run that keeps every definition (the
/// use-count analyses read them), the branches taken and the names defined elsewhere.
pub(super) fn conditionals(normalized: &Normalized, policy: &MacroPolicy, facts: &mut FileFacts) {
    let text = |s: &String| Text::from(s.as_str());
    facts.alt_macros = (normalized.alt_macros.iter())
        .map(|(m, s, b)| (text(m), text(s), text(b)))
        .collect();
    if !matches!(policy, MacroPolicy::All) {
        return;
    }
    facts.cond_regions = normalized.cond_regions.clone();
    facts.inactive_defines = normalized.inactive_defines.iter().map(text).collect();
}
