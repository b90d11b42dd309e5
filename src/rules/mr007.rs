//! MR007 incomplete-analysis: the path analysis of a routine stopped at its bounds, so the
//! routine's findings are a lower bound. Reported as a diagnostic of its own (a warning, which
//! makes `check` exit 1) rather than a note, so that a routine nobody could check is never
//! mistaken for a clean one; `--ignore MR007` silences it.

use super::{Code, EntryContext, Finding, Precision, Rule, Severity};
use crate::facts::Span;

pub const RULE: Rule = Rule {
    code: Code::Mr007,
    name: "incomplete-analysis",
    severity: Severity::Warning,
    // Very high: the bound was hit or it was not; nothing is guessed.
    precision: Precision::VeryHigh,
    preview: false,
    summary: "the routine is too large for the path analysis; its findings are a lower bound",
    explanation: "modrace follows every path of a name-taking entry routine, with the use \
count and the signs of the returned variables along each. It stops after 200,000 steps, or \
when a statement is reached in more states than it keeps, so that no routine can make the \
check run for ever. This routine passed that bound: the other rules may have missed a sleep \
before the increment, a leak or a missing increment in it. Check it by hand, or split it into \
helpers that each do one thing.",
    wrong: "static int foo_open(struct inode *inode, struct file *file)
{
\tint a, b, c;

\tif (x1) a = -EIO;
\tif (x2) b = -EBUSY;
\t/* ... hundreds of independent conditions on the returned variables ... */
\treturn a ? a : b ? b : c;
}",
    right: "static int foo_open(struct inode *inode, struct file *file)
{
\tint err;

\tMOD_INC_USE_COUNT;
\terr = foo_check_all(inode);
\tif (err)
\t\tMOD_DEC_USE_COUNT;
\treturn err;
}",
};

pub fn check(cx: &EntryContext, out: &mut Vec<Finding>) {
    if !cx.paths.incomplete {
        return;
    }
    let at = Span {
        line: cx.line,
        column: cx.column,
        ..Span::default()
    };
    out.push(cx.finding(
        &RULE,
        at,
        format!(
            "the path analysis of `{}` stopped at its bounds: its findings are a lower bound",
            cx.function
        ),
        "check the routine by hand, or split it into smaller helpers",
    ));
}
