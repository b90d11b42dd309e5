//! MR001 sleep-before-inc: something that may sleep runs before the increment.

use super::{Code, EntryContext, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr001,
    name: "sleep-before-inc",
    severity: Severity::Error,
    // High: the chain runs down to a primitive of the knowledge base; unknowns count as not
    // sleeping, which loses findings rather than invents them.
    precision: Precision::High,
    preview: false,
    summary: "a name-taking entry routine may sleep before MOD_INC_USE_COUNT",
    explanation: "The kernel reaches this routine through a pointer the module registered, \
and with a name rather than a token that would keep the module loaded. Only the big kernel \
lock keeps `rmmod` out while the routine starts, and sleeping drops that lock. If the routine \
sleeps before it raises its use count, the module can be unloaded while the routine is still \
running, and the kernel then executes freed memory. The increment must come first.",
    wrong: "static int foo_open(struct inode *inode, struct file *file)
{
\tif (request_irq(FOO_IRQ, foo_interrupt, 0, \"foo\", NULL))
\t\treturn -EBUSY;          /* request_irq may sleep in kmalloc */
\tMOD_INC_USE_COUNT;
\treturn 0;
}",
    right: "static int foo_open(struct inode *inode, struct file *file)
{
\tMOD_INC_USE_COUNT;
\tif (request_irq(FOO_IRQ, foo_interrupt, 0, \"foo\", NULL)) {
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
    for &(call, inc) in &cx.paths.sleep_before_inc {
        let (text, at) = (cx.call_text)(call);
        let chain = (cx.sleep_chain)(call);
        let why = match chain.last() {
            Some(last) if chain.len() > 1 => format!(" (it reaches `{}`)", last.call),
            _ => String::new(),
        };
        let mut f = cx.finding(
            &RULE,
            at,
            format!(
                "`{}` may sleep in `{text}`{why} before MOD_INC_USE_COUNT at line {}",
                cx.function, inc.line
            ),
            "move MOD_INC_USE_COUNT to the top of the routine and drop the count on every failure return",
        );
        f.evidence
            .push(cx.evidence(Role::Primary, at, format!("`{text}` may sleep")));
        f.evidence
            .push(cx.evidence(Role::Increment, inc, "the use count is raised only here"));
        f.chain = chain;
        out.push(f);
    }
}
