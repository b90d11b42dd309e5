//! The rules: one module each, with its code, its explanation and its check.
//!
//! A rule reads the shared analyses (the entry, its path report, the may-sleep chains) and
//! turns them into findings; it never walks code itself. Codes are stable: never renumber.

use serde::Serialize;

use crate::chain::ChainStep;
use crate::entries::{SlotRef, Via};
use crate::facts::Span;
use crate::kb::RuleFamily;
use crate::paths::PathReport;
use crate::usecount::release::ReleaseCheck;

pub mod mr001;
pub mod mr002;
pub mod mr003;
pub mod mr004;
pub mod mr005;
pub mod mr006;
pub mod mr007;
pub mod mr101;
pub mod mr103;
pub mod mr104;
pub mod mr105;
pub mod mr106;

pub mod engine;
pub mod history;
pub mod triage;
pub use engine::{CheckReport, CheckStats, EraReport, RuleFilter};
pub use triage::{Baseline, FindingKey, Suppressed, Triage};

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

/// How often a rule's findings are true, as SARIF viewers sort them (`properties.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    VeryHigh,
    High,
    Medium,
    Low,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::VeryHigh => "very-high",
            Precision::High => "high",
            Precision::Medium => "medium",
            Precision::Low => "low",
        }
    }
}

/// A rule's stable code. The text form (`MR001`) appears only in output and on the command
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    Mr001,
    Mr002,
    Mr003,
    Mr004,
    Mr005,
    Mr006,
    Mr007,
    Mr101,
    Mr103,
    Mr104,
    Mr105,
    Mr106,
}

impl Code {
    /// The era's family of rules the code belongs to: a tree runs only its era's rules.
    pub fn family(self) -> RuleFamily {
        match self {
            Code::Mr001
            | Code::Mr002
            | Code::Mr003
            | Code::Mr004
            | Code::Mr005
            | Code::Mr006
            | Code::Mr007 => RuleFamily::UseCount,
            Code::Mr101 | Code::Mr103 | Code::Mr104 | Code::Mr105 | Code::Mr106 => {
                RuleFamily::ModuleRef
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Mr001 => "MR001",
            Code::Mr002 => "MR002",
            Code::Mr003 => "MR003",
            Code::Mr004 => "MR004",
            Code::Mr005 => "MR005",
            Code::Mr006 => "MR006",
            Code::Mr007 => "MR007",
            Code::Mr101 => "MR101",
            Code::Mr103 => "MR103",
            Code::Mr104 => "MR104",
            Code::Mr105 => "MR105",
            Code::Mr106 => "MR106",
        }
    }

    /// Whether the rule runs only when asked for by name (`--select`).
    pub fn is_preview(self) -> bool {
        RULES.iter().any(|r| r.code == self && r.preview)
    }

    /// The rules `--diff`/`--fix` can rewrite: the increment and the failure paths of rule 2,
    /// a table's missing owner, and a kernel thread's put and return.
    pub fn is_fixable(self) -> bool {
        matches!(
            self,
            Code::Mr001 | Code::Mr002 | Code::Mr003 | Code::Mr101 | Code::Mr106
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a rule is, for `rules`, `explain` and SARIF rule metadata.
#[derive(Debug)]
pub struct Rule {
    pub code: Code,
    pub name: &'static str,
    pub severity: Severity,
    pub precision: Precision,
    /// A rule whose precision is not yet good enough to run by default: it runs only when
    /// `--select` names it.
    pub preview: bool,
    /// One line.
    pub summary: &'static str,
    /// Plain words: what is wrong and why it matters.
    pub explanation: &'static str,
    pub wrong: &'static str,
    pub right: &'static str,
}

pub const RULES: [&Rule; 12] = [
    &mr001::RULE,
    &mr002::RULE,
    &mr003::RULE,
    &mr004::RULE,
    &mr005::RULE,
    &mr006::RULE,
    &mr007::RULE,
    &mr101::RULE,
    &mr103::RULE,
    &mr104::RULE,
    &mr105::RULE,
    &mr106::RULE,
];

pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.code.as_str().eq_ignore_ascii_case(code) || r.name.eq_ignore_ascii_case(code))
}

/// What a piece of evidence shows; fixes and reports find evidence by role, not position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The finding's own location: the sleeping call, the leaking return, the late increment.
    Primary,
    /// Where the use count is raised.
    Increment,
    /// A return the finding is about, besides the primary location (MR006's success return).
    Return,
    /// Work done before the increment.
    Work,
    /// A step of a call chain (MR004: the core's calls without the lock).
    Chain,
    /// Paths the analysis could not follow.
    Unfollowed,
    /// A module routine the finding exposes.
    Exposed,
    /// Where a table is handed to a routine that keeps it.
    Handoff,
    /// Where the core pins a module through a table's owner field.
    Pin,
    /// The module's exit routine: it can be unloaded.
    Exit,
    /// Where the routine the core calls after a failure returns without dropping the count.
    Release,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub file: String,
    pub line: u32,
    pub note: String,
    /// Where in the file, for source excerpts and patches.
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub role: Role,
}

impl Evidence {
    /// `note` at `span` of `file` (relative to the scanned root), in role `role`.
    pub fn at(role: Role, file: &str, span: Span, note: impl Into<String>) -> Self {
        Evidence {
            file: file.to_string(),
            line: span.line,
            note: note.into(),
            span,
            role,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: Code,
    pub name: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub function: String,
    pub slot: SlotRef,
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
    pub slot: &'a SlotRef,
    pub via: &'a Via,
    pub paths: &'a PathReport,
    /// Why the call `calls[i]` of the file may sleep, down to a primitive.
    pub sleep_chain: &'a dyn Fn(u32) -> Vec<ChainStep>,
    /// The text of the call `calls[i]` of the file, as written.
    pub call_text: &'a dyn Fn(u32) -> (String, Span),
    /// The core calls the table's routine in this field when this one fails, and whether
    /// it drops the count in the state each failure return leaves.
    pub release_on_failure: Option<(&'a str, &'a ReleaseCheck)>,
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
            slot: self.slot.clone(),
            message,
            evidence: Vec::new(),
            chain: Vec::new(),
            help: help.to_string(),
        }
    }

    pub fn evidence(&self, role: Role, at: Span, note: impl Into<String>) -> Evidence {
        Evidence::at(role, self.file, at, note)
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
    mr007::check(cx, out);
}
