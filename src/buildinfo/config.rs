//! What the configuration files say a symbol can be: `y`/`m`/`n` (2.x `Config.in`:
//! `tristate`, `dep_tristate`, `define_tristate`; Kconfig: `tristate`, `def_tristate`) or only
//! `y`/`n` (`bool`, `dep_bool`, `define_bool`; Kconfig `bool`, `def_bool`). Module capability
//! needs a symbol that can be `m`.

use std::collections::HashMap;

/// Whether a declaration lets its symbol be `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SymbolKind {
    Tristate,
    Bool,
}

impl SymbolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Tristate => "tristate",
            SymbolKind::Bool => "bool",
        }
    }
}

/// One declaration of a symbol: its kind, the configuration file and the line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Declaration {
    pub kind: SymbolKind,
    pub file: String,
    pub line: u32,
}

/// Every declaration of every symbol, across the tree's configuration files (the
/// architectures' `arch/*/config.in` included).
#[derive(Debug, Default)]
pub struct Symbols {
    decls: HashMap<String, Vec<Declaration>>,
}

impl Symbols {
    /// Reads one configuration file (`file` is its path relative to its root).
    pub fn collect(&mut self, file: &str, text: &str) {
        let mut entry: Option<&str> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            let mut words = line.split_whitespace();
            let (first, second) = (words.next(), words.next());
            let kind = match first {
                Some("tristate" | "dep_tristate" | "define_tristate" | "def_tristate") => {
                    Some(SymbolKind::Tristate)
                }
                Some("bool" | "dep_bool" | "define_bool" | "def_bool" | "dep_mbool") => {
                    Some(SymbolKind::Bool)
                }
                _ => None,
            };
            match (first, second) {
                (Some("config" | "menuconfig"), Some(sym)) => entry = Some(sym),
                (
                    Some("choice" | "endchoice" | "menu" | "endmenu" | "if" | "endif" | "source"),
                    _,
                ) => entry = None,
                _ => {}
            }
            let Some(kind) = kind else { continue };
            // A 2.x line names its symbol (`tristate 'Foo' CONFIG_FOO`); a Kconfig line belongs
            // to the entry it sits in (`config FOO` ... `tristate "Foo"`).
            let sym = match line.split_whitespace().find(|w| w.starts_with("CONFIG_")) {
                Some(sym) => sym.to_string(),
                None => match entry {
                    Some(e) => format!("CONFIG_{e}"),
                    None => continue,
                },
            };
            self.decls.entry(sym).or_default().push(Declaration {
                kind,
                file: file.to_string(),
                line: n as u32 + 1,
            });
        }
    }

    /// Whether some configuration declares `sym` so that it can be `m`.
    pub fn can_be_m(&self, sym: &str) -> bool {
        self.tristate(sym).is_some()
    }

    /// The first declaration (by file and line) that lets `sym` be `m`.
    pub fn tristate(&self, sym: &str) -> Option<&Declaration> {
        (self.decls.get(sym)?.iter())
            .filter(|d| d.kind == SymbolKind::Tristate)
            .min()
    }

    /// The configuration files whose declaration lets `sym` be `m`, sorted.
    pub fn tristate_files(&self, sym: &str) -> Vec<String> {
        let decls = self.decls.get(sym).into_iter().flatten();
        let mut files: Vec<String> = (decls.filter(|d| d.kind == SymbolKind::Tristate))
            .map(|d| d.file.clone())
            .collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// The declaration that says most: the first tristate one, else the first one.
    pub fn declaration(&self, sym: &str) -> Option<&Declaration> {
        self.decls.get(sym)?.iter().min()
    }
}
