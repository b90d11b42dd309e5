//! MR003 missing-inc: a name-taking module routine never pins its module.

use super::{Code, EntryContext, Finding, Precision, Rule, Severity};
use crate::facts::Span;

pub const RULE: Rule = Rule {
    code: Code::Mr003,
    name: "missing-inc",
    severity: Severity::Error,
    // High: no increment anywhere in the routine; slots the core pins are data, not guesses.
    precision: Precision::High,
    preview: false,
    summary: "a name-taking entry routine of module code never raises the use count",
    explanation: "The kernel reaches this routine by a name, so nothing holds the module while \
it runs, and after it succeeds nothing keeps the module loaded for the object it handed out. \
Unless the core pins the module for this slot, the routine must do MOD_INC_USE_COUNT first \
(and drop it on failure, and in the matching release routine).",
    wrong: "static int foo_open(struct inode *inode, struct file *file)
{
\treturn foo_start(MINOR(inode->i_rdev));
}",
    right: "static int foo_open(struct inode *inode, struct file *file)
{
\tint err;

\tMOD_INC_USE_COUNT;
\terr = foo_start(MINOR(inode->i_rdev));
\tif (err)
\t\tMOD_DEC_USE_COUNT;
\treturn err;
}",
};

pub fn check(cx: &EntryContext, out: &mut Vec<Finding>) {
    if cx.core_pins
        || cx.paths.increments
        || cx.paths.pins_other_module
        || !cx.paths.success_reachable
    {
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
            "`{}` is reached by name through `{}` (via {}) but never raises the module's use count",
            cx.function, cx.slot, cx.via
        ),
        "add MOD_INC_USE_COUNT as the first statement, MOD_DEC_USE_COUNT on failure returns and in the release routine",
    ));
}
