//! MR101 missing-owner: a table the core pins through its owner field, of a module that can be
//! unloaded, defined with no owner.
//!
//! Checked on the owner analysis ([`crate::owners`]): one finding per table, at its definition.

use crate::entries::{Slot, SlotRef};
use crate::facts::Span;
use crate::owners::{PinSite, UnownedTable};

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

pub const RULE: Rule = Rule {
    code: Code::Mr101,
    name: "missing-owner",
    severity: Severity::Error,
    // High until judged on trees the rule was not tuned on; see the README's precision notes.
    precision: Precision::High,
    preview: false,
    summary: "a table the core pins through its owner field is defined without an owner",
    explanation: "Since 2.5 the core pins a module before it calls into one of its tables: \
it takes a reference on the table's owner field (try_module_get, fops_get) and drops it when \
the call, or the open file, is done. A table with no owner gives the core nothing to pin: \
try_module_get(NULL) succeeds, rmmod goes ahead while a file the table opened is still in use, \
and the module's release, read or ioctl then runs in freed memory. Every table handed to a \
routine that pins this way needs `.owner = THIS_MODULE` (or the module that holds its \
routines).",
    wrong: "static const struct file_operations frob_fops = {
\t.open\t\t= frob_open,
\t.release\t= frob_release,
};

static int frob_init(void)
{
\tdebugfs_create_file(\"frob\", 0444, NULL, NULL, &frob_fops);
\treturn 0;
}",
    right: "static const struct file_operations frob_fops = {
\t.owner\t\t= THIS_MODULE,
\t.open\t\t= frob_open,
\t.release\t= frob_release,
};

static int frob_init(void)
{
\tdebugfs_create_file(\"frob\", 0444, NULL, NULL, &frob_fops);
\treturn 0;
}",
};

pub fn check(tables: &[UnownedTable], this_module: &str, out: &mut Vec<Finding>) {
    out.extend(tables.iter().map(|t| finding(t, this_module)));
}

fn finding(t: &UnownedTable, this_module: &str) -> Finding {
    let pin = &t.pin;
    let consumers: Vec<&str> = {
        let mut c: Vec<&str> = t.handoffs.iter().map(|h| h.consumer.as_str()).collect();
        c.dedup();
        c
    };
    // The consumer's own pin, in the knowledge base's words, else a pin read off the tree.
    let consumer_pin = t.handoffs.iter().find_map(|h| h.evidence.clone());
    let pinned_where = consumer_pin.unwrap_or_else(|| match &pin.site {
        PinSite::Call {
            routine,
            file,
            line,
            ..
        } => format!("{routine} at {file}:{line}"),
        PinSite::Known { evidence } => evidence.clone(),
    });
    let message = format!(
        "`{}` has no {}: {} keeps it, and the core pins a table's module through `{}.{}` \
before calling into it ({pinned_where}); with none set nothing is pinned, and rmmod can free the \
module while its routines run",
        t.name,
        pin.field,
        consumers.join(", "),
        pin.strukt,
        pin.field,
    );
    let at = |role, file: &str, line, column, note: String| {
        Evidence::at(role, file, Span::at(line, column), note)
    };
    let mut evidence = vec![at(
        Role::Primary,
        &t.file,
        t.line,
        1,
        format!(
            "`{}` defined here with no {}; its {} {} can run after the module is gone",
            t.name,
            pin.field,
            if t.routines.len() == 1 {
                "routine"
            } else {
                "routines"
            },
            routines_text(&t.routines)
        ),
    )];
    evidence.extend(t.handoffs.iter().map(|h| {
        at(
            Role::Handoff,
            &h.file,
            h.line,
            h.column,
            format!("handed to {} here", h.consumer),
        )
    }));
    if let PinSite::Call {
        file, line, column, ..
    } = &pin.site
    {
        evidence.push(at(
            Role::Pin,
            file,
            *line,
            *column,
            format!(
                "the core pins struct {} through {} here",
                pin.strukt, pin.field
            ),
        ));
    }
    let (exit_file, exit_line) = &t.exit;
    let module = t
        .module
        .as_ref()
        .map_or(String::new(), |m| format!(" {}", m.module));
    evidence.push(at(
        Role::Exit,
        exit_file,
        *exit_line,
        1,
        format!("the module{module} can be unloaded: its exit routine is named here"),
    ));
    Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: t.file.clone(),
        line: t.line,
        column: 1,
        function: t.name.clone(),
        slot: SlotRef::Field(Slot::new(&pin.strukt, &pin.field)),
        message,
        evidence,
        chain: Vec::new(),
        help: format!(
            "add `.{} = {this_module},` to the initializer of `{}`",
            pin.field, t.name
        ),
    }
}

/// The table's routines, the first few named.
fn routines_text(routines: &[String]) -> String {
    const NAMED: usize = 3;
    let mut named: Vec<String> = routines
        .iter()
        .take(NAMED)
        .map(|r| format!("`{r}`"))
        .collect();
    if routines.len() > NAMED {
        named.push(format!("and {} more", routines.len() - NAMED));
    }
    named.join(", ")
}
