//! MR106 self-put-then-return: a routine drops its own module's reference
//! (`module_put(THIS_MODULE)`) where nothing else holds the module, and more of the module's
//! code runs after it.
//!
//! Checked on the self-reference analysis ([`crate::owners::self_refs`]): a kernel thread's
//! function always returns into its own code after the put (its epilogue is the module's), so
//! every self-put in one is a finding; in an unguarded routine, a self-put followed by more
//! than a plain return is.

use crate::entries::{Slot, SlotRef};
use crate::facts::Span;
use crate::owners::{Reach, SelfRef, SelfRefKind};

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr106,
    name: "self-put-then-return",
    severity: Severity::Error,
    precision: Precision::High,
    preview: false,
    summary: "a module drops its own reference and then runs more of its own code",
    explanation: "module_put(THIS_MODULE) may drop the last reference that keeps a module \
loaded. From then on rmmod can free the module, so none of its code may run after the put \
unless something else still holds the module. A kernel thread's function is the module's own \
code to its last instruction, and nothing pins a module while its thread runs: a thread that \
holds a reference on its module must drop it and exit in one step, with \
module_put_and_kthread_exit(), which never returns into the module. Elsewhere, the put must be \
the routine's last act, or happen where the caller still holds the module.",
    wrong: "static int frob_thread(void *arg)
{
\tfrob_work(arg);
\tmodule_put(THIS_MODULE);
\treturn 0;
}

static int frob_init(void)
{
\t__module_get(THIS_MODULE);
\tkthread_run(frob_thread, NULL, \"frob\");
\treturn 0;
}",
    right: "static int frob_thread(void *arg)
{
\tfrob_work(arg);
\tmodule_put_and_kthread_exit(0);
}

static int frob_init(void)
{
\t__module_get(THIS_MODULE);
\tkthread_run(frob_thread, NULL, \"frob\");
\treturn 0;
}",
};

/// `exit_routine` is the routine that puts and ends a thread (the fix).
pub fn check(refs: &[SelfRef], exit_routine: &str, out: &mut Vec<Finding>) {
    let puts = refs.iter().filter(|r| r.kind == SelfRefKind::Put);
    out.extend(puts.filter_map(|r| finding(r, exit_routine)));
}

fn finding(r: &SelfRef, exit_routine: &str) -> Option<Finding> {
    let mut evidence = vec![Evidence::at(
        Role::Primary,
        &r.file,
        r.at,
        "the module drops its own reference here",
    )];
    let (slot, message, help) = match &r.reach {
        Reach::Thread {
            starter,
            file,
            line,
        } => {
            evidence.push(Evidence::at(
                Role::Handoff,
                file,
                Span::at(*line, 1),
                format!(
                    "`{}` runs as a kernel thread, started by {starter} here",
                    r.function
                ),
            ));
            (
                SlotRef::Callback {
                    routine: starter.clone(),
                    arg: 0,
                },
                format!(
                    "the kernel thread `{}` drops its module's reference with {}(THIS_MODULE) and \
then returns through its own code: nothing else holds the module, and rmmod can free it before \
the thread is done",
                    r.function, r.routine
                ),
                format!(
                    "end the thread with {exit_routine}(...), which drops the reference and \
exits without returning into the module"
                ),
            )
        }
        Reach::Unguarded {
            strukt,
            field,
            evidence: why,
            file,
            line,
        } => {
            let after = r.after?;
            evidence.push(Evidence::at(
                Role::Work,
                &r.file,
                after,
                "more of the module's code runs here, after the put",
            ));
            evidence.push(Evidence::at(
                Role::Handoff,
                file,
                Span::at(*line, 1),
                format!("the routine is put in {strukt}.{field} here"),
            ));
            (
                SlotRef::Field(Slot::new(strukt, field)),
                format!(
                    "`{}` drops its module's reference with {}(THIS_MODULE) and then runs more \
of its code (line {}), but the core calls it through `{strukt}.{field}` with nothing else \
holding the module ({why})",
                    r.function, r.routine, after.line
                ),
                "make the put the routine's last act, or drop the reference where the caller \
still holds the module"
                    .to_string(),
            )
        }
    };
    evidence.push(Evidence::at(
        Role::Exit,
        &r.exit.0,
        Span::at(r.exit.1, 1),
        "the module can be unloaded: its exit routine is named here",
    ));
    Some(Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: r.file.clone(),
        line: r.at.line,
        column: r.at.column,
        function: r.function.clone(),
        slot,
        message,
        evidence,
        chain: Vec::new(),
        help,
    })
}
