//! The gcc format: one line per finding and per note, as gcc prints them, for editors'
//! quickfix lists (Vim's and Emacs' default error formats read it).
//!
//! ```text
//! drivers/char/foo.c:15:6: error: `foo_open` may sleep in `request_irq(FOO_IRQ, foo_interrupt, 0, "foo", NULL)` (it reaches `kmalloc(sizeof(struct irqaction), GFP_KERNEL)`) before MOD_INC_USE_COUNT at line 19 [MR001]
//! drivers/char/foo.c:15:6: note: `request_irq(FOO_IRQ, foo_interrupt, 0, "foo", NULL)` may sleep
//! drivers/char/foo.c:19:2: note: the use count is raised only here
//! arch/i386/kernel/irq.c:1030: note: `request_irq` calls `kmalloc(sizeof(struct irqaction), GFP_KERNEL)`
//! ```
//!
//! After the finding: a note per piece of evidence, then one per step of the may-sleep chain
//! that the evidence does not show already. The column is left out where it is unknown.

use std::fmt::Write;

use super::one_line;
use crate::rules::CheckReport;
use crate::rules::Finding;

pub(crate) fn render(report: &CheckReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        finding(&mut out, f);
    }
    out
}

fn location(file: &str, line: u32, column: u32) -> String {
    match (line, column) {
        (0, _) => file.to_string(),
        (_, 0) => format!("{file}:{line}"),
        _ => format!("{file}:{line}:{column}"),
    }
}

fn finding(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "{}: {}: {} [{}]",
        location(&f.file, f.line, f.column),
        f.severity.as_str(),
        one_line(&f.message),
        f.rule
    );
    for e in &f.evidence {
        let _ = writeln!(
            out,
            "{}: note: {}",
            location(&e.file, e.line, e.span.column),
            one_line(&e.note)
        );
    }
    // Steps of the chain the evidence shows already (the routine's own call) are left out.
    for step in f.chain.iter().filter(|s| {
        !f.evidence
            .iter()
            .any(|e| e.file == s.file && e.line == s.line)
    }) {
        let _ = writeln!(
            out,
            "{}: note: `{}` calls `{}`",
            location(&step.file, step.line, 0),
            step.function,
            one_line(&step.call)
        );
    }
}
