//! The knowledge base's `[bkl]` section: the big kernel lock's primitives, the roots the
//! lock analysis starts from, and its search bounds.

use serde::Deserialize;

/// The knowledge base's section on the big kernel lock (`[bkl]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BklKb {
    /// Take the lock (one level deeper).
    pub lock: Vec<String>,
    /// Release one level.
    pub unlock: Vec<String>,
    /// Drop the lock and retake it at the same depth (around a sleep): no change.
    pub depth_preserving: Vec<String>,
    /// Functions whose name starts with one of these are system-call entries, entered from
    /// user space without the lock.
    pub syscall_prefixes: Vec<String>,
    /// Functions declared with one of these attributes and called by nothing in the tree are
    /// entered from assembly (system calls, traps) without the lock.
    pub root_attributes: Vec<String>,
    /// Other functions entered from outside the C code, with the lock depth they get.
    pub roots: Vec<Root>,
    /// Calls that make one of their arguments an entry point (`kernel_thread(fn, ...)`,
    /// `module_init(fn)`), with the lock depth it is entered with.
    pub root_calls: Vec<RootCall>,
    /// How many callers up the search goes from a slot's call site.
    pub max_depth: usize,
    /// How many functions the search visits at most.
    pub max_functions: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub name: String,
    pub depth: u8,
    #[serde(default)]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootCall {
    pub name: String,
    /// 0-based index of the argument naming the entered function.
    pub arg: usize,
    pub depth: u8,
    #[serde(default)]
    pub why: Option<String>,
}
