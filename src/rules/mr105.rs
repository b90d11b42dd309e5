//! MR105 unprotected-self-pin: a routine the core calls with nothing holding the module pins
//! its own module (`try_module_get(THIS_MODULE)`): too late, the code may already be going.
//!
//! Checked on the self-reference analysis ([`crate::owners::self_refs`]): one finding per
//! self-pin in an unguarded routine, at the call.

use crate::entries::{Slot, SlotRef};
use crate::owners::{Reach, SelfRef, SelfRefKind};

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr105,
    name: "unprotected-self-pin",
    severity: Severity::Error,
    precision: Precision::High,
    preview: false,
    summary: "a routine the core calls without holding the module pins its own module, too late",
    explanation: "A module cannot protect itself from rmmod from inside its own code: by the \
time try_module_get(THIS_MODULE) runs, rmmod may already have started to unload the module, and \
the instructions making the call may be freed under it. A self-pin is only safe where something \
else already holds the module: a table the core pins through its owner field before calling in, \
the module's init routine, or a callback that the unregister waits for. In a routine the core \
calls through a slot that neither pins nor drains, the reference must be taken by the caller, \
through an owner field of the table, before the call.",
    wrong: "static int frob_grab(struct inode *inode, struct file *file)
{
\t/* Too late: rmmod may be freeing this code already. */
\tif (!try_module_get(THIS_MODULE))
\t\treturn -ENODEV;
\treturn 0;
}

static int frob_drop(struct inode *inode, struct file *file)
{
\tmodule_put(THIS_MODULE);
\treturn 0;
}

static const struct file_operations frob_fops = {
\t.open\t\t= frob_grab,
\t.release\t= frob_drop,
};

static int frob_init(void)
{
\tdebugfs_create_file(\"frob\", 0444, NULL, NULL, &frob_fops);
\treturn 0;
}",
    right: "static const struct file_operations frob_fops = {
\t.owner\t\t= THIS_MODULE,\t/* the core pins it before calling open */
\t.open\t\t= frob_open,
\t.release\t= frob_release,
};

static int frob_init(void)
{
\tdebugfs_create_file(\"frob\", 0444, NULL, NULL, &frob_fops);
\treturn 0;
}",
};

pub fn check(refs: &[SelfRef], out: &mut Vec<Finding>) {
    let pins = refs.iter().filter(|r| r.kind == SelfRefKind::Pin);
    out.extend(pins.filter_map(finding));
}

fn finding(r: &SelfRef) -> Option<Finding> {
    let Reach::Unguarded {
        strukt,
        field,
        evidence,
        file,
        line,
    } = &r.reach
    else {
        return None;
    };
    let reached = match &r.via_caller {
        Some(c) => format!("`{}` (called by `{c}`)", r.function),
        None => format!("`{}`", r.function),
    };
    let message = format!(
        "{reached} pins its own module with {}(THIS_MODULE), but the core calls it through \
`{strukt}.{field}` with nothing holding the module ({evidence}): rmmod may already be unloading \
the module when this runs",
        r.routine
    );
    let handoff = crate::facts::Span::at(*line, 1);
    let exit = crate::facts::Span::at(r.exit.1, 1);
    Some(Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: r.file.clone(),
        line: r.at.line,
        column: r.at.column,
        function: r.function.clone(),
        slot: SlotRef::Field(Slot::new(strukt, field)),
        message,
        evidence: vec![
            Evidence::at(
                Role::Primary,
                &r.file,
                r.at,
                "the module pins itself here, from its own code",
            ),
            Evidence::at(
                Role::Handoff,
                file,
                handoff,
                format!("the routine is put in {strukt}.{field} here"),
            ),
            Evidence::at(
                Role::Exit,
                &r.exit.0,
                exit,
                "the module can be unloaded: its exit routine is named here",
            ),
        ],
        chain: Vec::new(),
        help: format!(
            "pin the module before the core calls `{strukt}.{field}` (an owner field the core \
pins, or a reference the caller takes), not inside the callback"
        ),
    })
}
