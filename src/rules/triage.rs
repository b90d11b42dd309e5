//! Findings a user has already judged, taken out of a report in one place: those a
//! `modrace: ignore` comment suppresses, then those a baseline lists.
//!
//! A finding is keyed by (rule, file, function, slot), never by its line: a baseline stays
//! true while code above a finding moves. A baseline entry whose file this run did not read
//! (the file moved or was renamed) also matches by its path-free key: (rule, the file's base
//! name, function, slot).

use std::collections::HashSet;

use serde::Serialize;

use crate::diag::Warning;
use crate::entries::SlotRef;
use crate::facts::{FileFacts, Suppression};
use crate::index::Index;

use super::{rule, CheckReport, Code, Finding};

/// What identifies a finding across runs and releases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FindingKey {
    pub rule: Code,
    pub file: String,
    pub function: String,
    pub slot: SlotRef,
}

impl FindingKey {
    pub fn of(f: &Finding) -> Self {
        FindingKey {
            rule: f.rule,
            file: f.file.clone(),
            function: f.function.clone(),
            slot: f.slot.clone(),
        }
    }

    /// The key without the directories of the file.
    fn path_free(&self) -> (Code, &str, &str, &SlotRef) {
        let base = self.file.rsplit('/').next().unwrap_or(&self.file);
        (self.rule, base, &self.function, &self.slot)
    }
}

/// The findings a baseline file lists.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub keys: Vec<FindingKey>,
}

impl Baseline {
    /// The baseline of a report's findings: each key once, sorted, so that the file is the same
    /// from run to run.
    pub fn of(findings: &[Finding]) -> Self {
        let mut keys: Vec<FindingKey> = findings.iter().map(FindingKey::of).collect();
        keys.sort_by(|a, b| {
            (&a.file, &a.function, a.rule, a.slot.to_string()).cmp(&(
                &b.file,
                &b.function,
                b.rule,
                b.slot.to_string(),
            ))
        });
        keys.dedup();
        Baseline { keys }
    }
}

/// What to take out of a report.
#[derive(Debug, Clone, Default)]
pub struct Triage {
    /// Report only findings this baseline does not list.
    pub baseline: Option<Baseline>,
    /// Keep the suppressed findings in the report (`CheckReport::suppressed`).
    pub show_suppressed: bool,
    /// Report only findings in files under these directories (relative to the root; empty:
    /// all). The analyses saw the whole tree.
    pub only: Vec<String>,
}

/// A finding a comment suppresses, and the comment's reason.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    /// The line of the suppressing comment.
    pub suppressed_at: u32,
}

/// Takes the suppressed and the baseline's findings out of `report` (the stats follow), and
/// warns about suppressions that name no rule modrace knows.
pub fn apply(report: &mut CheckReport, index: &Index, triage: &Triage) {
    warn_unknown_codes(index.files, &mut report.warnings);
    let in_scope = |file: &str| {
        let under = |d: &String| d.is_empty() || file == d || file.starts_with(&format!("{d}/"));
        triage.only.is_empty() || triage.only.iter().any(under)
    };
    report.findings.retain(|f| in_scope(&f.file));
    let mut suppressed = Vec::new();
    let findings = std::mem::take(&mut report.findings);
    for f in findings {
        let by = index
            .file_by_path(&f.file)
            .and_then(|i| suppressing(&index.files[i], &f));
        match by {
            Some(s) => suppressed.push(Suppressed {
                reason: s.reason.clone().unwrap_or_default(),
                suppressed_at: s.line,
                finding: f,
            }),
            None => report.findings.push(f),
        }
    }
    report.stats.suppressed = suppressed.len();
    if triage.show_suppressed {
        report.suppressed = Some(suppressed);
    }
    if let Some(baseline) = &triage.baseline {
        let read: HashSet<&str> = index.files.iter().map(|f| f.path.as_str()).collect();
        let exact: HashSet<&FindingKey> = baseline.keys.iter().collect();
        let moved: HashSet<_> = (baseline.keys.iter())
            .filter(|k| !read.contains(k.file.as_str()))
            .map(FindingKey::path_free)
            .collect();
        let before = report.findings.len();
        report.findings.retain(|f| {
            let key = FindingKey::of(f);
            !exact.contains(&key) && !moved.contains(&key.path_free())
        });
        report.stats.baseline_hidden = Some(before - report.findings.len());
    }
    report.stats.findings = report.findings.len();
    report.stats.by_rule.clear();
    for f in &report.findings {
        *report.stats.by_rule.entry(f.rule).or_default() += 1;
    }
}

/// The comment of `file` that suppresses `f`: one with a reason that names its rule, on the
/// finding's line or the line above it, or inside or just above the routine it is in.
fn suppressing<'f>(file: &'f FileFacts, f: &Finding) -> Option<&'f Suppression> {
    let names = |s: &Suppression| {
        s.reason.is_some() && (s.codes.iter()).any(|c| rule(c).is_some_and(|r| r.code == f.rule))
    };
    let near = |s: &Suppression, line: u32| s.line <= line && line <= s.end_line + 1;
    let routine = |s: &Suppression| {
        (file.functions.iter())
            .filter(|r| r.name == f.function)
            .any(|r| near(s, r.line) || (r.line <= s.line && s.line <= r.end_line))
    };
    (file.suppressions.iter()).find(|s| names(s) && (near(s, f.line) || routine(s)))
}

fn warn_unknown_codes(files: &[FileFacts], warnings: &mut Vec<Warning>) {
    for file in files.iter().filter(|f| !f.suppressions.is_empty()) {
        for s in &file.suppressions {
            for c in s.codes.iter().filter(|c| rule(c).is_none()) {
                warnings.push(Warning::at(
                    file.path.clone(),
                    s.line,
                    format!("suppression names no rule `{c}`; `modrace rules` lists them"),
                ));
            }
        }
    }
}
