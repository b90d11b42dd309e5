//! MR005 late-inc: the increment is not the first action, though nothing before it sleeps.

use super::{Code, EntryContext, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr005,
    name: "late-inc",
    severity: Severity::Warning,
    // High: 12 of 12 right in fixed-rule samples of 2.3.41 and 2.2.26 once `nowork` dropped
    // the macros that only compute or trace (`MINOR()`, a `DPRINTK` the tree compiles out;
    // before, 1 of 5: bench/precision-2.2.26.tsv, bench/precision-*-after.tsv). Not very
    // high: the evidence may still name a compiled-out debug statement as the first work.
    // Session 12: branches on symbols defined nowhere (`#ifdef ISICOM_DEBUG`), `#if X` with
    // X only 0 and `panic` on constant checks are no work (nowork, usecount::returns).
    precision: Precision::High,
    preview: false,
    summary: "MOD_INC_USE_COUNT is not the routine's first action",
    explanation: "Nothing before the increment sleeps today, so the module cannot go away yet. \
But the code between entry and increment is one added kmalloc or copy_from_user away from a \
real unload race, and nobody will think of the count then. Raising it first costs nothing.",
    // Work, not a test: a pure macro (`MINOR()`) or a range check before the increment is
    // not reported (facts of the tree's macros, `nowork`).
    wrong: "static int foo_state;

static void foo_reset(void)
{
\tfoo_state = 0;
}

static int foo_open(struct inode *inode, struct file *file)
{
\tfoo_reset();            /* work, before the count is raised */
\tMOD_INC_USE_COUNT;
\treturn 0;
}",
    right: "static int foo_state;

static void foo_reset(void)
{
\tfoo_state = 0;
}

static int foo_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tfoo_reset();
\treturn 0;
}",
};

pub fn check(cx: &EntryContext, out: &mut Vec<Finding>) {
    // A routine that sleeps first gets MR001, which says more.
    if cx.core_pins || !cx.paths.sleep_before_inc.is_empty() {
        return;
    }
    if let Some(&(first, inc)) = cx.paths.late_inc.first() {
        let mut f = cx.finding(
            &RULE,
            inc,
            format!(
                "MOD_INC_USE_COUNT in `{}` comes after other work (line {})",
                cx.function, first.line
            ),
            "make MOD_INC_USE_COUNT the first statement",
        );
        f.evidence
            .push(cx.evidence(Role::Work, first, "work done before the increment"));
        f.evidence
            .push(cx.evidence(Role::Primary, inc, "the increment"));
        out.push(f);
    }
}
