//! MR004 unlocked-entry: the core calls a name-taking slot without the big kernel lock.
//!
//! Checked at the core's call sites, not in the module, on the lock analysis ([`crate::bkl`]).

use crate::bkl::{BklReport, CallSite, Exposed, SlotLocking, Verdict};
use crate::chain::chain_text;
use crate::entries::SlotRef;
use crate::facts::Span;

use super::{Code, Evidence, Finding, Precision, Role, Rule, Severity};

/// How many exposed routines a finding names before it says "and N more".
const MAX_NAMED: usize = 8;

pub const RULE: Rule = Rule {
    code: Code::Mr004,
    name: "unlocked-entry",
    severity: Severity::Error,
    // Medium: the lock analysis is path-insensitive and ties some call sites to their slot by
    // field name only.
    precision: Precision::Medium,
    preview: false,
    summary: "the core calls a name-taking slot without holding the big kernel lock",
    explanation: "A module routine reached by name can only raise its use count safely if \
`rmmod` cannot run between the call and the increment. In 2.2/2.4 kernels the big kernel lock \
is what keeps it out: module unloading takes it. If the core calls the slot without the lock, \
even an increment as the very first statement comes too late on SMP, and every module that \
fills the slot is exposed.",
    wrong: "int sock_create(int family, int type, int protocol, struct socket **res)
{
\t...
\ti = net_families[family]->create(sock, protocol);   /* no lock_kernel() */
}",
    right: "int sock_create(int family, int type, int protocol, struct socket **res)
{
\t...
\tlock_kernel();
\ti = net_families[family]->create(sock, protocol);
\tunlock_kernel();
}",
};

/// One finding per call of a name-taking slot holding module code that does not hold the lock
/// on some path, located at the core's call site.
pub fn check(bkl: &BklReport, out: &mut Vec<Finding>) {
    for slot in &bkl.slots {
        for site in slot.unlocked_module_calls() {
            // Only the module routines the call's tables can hold, when they are known.
            let modules: Vec<&Exposed> = slot.module_routines_at(site).collect();
            out.push(finding(slot, site, &modules));
        }
    }
}

fn finding(slot: &SlotLocking, site: &CallSite, modules: &[&Exposed]) -> Finding {
    let how = if site.verdict == Verdict::NotHeld {
        "on every path found"
    } else {
        "on some paths"
    };
    let mut names: Vec<String> = modules
        .iter()
        .take(MAX_NAMED)
        .map(|e| e.function.clone())
        .collect();
    if modules.len() > MAX_NAMED {
        names.push(format!("and {} more", modules.len() - MAX_NAMED));
    }
    let mut message = format!(
        "{} (slot {}) is called without the big kernel lock {how}: {}; module routines exposed: {}",
        site.callee,
        slot.slot,
        chain_text(&site.unheld_chain),
        names.join(", ")
    );
    if site.verdict == Verdict::Mixed {
        let by = site
            .protection
            .as_ref()
            .map_or(String::new(), |p| format!(": {p}"));
        message.push_str(&format!(" (held on {}{by})", chain_text(&site.held_chain)));
    }
    let at =
        |role, file: &str, line, note: String| Evidence::at(role, file, Span::at(line, 0), note);
    let mut evidence: Vec<Evidence> = site
        .unheld_chain
        .iter()
        .map(|s| {
            at(
                Role::Chain,
                &s.file,
                s.line,
                format!("{} calls {} without the lock", s.function, s.call),
            )
        })
        .collect();
    if let Some(u) = &site.unknown {
        evidence.push(at(
            Role::Unfollowed,
            &site.file,
            site.line,
            format!("some paths were not followed: {u}"),
        ));
    }
    evidence.extend(modules.iter().take(MAX_NAMED).map(|e| {
        at(
            Role::Exposed,
            &e.file,
            e.line,
            format!("{} sits in {} and can be a module", e.function, slot.slot),
        )
    }));
    Finding {
        rule: RULE.code,
        name: RULE.name,
        severity: RULE.severity,
        file: site.file.clone(),
        line: site.line,
        column: site.column,
        function: site.function.clone(),
        slot: SlotRef::Field(slot.slot.clone()),
        message,
        evidence,
        chain: site.unheld_chain.clone(),
        help: format!(
            "hold lock_kernel() around the call of {} (as sys_open does around f_op->open)",
            site.callee
        ),
    }
}
