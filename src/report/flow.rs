//! The path of a finding step by step, as SARIF's code flow and the HTML report show it: the
//! evidence in order, with the may-sleep chain nested under the call it starts from (or after
//! the evidence when no evidence is at that call).

use super::{one_line, Mark};
use crate::chain::ChainStep;
use crate::rules::{Finding, Role};

/// One step of a finding's path.
pub(crate) struct Step<'a> {
    pub file: &'a str,
    pub mark: Mark<'a>,
    pub text: String,
    /// 0 for the evidence; the depth in the chain for a step of the may-sleep chain.
    pub nesting: usize,
    /// The evidence's role; `None` for a step of the chain.
    pub role: Option<Role>,
    /// A step of the chain: the call it makes, as written.
    pub call: Option<&'a str>,
}

pub(crate) fn steps<'a>(f: &'a Finding) -> Vec<Step<'a>> {
    let chain_from = f.chain.first().and_then(|c| {
        f.evidence
            .iter()
            .position(|e| e.file == c.file && e.line == c.line)
    });
    let chain = |out: &mut Vec<Step<'a>>, skip: usize| {
        for (depth, s) in f.chain.iter().enumerate().skip(skip) {
            out.push(Step {
                file: &s.file,
                mark: line_mark(s.line),
                text: step_text(s),
                nesting: depth,
                role: None,
                call: Some(&s.call),
            });
        }
    };
    let mut out = Vec::new();
    for (i, e) in f.evidence.iter().enumerate() {
        out.push(Step {
            file: &e.file,
            mark: Mark::evidence(e),
            text: one_line(&e.note),
            nesting: 0,
            role: Some(e.role),
            call: None,
        });
        if chain_from == Some(i) {
            chain(&mut out, 1);
        }
    }
    if chain_from.is_none() {
        chain(&mut out, 0);
    }
    out
}

pub(crate) fn step_text(step: &ChainStep) -> String {
    format!("`{}` calls `{}`", step.function, one_line(&step.call))
}

pub(crate) fn line_mark(line: u32) -> Mark<'static> {
    Mark {
        line,
        ..Mark::default()
    }
}
