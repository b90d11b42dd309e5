//! MR002 leak-on-failure: a failure return after the increment keeps the count raised.

use super::{Code, EntryContext, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr002,
    name: "leak-on-failure",
    severity: Severity::Error,
    // Medium: the returned values are followed through the branch conditions, but a failed
    // open cleaned up by the driver's own close (the tty convention) is still assumed not to
    // be: 2 of 6 right in a fixed-rule sample of 2.2.26 (bench/precision-2.2.26.tsv).
    precision: Precision::Medium,
    preview: false,
    summary: "a failure return after MOD_INC_USE_COUNT does not drop the count",
    explanation: "When a name-taking routine fails, the kernel will never call the routine \
that would drop the use count (release, close, put_super). A failure return after \
MOD_INC_USE_COUNT without MOD_DEC_USE_COUNT leaves the count raised for ever: the module can \
never be unloaded. Routines that bracket their run (binary loaders) must drop the count on \
every return.",
    wrong: "static int foo_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tif (foo_busy)
\t\treturn -EBUSY;          /* the count stays raised */
\treturn 0;
}",
    right: "static int foo_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tif (foo_busy) {
\t\tMOD_DEC_USE_COUNT;
\t\treturn -EBUSY;
\t}
\treturn 0;
}",
};

pub fn check(cx: &EntryContext, out: &mut Vec<Finding>) {
    if cx.core_pins {
        return;
    }
    for &(inc, ret) in &cx.paths.leaks {
        let mut f = cx.finding(
            &RULE,
            ret,
            match cx.release_on_failure {
                Some(release) => format!(
                    "`{}` returns failure with its use count raised; the core calls the `{release}` routine after a failed open, so that routine must drop it",
                    cx.function
                ),
                None => format!(
                    "`{}` returns failure with the use count raised at line {}",
                    cx.function, inc.line
                ),
            },
            "add MOD_DEC_USE_COUNT before this return",
        );
        if cx.release_on_failure.is_some() {
            // The decrement may legitimately live in the release routine; not an error
            // unless that routine is shown not to drop it.
            continue;
        }
        f.evidence
            .push(cx.evidence(Role::Increment, inc, "the use count is raised here"));
        f.evidence
            .push(cx.evidence(Role::Primary, ret, "this failure return keeps it raised"));
        out.push(f);
    }
}
