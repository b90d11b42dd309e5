//! MR002 leak-on-failure: a failure return after the increment keeps the count raised.

use super::{Code, EntryContext, Evidence, Finding, Precision, Role, Rule, Severity};
use crate::facts::Span;
use crate::usecount::release::ReleaseVerdict;

pub const RULE: Rule = Rule {
    code: Code::Mr002,
    name: "leak-on-failure",
    severity: Severity::Error,
    // Medium: the returned values are followed through the branch conditions and the tty
    // close convention is checked on the path (2 of 6 right on 2.2.26 before that check,
    // bench/precision-2.2.26.tsv; its 4 false ones are gone), but a failure path that calls
    // the driver's own release (per-mode counts) is not yet followed.
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
        let mut f = match cx.release_on_failure {
            Some((field, release)) => match release.judge(ret) {
                // The core's call of the release routine drops it (or nothing says otherwise).
                ReleaseVerdict::Drops | ReleaseVerdict::Unknown => continue,
                ReleaseVerdict::Leaks {
                    routine,
                    file,
                    exit_line,
                    unset,
                } => {
                    let mut f = cx.finding(
                        &RULE,
                        ret,
                        release_message(cx.function, field, &routine, exit_line, &unset),
                        "add MOD_DEC_USE_COUNT before this return",
                    );
                    f.evidence.push(Evidence::at(
                        Role::Release,
                        &file,
                        Span::at(exit_line, 0),
                        format!("`{routine}` returns here without dropping the count"),
                    ));
                    f
                }
            },
            None => cx.finding(
                &RULE,
                ret,
                format!(
                    "`{}` returns failure with the use count raised at line {}",
                    cx.function, inc.line
                ),
                "add MOD_DEC_USE_COUNT before this return",
            ),
        };
        f.evidence
            .push(cx.evidence(Role::Increment, inc, "the use count is raised here"));
        f.evidence
            .push(cx.evidence(Role::Primary, ret, "this failure return keeps it raised"));
        out.push(f);
    }
}

/// Why the core's release routine does not save this failure return.
fn release_message(
    function: &str,
    field: &str,
    routine: &str,
    exit_line: u32,
    unset: &[String],
) -> String {
    let unless = if unset.is_empty() {
        String::new()
    } else {
        let fields: Vec<String> = unset.iter().map(|f| format!("`{f}`")).collect();
        format!(
            " when {} is not set, and this path has not set it",
            fields.join(" or ")
        )
    };
    format!(
        "`{function}` returns failure with its use count raised; the core then calls the `{field}` routine, but `{routine}` returns at line {exit_line} without dropping it{unless}"
    )
}
