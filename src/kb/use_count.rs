//! The knowledge base's `[use_count]` section: what raises and drops a module's use count,
//! and how the core reads it.

use serde::Deserialize;

/// The macros and functions that raise or drop a module's use count.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UseCount {
    pub increment: Vec<String>,
    pub decrement: Vec<String>,
    /// Raise the count only when they return true (`try_inc_mod_count` in 2.4).
    pub try_increment: Vec<String>,
    /// Arguments of the call forms that name the routine's own module.
    pub own_module: Vec<String>,
    /// Pointer fields through which a module's count is raised, `(*tmpl.usage_count)++`
    /// (2.0's SCSI upper-level drivers).
    #[serde(default)]
    pub count_pointers: Vec<String>,
    /// Values of such a field that mean the module's own count (`&mod_use_count_`).
    #[serde(default)]
    pub own_count: Vec<String>,
    /// Slots whose routine undoes an open (`release`, `close`): a failure path that calls the
    /// file's own such routine drops what it holds (`usecount::undo`).
    #[serde(default)]
    pub release_fields: Vec<String>,
    /// Calls that wait: an unregister routine that tests a field of its argument and calls
    /// one of these waits for the calls in flight that field counts (`usecount::drain`).
    #[serde(default)]
    pub drain_waits: Vec<String>,
    /// Calls that do not return (`panic`): the path that makes one ends there, and does no
    /// work before an increment it never reaches.
    #[serde(default)]
    pub never_return: Vec<String>,
}

/// How the core reads a name-taking routine's use count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CountDiscipline {
    /// Success leaves the module pinned until a later routine (release, close, put_super)
    /// drops the count; a failure must drop it.
    Pin,
    /// The routine raises the count while it runs and drops it on every return.
    Bracket,
    /// The core keeps the module pinned already (an earlier routine's pin, an owner field):
    /// rule 2 does not apply.
    Core,
}
