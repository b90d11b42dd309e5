//! MR006 unbalanced-count: double increment, decrement on the success path, or a decrement
//! without an increment.

use super::{Code, EntryContext, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr006,
    name: "unbalanced-count",
    severity: Severity::Error,
    // Medium: counts through helpers and conditional decrements are summarised, not run.
    precision: Precision::Medium,
    preview: false,
    summary: "the use count is raised twice, dropped on success, or dropped without being raised",
    explanation: "The use count must end a name-taking routine raised by exactly one on \
success (released later by the matching routine) and unchanged on failure. Two increments \
on one path make the module unremovable; a decrement on the success path lets it be unloaded \
while the object it handed out is in use; a decrement without an increment lets the count \
go negative or drops someone else's pin.",
    wrong: "static int foo_open(struct inode *inode, struct file *file)
{
\tif (!foo_ready)
\t\tMOD_DEC_USE_COUNT;      /* never raised on this path */
\tMOD_INC_USE_COUNT;
\treturn 0;
}",
    right: "static int foo_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tif (!foo_ready) {
\t\tMOD_DEC_USE_COUNT;
\t\treturn -ENODEV;
\t}
\treturn 0;
}",
};

pub fn check(cx: &EntryContext, out: &mut Vec<Finding>) {
    if cx.core_pins {
        return;
    }
    for &(first, second) in &cx.paths.double_inc {
        let mut f = cx.finding(
            &RULE,
            second,
            format!(
                "`{}` raises the use count a second time on a path that raised it at line {}",
                cx.function, first.line
            ),
            "raise the count once per call",
        );
        f.evidence
            .push(cx.evidence(Role::Increment, first, "first increment"));
        f.evidence
            .push(cx.evidence(Role::Primary, second, "second increment"));
        out.push(f);
    }
    for &dec in &cx.paths.dec_without_inc {
        let mut f = cx.finding(
            &RULE,
            dec,
            format!(
                "`{}` drops the use count on a path that has not raised it",
                cx.function
            ),
            "drop the count only after raising it",
        );
        f.evidence
            .push(cx.evidence(Role::Primary, dec, "decrement without a matching increment"));
        out.push(f);
    }
    for &(dec, ret) in &cx.paths.dec_on_success {
        let mut f = cx.finding(
            &RULE,
            dec,
            format!(
                "`{}` drops the use count and then returns success at line {}: the module is not pinned while its object is in use",
                cx.function, ret.line
            ),
            "drop the count only on failure returns; the release routine drops it after success",
        );
        f.evidence
            .push(cx.evidence(Role::Primary, dec, "decrement"));
        f.evidence
            .push(cx.evidence(Role::Return, ret, "success return"));
        out.push(f);
    }
}
