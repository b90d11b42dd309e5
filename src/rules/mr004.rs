//! MR004 unlocked-entry: the core calls a name-taking slot without the big kernel lock.
//!
//! Checked at the core's call sites, not in the module; see [`crate::bkl`].

use super::{Rule, Severity};

pub const RULE: Rule = Rule {
    code: "MR004",
    name: "unlocked-entry",
    severity: Severity::Error,
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
