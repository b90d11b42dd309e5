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
    /// Entry code that takes the lock for every system call of an architecture (2.0's
    /// `ENTER_KERNEL`). Where the tree's own entry code has it, system calls of that
    /// architecture are entered holding the lock.
    pub entry_locks: Vec<EntryLock>,
    /// A file whose absence from a tree that has code of architecture `{arch}` means the tree
    /// runs that architecture on one processor only (`arch/{arch}/kernel/smp.c`).
    pub smp_code: Option<String>,
    /// How the core pins a table's module before it calls the table (2.4): see [`CorePin`].
    pub core_pin: CorePin,
    /// What the search may read off values on a chain to drop calls that cannot happen on it
    /// (`bkl::prune`): see [`ValueTests`].
    pub value_tests: ValueTests,
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
    /// The entered function runs inside this function's work (netlink input inside
    /// `sys_sendmsg`): it holds the lock when that function holds it around some call, and
    /// `depth` is the depth otherwise.
    #[serde(default)]
    pub inside: Option<String>,
    #[serde(default)]
    pub why: Option<String>,
}

/// Where an architecture's system-call entry code takes the lock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLock {
    pub arch: String,
    /// The entry code, relative to the tree's root.
    pub file: String,
    /// The line that starts the system-call entry (`ENTRY(system_call)`).
    pub label: String,
    /// The macro that takes the lock, as the first word of a line of that entry.
    pub takes: String,
    #[serde(default)]
    pub why: Option<String>,
}

/// Pins the core takes on a table's module before calling it, instead of the lock.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorePin {
    /// Calls that return a table (or object) whose module they pinned, or NULL when the
    /// module is going (`fops_get`, `get_fs_type`). A function whose every return is one of
    /// these (or NULL) returns a pinned table too.
    pub returns_pinned: Vec<String>,
    /// `try_inc_mod_count(x->F)` with F one of these pins the module of table `x`.
    pub owner_fields: Vec<String>,
    /// Calls whose value is their argument (`fops_get(x)` is `x` or NULL): provenance goes
    /// through them.
    pub returns_argument: Vec<String>,
}

/// Routines whose results the lock analysis can tell from the values on a chain.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueTests {
    /// Calls that compare two strings and return 0 when they are equal (`strcmp`).
    pub string_equal: Vec<String>,
    /// Calls that return the registered table whose key field equals one of their arguments.
    pub lookups: Vec<Lookup>,
}

/// `name(..)` returns a registered table of `struct_name` whose key field equals one of its
/// arguments (or nothing): `by = { FIELD = ARG }`, ARG 0-based.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub name: String,
    #[serde(rename = "struct")]
    pub struct_name: String,
    pub by: std::collections::BTreeMap<String, usize>,
    #[serde(default)]
    pub why: Option<String>,
}

impl Lookup {
    /// The key field and the argument compared with it (the first, if several are given).
    pub fn key(&self) -> Option<(&str, usize)> {
        self.by.iter().next().map(|(f, &a)| (f.as_str(), a))
    }
}
