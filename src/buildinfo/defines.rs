//! Symbols the build itself defines, which no source file does: the configuration's
//! (`CONFIG_X`, from the configuration files) and the compiler flags' (`-DNAME` in a
//! Makefile). `nowork` reads a branch on a symbol nothing defines as the build does: not taken.

use std::collections::{HashMap, HashSet};

use crate::ctext::is_ident_char;

#[derive(Debug, Clone, Default)]
pub struct BuildDefines {
    /// Every `CONFIG_` word of a configuration file: declared by some entry (`bool`,
    /// `tristate`, `int`, `hex`, `string`, a `choice`'s options, `define_*`).
    config: HashSet<String>,
    /// Directory -> the names its Makefile gives with `-D` (`EXTRA_CFLAGS += -DDEBUG`).
    by_dir: HashMap<String, HashSet<String>>,
    /// Names every directory gets: the `-D`s of the Makefiles [`Self::globalise`] names
    /// (the top-level and the architectures': `CFLAGS += -D__SMP__`).
    everywhere: HashSet<String>,
}

impl BuildDefines {
    pub(super) fn read_config(&mut self, prefix: &str, text: &str) {
        let words = text.split(|c: char| !is_ident_char(c));
        (self.config).extend(words.filter(|w| w.starts_with(prefix)).map(str::to_string));
        // Kconfig declares without the prefix: `config FOO`.
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if let (Some("config" | "menuconfig"), Some(name)) = (w.next(), w.next()) {
                self.config.insert(format!("{prefix}{name}"));
            }
        }
    }

    /// The `-D` names of the Makefile of `dir` (relative to the tree's root). `config_prefix`
    /// names the configuration's symbols.
    pub(super) fn read_makefile(&mut self, dir: &str, text: &str, config_prefix: &str) {
        let names = flag_defines(text, config_prefix);
        if !names.is_empty() {
            self.by_dir
                .entry(dir.to_string())
                .or_default()
                .extend(names);
        }
    }

    /// Makes the `-D`s of the directories `global` names (whose flags every compilation
    /// gets) apply everywhere.
    pub fn globalise(&mut self, global: impl Fn(&str) -> bool) {
        let dirs: Vec<String> = self.by_dir.keys().filter(|d| global(d)).cloned().collect();
        for d in dirs {
            if let Some(names) = self.by_dir.remove(&d) {
                self.everywhere.extend(names);
            }
        }
    }

    /// Whether the tree has configuration files at all.
    pub fn has_config(&self) -> bool {
        !self.config.is_empty()
    }

    /// Whether some configuration file names `symbol` (`CONFIG_X_MODULE`, which the build
    /// defines for a tristate `CONFIG_X` set to `m`, counts as `CONFIG_X`).
    pub fn configures(&self, symbol: &str, module_suffix: &str) -> bool {
        self.config.contains(symbol)
            || (symbol.strip_suffix(module_suffix)).is_some_and(|s| self.config.contains(s))
    }

    /// Whether the compiler flags of a file in `dir` define `symbol`.
    pub fn flags_define(&self, dir: &str, symbol: &str) -> bool {
        self.everywhere.contains(symbol) || self.by_dir.get(dir).is_some_and(|s| s.contains(symbol))
    }
}

/// The names a Makefile's text gives with `-DNAME` or `-DNAME=VALUE`, except under `ifdef
/// VAR` where nothing in the Makefile sets the variable VAR and it is no configuration symbol
/// (`ifdef DEBUG` / `EXTRA_CFLAGS += -DEMU10K1_DEBUG`: only `make DEBUG=1` builds that).
fn flag_defines(text: &str, config_prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Per open conditional: whether its current branch, and its `else`, are ones only a
    // command line makes.
    let mut off: Vec<(bool, bool)> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (first, second) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let command_line_only = |var: &str| !var.starts_with(config_prefix) && !sets(text, var);
        match first {
            "ifdef" => off.push((command_line_only(second), false)),
            "ifndef" => off.push((false, command_line_only(second))),
            "ifeq" | "ifneq" => off.push((false, false)),
            "else" => {
                if let Some(f) = off.last_mut() {
                    *f = (f.1, false);
                }
            }
            "endif" => {
                off.pop();
            }
            _ if !off.iter().any(|f| f.0) => out.extend(line_defines(line)),
            _ => {}
        }
    }
    out
}

/// Whether the Makefile's text assigns `var` (`VAR = ...`, `VAR := ...`, `VAR += ...`).
fn sets(text: &str, var: &str) -> bool {
    text.lines().any(|l| {
        let l = l
            .trim_start()
            .strip_prefix("export ")
            .unwrap_or(l.trim_start());
        l.strip_prefix(var).is_some_and(|r| {
            let r = r.trim_start();
            r.starts_with('=') || r.starts_with(":=") || r.starts_with("+=") || r.starts_with("?=")
        })
    })
}

/// The `-D` names on one line.
fn line_defines(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("-D") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| !is_ident_char(c))
            .unwrap_or(after.len());
        let flag_start = before.is_none_or(|c| c.is_whitespace() || matches!(c, '=' | '"' | '\''));
        if flag_start && end > 0 && !after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(after[..end].to_string());
        }
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_configuration_words() {
        let mut d = BuildDefines::default();
        d.read_makefile(
            "drivers/char",
            "EXTRA_CFLAGS += -DFOO_DEBUG -DLEVEL=2\nX := a-Dnot\nifdef DEBUG\nEXTRA_CFLAGS += -DBAR\nendif\nifdef CONFIG_Q\nEXTRA_CFLAGS += -DQ\nendif\n",
            "CONFIG_",
        );
        d.read_makefile("arch/i386", "CFLAGS += -D__SMP__\n", "CONFIG_");
        d.globalise(|dir| dir == "arch/i386");
        assert!(
            !d.flags_define("drivers/char", "BAR"),
            "only make DEBUG=1 builds it"
        );
        assert!(d.flags_define("drivers/char", "Q"));
        d.read_config(
            "CONFIG_",
            "bool 'x' CONFIG_X\nchoice 'cpu' \"386 CONFIG_M386\"\n",
        );
        assert!(d.flags_define("drivers/char", "FOO_DEBUG"));
        assert!(d.flags_define("drivers/char", "LEVEL"));
        assert!(!d.flags_define("drivers/char", "not"));
        assert!(!d.flags_define("drivers/net", "FOO_DEBUG"));
        assert!(d.flags_define("drivers/net", "__SMP__"));
        assert!(d.configures("CONFIG_M386", "_MODULE"));
        assert!(d.configures("CONFIG_X_MODULE", "_MODULE"));
        assert!(!d.configures("CONFIG_Y", "_MODULE"));
    }
}
