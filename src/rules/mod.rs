//! The rules: one module each, with its code, its explanation and its check.
//!
//! A rule reads the shared analyses (the entry, its path report, the may-sleep chains) and
//! turns them into findings; it never walks code itself. Codes are stable: never renumber.

use serde::Serialize;

use crate::chain::ChainStep;
use crate::facts::Span;
use crate::paths::PathReport;

pub mod mr001;
pub mod mr002;
pub mod mr003;
pub mod mr004;
pub mod mr005;
pub mod mr006;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What a rule is, for `rules`, `explain` and SARIF rule metadata.
#[derive(Debug)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One line.
    pub summary: &'static str,
    /// Plain words: what is wrong and why it matters.
    pub explanation: &'static str,
    pub wrong: &'static str,
    pub right: &'static str,
}

pub const RULES: [&Rule; 6] = [
    &mr001::RULE,
    &mr002::RULE,
    &mr003::RULE,
    &mr004::RULE,
    &mr005::RULE,
    &mr006::RULE,
];

pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.code.eq_ignore_ascii_case(code) || r.name.eq_ignore_ascii_case(code))
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub file: String,
    pub line: u32,
    pub note: String,
    /// Where in the file, for source excerpts and patches.
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub function: String,
    pub slot: String,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub chain: Vec<ChainStep>,
    /// A one-line hint at the fix.
    pub help: String,
}

/// What a rule sees of one entry routine.
pub struct EntryContext<'a> {
    pub function: &'a str,
    /// The routine's file, relative to the scanned root.
    pub file: &'a str,
    pub line: u32,
    pub column: u32,
    pub slot: &'a str,
    pub registered_via: &'a str,
    pub paths: &'a PathReport,
    /// Why the call `calls[i]` of the file may sleep, down to a primitive.
    pub sleep_chain: &'a dyn Fn(u32) -> Vec<ChainStep>,
    /// The text of the call `calls[i]` of the file, as written.
    pub call_text: &'a dyn Fn(u32) -> (String, Span),
    /// The core calls the table's `release_on_failure` routine when this one fails.
    pub release_on_failure: Option<&'a str>,
    /// The core pins the module itself for this slot.
    pub core_pins: bool,
}

impl EntryContext<'_> {
    pub fn finding(&self, rule: &Rule, at: Span, message: String, help: &str) -> Finding {
        Finding {
            rule: rule.code,
            name: rule.name,
            severity: rule.severity,
            file: self.file.to_string(),
            line: if at.line == 0 { self.line } else { at.line },
            column: if at.line == 0 { self.column } else { at.column },
            function: self.function.to_string(),
            slot: self.slot.to_string(),
            message,
            evidence: Vec::new(),
            chain: Vec::new(),
            help: help.to_string(),
        }
    }

    pub fn evidence(&self, at: Span, note: impl Into<String>) -> Evidence {
        Evidence {
            file: self.file.to_string(),
            line: at.line,
            note: note.into(),
            span: at,
        }
    }
}

/// Runs every rule of rule 2 (all but MR004, which is checked at the core's call sites) on
/// one entry routine.
pub fn check_entry(cx: &EntryContext, out: &mut Vec<Finding>) {
    mr001::check(cx, out);
    mr002::check(cx, out);
    mr003::check(cx, out);
    mr005::check(cx, out);
    mr006::check(cx, out);
}
