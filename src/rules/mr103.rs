//! MR103 get-leak-on-failure: a routine takes a module reference and returns a failure with it
//! still held.
//!
//! Checked on the reference walk of [`crate::owners::get_leaks`]: one finding per routine and
//! module expression, at the first leaking return.

use crate::entries::SlotRef;
use crate::owners::GetLeak;

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr103,
    name: "get-leak-on-failure",
    severity: Severity::Error,
    // Medium: 7 of 8 findings on 6.1 judged true (bench/precision-mr103-6.1.tsv), six of
    // them one copied pattern; an object handed on through a table the tree defines with a
    // token-pasting macro (bcache's KTYPE) is not seen.
    precision: Precision::Medium,
    preview: false,
    summary: "a module reference taken with try_module_get is kept on a failure return",
    explanation: "try_module_get() pins a module until module_put() drops the reference. A \
routine that takes the reference and then fails, returning an error without the put, keeps the \
module pinned for good: its reference count never returns to zero and rmmod refuses to unload \
it. Every failure return after a successful get must put what the get took (a success may hand \
the reference to an object whose release puts it).",
    wrong: "static int frob_attach(struct frob *f)
{
\tif (!try_module_get(f->ops->owner))
\t\treturn -ENODEV;
\tif (frob_setup(f))
\t\treturn -EIO;
\treturn 0;
}",
    right: "static int frob_attach(struct frob *f)
{
\tif (!try_module_get(f->ops->owner))
\t\treturn -ENODEV;
\tif (frob_setup(f)) {
\t\tmodule_put(f->ops->owner);
\t\treturn -EIO;
\t}
\treturn 0;
}",
};

pub fn check(leaks: &[GetLeak], out: &mut Vec<Finding>) {
    out.extend(leaks.iter().map(finding));
}

fn finding(l: &GetLeak) -> Finding {
    Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: l.file.clone(),
        line: l.return_at.line,
        column: l.return_at.column,
        function: l.function.clone(),
        slot: SlotRef::Callback {
            routine: l.get_routine.clone(),
            arg: 0,
        },
        message: format!(
            "`{}` fails here with the reference {}({}) took at line {} still held: the module \
can never be unloaded after this failure",
            l.function, l.get_routine, l.target, l.get_at.line
        ),
        evidence: vec![
            Evidence::at(
                Role::Primary,
                &l.file,
                l.return_at,
                "a failure return that keeps the reference",
            ),
            Evidence::at(
                Role::Increment,
                &l.file,
                l.get_at,
                format!(
                    "the reference is taken here: {}({})",
                    l.get_routine, l.target
                ),
            ),
        ],
        chain: Vec::new(),
        help: format!(
            "call {}({}) before this return, as the routine's other failure paths must",
            l.put_routine, l.target
        ),
    }
}
