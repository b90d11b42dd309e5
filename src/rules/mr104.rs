//! MR104 unbalanced-lifetime: a module reference taken and dropped a different number of
//! times: taken in a slot the core calls once per call and dropped in one it calls once per
//! object (or the reverse), or dropped on a path that holds no reference.
//!
//! Checked on [`crate::owners::unbalanced`]: one finding per table and module expression (at
//! the get) or per routine and module expression (at the first put without a reference).

use crate::entries::{Slot, SlotRef};
use crate::owners::Unbalanced;

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr104,
    name: "unbalanced-lifetime",
    severity: Severity::Error,
    precision: Precision::Medium,
    // Preview until judged on more than one tree (README: 6.1 gives too few findings to
    // measure its precision).
    preview: true,
    summary: "a module reference is taken and dropped a different number of times",
    explanation: "Every try_module_get() or __module_get() must be matched by exactly one \
module_put(). The core calls a table's slots at different rates: a tty's open and close once per \
open call, its install and cleanup once per tty object; a file's open and release once per open \
file, its flush once per close() of every descriptor. A reference taken in a slot of one rate and \
dropped in a slot of another is dropped too often (the count reaches zero while the module is \
still in use, and rmmod frees code that is still running) or too rarely (the module can never be \
unloaded). The same holds for a put on the failure path of the routine's own try_module_get(): \
it drops a reference that was never taken.",
    wrong: "static int frob_open(struct tty_struct *tty, struct file *filp)
{
\t/* once per open() ... */
\tif (!try_module_get(frob_hw->owner))
\t\treturn -ENODEV;
\treturn 0;
}

static void frob_cleanup(struct tty_struct *tty)
{
\t/* ... but once per tty: a second open leaks its reference */
\tmodule_put(frob_hw->owner);
}

static const struct tty_operations frob_ops = {
\t.open\t\t= frob_open,
\t.cleanup\t= frob_cleanup,
};",
    right: "static int frob_open(struct tty_struct *tty, struct file *filp)
{
\tif (!try_module_get(frob_hw->owner))
\t\treturn -ENODEV;
\treturn 0;
}

static void frob_close(struct tty_struct *tty, struct file *filp)
{
\tmodule_put(frob_hw->owner);
}

static const struct tty_operations frob_ops = {
\t.open\t\t= frob_open,
\t.close\t\t= frob_close,
};",
};

pub fn check(found: &[Unbalanced], out: &mut Vec<Finding>) {
    out.extend(found.iter().map(finding));
}

fn finding(u: &Unbalanced) -> Finding {
    let (message, help, slot, evidence) = match u {
        Unbalanced::AcrossSlots {
            strukt,
            table,
            target,
            get,
            get_slot,
            put,
            put_slot,
        } => (
            format!(
                "`{}` ({strukt}.{} of `{table}`, called {}) takes a reference on {target} that \
only `{}` ({strukt}.{}, called {}) drops: taken and dropped a different number of times, the \
count either never returns to zero or reaches it while the module is in use",
                get.function,
                get_slot.field,
                get_slot.class,
                put.function,
                put_slot.field,
                put_slot.class,
            ),
            format!(
                "drop the reference in the slot that pairs with `{}` ({}), or take it where \
`{}` pairs",
                get_slot.field, get_slot.class, put_slot.field
            ),
            SlotRef::Field(Slot::new(strukt, &get_slot.field)),
            vec![
                Evidence::at(
                    Role::Primary,
                    &get.file,
                    get.at,
                    format!("the reference is taken here: {}({target})", get.routine),
                ),
                Evidence::at(
                    Role::Release,
                    &put.file,
                    put.at,
                    format!("and dropped here, in {strukt}.{}", put_slot.field),
                ),
                Evidence::at(
                    Role::Chain,
                    &get.file,
                    get.at,
                    format!(
                        "{strukt}.{} is called {}; {strukt}.{} {} ({}; {})",
                        get_slot.field,
                        get_slot.class,
                        put_slot.field,
                        put_slot.class,
                        get_slot.evidence,
                        put_slot.evidence
                    ),
                ),
            ],
        ),
        Unbalanced::OnPath { target, put, get } => (
            format!(
                "`{}` drops its reference on {target} here on a path where it holds none: the \
get at line {} did not run or failed on this path, or the reference was dropped already; the \
extra put lets the count reach zero while the module is in use",
                put.function, get.at.line
            ),
            format!(
                "call {}({target}) only on the paths where the routine took the reference",
                put.routine
            ),
            SlotRef::Callback {
                routine: put.routine.clone(),
                arg: 0,
            },
            vec![
                Evidence::at(
                    Role::Primary,
                    &put.file,
                    put.at,
                    "a put with no reference held on this path",
                ),
                Evidence::at(
                    Role::Increment,
                    &get.file,
                    get.at,
                    format!(
                        "the routine's reference is taken here: {}({target})",
                        get.routine
                    ),
                ),
            ],
        ),
    };
    let site = u.site();
    Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: site.file.clone(),
        line: site.at.line,
        column: site.at.column,
        function: site.function.clone(),
        slot,
        message,
        evidence,
        chain: Vec::new(),
        help,
    }
}
