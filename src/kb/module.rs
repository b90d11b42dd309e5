//! The knowledge base's `[module]` section: the marks of module code.

use serde::Deserialize;

/// What marks a file as module code when no Makefile says how it is built.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModuleMarks {
    /// Functions insmod looks up by name (`init_module`).
    pub init_functions: Vec<String>,
    /// File-scope macros that name the module's init routine (`module_init(fn)`).
    pub init_macros: Vec<String>,
    /// Functions `rmmod` calls by name before it frees the module (`cleanup_module`).
    pub exit_functions: Vec<String>,
    /// File-scope macros that give the module an exit routine (`module_exit(fn)`, and the
    /// driver macros that define both): without one a module cannot be unloaded.
    pub exit_macros: Vec<String>,
    /// The preprocessor symbol defined when a file is compiled as a module (`MODULE`): a file
    /// that tests it is written to be one.
    pub symbol: Option<String>,
    /// Macros (glob patterns) that export a symbol to other modules (`EXPORT_SYMBOL(name)`).
    pub export_macros: Vec<String>,
}
