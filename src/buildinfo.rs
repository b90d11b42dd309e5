//! Which files can be built as a module, read from the tree's own build files.
//!
//! 2.2/2.4 Makefiles name module objects in `M_OBJS`, `MX_OBJS` and `obj-m`, or in
//! `obj-$(CONFIG_X)` where `CONFIG_X` is a `tristate` in some `Config.in`. A composite module
//! (`O_TARGET := ipv6.o` with `M_OBJS := $(O_TARGET)`, or `X-objs`/`X_OBJS` lists) makes its
//! parts module-capable too. Conditionals are read as the union of their branches: a file that
//! can be a module in some configuration is module-capable. Module capability needs a symbol
//! that can be `m`: a module list in a branch that runs only when `CONFIG_X` is `m`
//! (`ifeq ($(CONFIG_X),m)`) counts only if some configuration file (the architectures'
//! `config.in` included) declares X `tristate`, `dep_tristate` or `define_tristate`
//! ([`config`]). Each verdict keeps its reason ([`BuildVerdict`]): the list and its line, the
//! symbol and the line that declares it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::cache::{Key, KeyBuilder};
use crate::diag::Warning;

/// The prefix of the configuration's symbols (generated into a header the tree lacks).
const CONFIG_PREFIX: &str = "CONFIG_";

mod config;
mod defines;
mod makefile;

pub use config::{Declaration, SymbolKind, Symbols};
pub use defines::BuildDefines;
use makefile::{Listing, Makefile};

#[derive(Debug, Default)]
pub struct BuildInfo {
    /// Directory (relative to its root) -> object basenames that can be built into a module.
    module_objects: HashMap<String, HashMap<String, ModuleOrigin>>,
    /// Directory -> objects only module lists under a symbol that cannot be `m` name.
    blocked_objects: HashMap<String, HashMap<String, ModuleOrigin>>,
    /// Directory -> every object its Makefile names, built in or not.
    named_objects: HashMap<String, HashSet<String>>,
    /// Directory -> its build file (the first read).
    build_files: HashMap<String, String>,
    /// Directory -> the subdirectories its Makefile descends into: all of them, and those it
    /// can build modules in.
    subdirs: HashMap<String, Subdirs>,
    /// Configuration files (relative to their root) and the ones each `source`s: which
    /// architectures' configurations reach a directory.
    pub config_sources: Vec<(String, Vec<String>)>,
    /// The symbols the configuration and the compiler flags define.
    pub defines: BuildDefines,
    /// Build files that could not be read (not regular files, too large, unreadable).
    pub warnings: Vec<Warning>,
    /// The key of every build file read (its path and the hash of its bytes, or why it could
    /// not be read), in the order read: part of a whole-run memo's key.
    pub inputs: Key,
}

#[derive(Debug, Default)]
struct Subdirs {
    any: HashSet<String>,
    modular: HashSet<String>,
}

/// What makes an object part of a module: the module object (`bcma.o`, itself or the
/// composite it is linked into), the list that names that module (`obj-$(CONFIG_BCMA)`,
/// `M_OBJS`), the build file that has it and the line, and the symbol that must be `m` for
/// the list to build it (with its declaration), when one must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOrigin {
    pub module: String,
    pub list: String,
    pub build_file: String,
    pub line: u32,
    pub symbol: Option<GuardSymbol>,
}

/// A configuration symbol that guards a module list, and the declaration that says whether it
/// can be `m` (the first tristate one, else the first; `None`: declared nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSymbol {
    pub name: String,
    pub declared: Option<Declaration>,
    /// The configuration files that let it be `m` (an architecture's `config.in` only: the
    /// module is built for that architecture alone).
    pub m_configs: Vec<String>,
}

/// What the build files say of one source file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildVerdict {
    /// A module list names its object (under symbols that can all be `m`).
    Module(ModuleOrigin),
    /// Module lists name it only in branches whose symbol cannot be `m` (a `bool`, or a symbol
    /// no configuration file declares).
    Blocked(ModuleOrigin),
    /// A module list names it, but no Makefile above descends into its directory for modules.
    DirBuiltIn(ModuleOrigin),
    /// A Makefile names it only as built in (its directory's, `None`: one above it).
    BuiltIn { build_file: Option<String> },
    /// Its directory's Makefile builds objects, but not this one: nothing builds it.
    Unnamed { build_file: String },
    /// Its directory has no build file, or one that builds no object there.
    NoMakefile,
}

impl BuildVerdict {
    /// The module the file is built into, when it is.
    pub fn module(&self) -> Option<&ModuleOrigin> {
        match self {
            BuildVerdict::Module(o) => Some(o),
            _ => None,
        }
    }

    /// `Some(true)`: built as a module; `Some(false)`: the build files say it is not;
    /// `None`: they say nothing (no Makefile, or one that does not name the object).
    pub fn made_module(&self) -> Option<bool> {
        match self {
            BuildVerdict::Module(_) => Some(true),
            BuildVerdict::Blocked(_)
            | BuildVerdict::DirBuiltIn(_)
            | BuildVerdict::BuiltIn { .. } => Some(false),
            BuildVerdict::Unnamed { .. } | BuildVerdict::NoMakefile => None,
        }
    }
}

/// How a file was found to be module-capable, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleEvidence {
    Makefile,
    Marker,
    None,
}

impl ModuleEvidence {
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleEvidence::Makefile => "makefile",
            ModuleEvidence::Marker => "marker",
            ModuleEvidence::None => "none",
        }
    }
}

impl BuildInfo {
    pub fn read(roots: &[PathBuf]) -> Self {
        let mut files = Vec::new();
        // The tree `discover` walks: symbolic links followed, each directory once.
        let mut visited = crate::source::Visited::default();
        for root in roots.iter().filter(|r| r.is_dir()) {
            for entry in crate::source::walk(root, &mut visited).filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy();
                if is_build_file(&name) {
                    let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
                    let rel = rel.to_string_lossy().into_owned();
                    files.push((rel, entry.into_path()));
                }
            }
        }
        Self::from_files(files.iter().map(|(rel, path)| {
            let read = || crate::source::read_regular(path, rel);
            (rel.as_str(), path.to_string_lossy(), read)
        }))
    }

    /// The build information of a tree given as its build files, in walk order: each one's
    /// path relative to the root, the name its bytes are keyed by (the path on disk, or the
    /// blob's), and how to read it. Files that are not build files are skipped unread.
    pub fn from_files<'a, K: AsRef<str>, R: FnOnce() -> Result<Vec<u8>, Warning>>(
        files: impl Iterator<Item = (&'a str, K, R)>,
    ) -> Self {
        let mut info = BuildInfo::default();
        let mut symbols = Symbols::default();
        let mut makefiles = Vec::new();
        for (rel, key, read) in files {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if !is_build_file(name) {
                continue;
            }
            let Some(text) = info.read_build_file(key.as_ref(), read) else {
                continue;
            };
            if name == "Makefile" || name == "Kbuild" {
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                let makefile_text = String::from_utf8_lossy(&text);
                (info.defines).read_makefile(&dir, &makefile_text, CONFIG_PREFIX);
                makefiles.push((dir, rel.to_string(), text));
            } else {
                let text = String::from_utf8_lossy(&text);
                symbols.collect(rel, &text);
                info.defines.read_config(CONFIG_PREFIX, &text);
                info.config_sources.push((rel.to_string(), sourced(&text)));
            }
        }
        for (dir, build_file, text) in makefiles {
            let makefile = Makefile::parse(&String::from_utf8_lossy(&text));
            info.add_makefile(&dir, &build_file, &makefile, &symbols);
        }
        info
    }

    fn add_makefile(
        &mut self,
        dir: &str,
        build_file: &str,
        makefile: &Makefile,
        symbols: &Symbols,
    ) {
        (self.build_files.entry(dir.to_string())).or_insert_with(|| build_file.to_string());
        // A directory with both a Kbuild file and a Makefile: the union. An object named with
        // a path (`sub/foo.o`) is its subdirectory's.
        for o in makefile.named_objects() {
            let (d, o) = place(dir, o);
            self.named_objects.entry(d).or_default().insert(o);
        }
        let subdirs = makefile.subdirs(symbols);
        let known = self.subdirs.entry(dir.to_string()).or_default();
        known.any.extend(subdirs.any);
        known.modular.extend(subdirs.modular);
        let modules = makefile.module_objects(symbols);
        let origin = |l: Listing| ModuleOrigin {
            module: l.module,
            list: l.list,
            build_file: build_file.to_string(),
            line: l.line,
            symbol: l.symbol.map(|name| GuardSymbol {
                declared: symbols.declaration(&name).cloned(),
                m_configs: symbols.tristate_files(&name),
                name,
            }),
        };
        for (object, listing) in modules.capable {
            let (d, o) = place(dir, object);
            let known = self.module_objects.entry(d).or_default();
            known.entry(o).or_insert_with(|| origin(listing));
        }
        for (object, listing) in modules.blocked {
            let (d, o) = place(dir, object);
            let blocked = self.blocked_objects.entry(d).or_default();
            blocked.entry(o).or_insert_with(|| origin(listing));
        }
    }

    /// A build file's bytes (regular files only, size-limited, as a source is read); a file
    /// that cannot be read so is a warning. Both go into [`Self::inputs`] under `key`.
    fn read_build_file(
        &mut self,
        key: &str,
        read: impl FnOnce() -> Result<Vec<u8>, Warning>,
    ) -> Option<Vec<u8>> {
        let read = read();
        let b = KeyBuilder::default().key(self.inputs).str(key);
        self.inputs = match &read {
            Ok(bytes) => b.key(Key::of(bytes)),
            Err(w) => b.str(&w.to_string()),
        }
        .finish();
        read.map_err(|w| self.warnings.push(w)).ok()
    }

    /// Whether the Makefile of the file's directory builds it into a module: `Some(true)` when
    /// it can, `Some(false)` when the Makefile names the object only as built in (`O_OBJS`,
    /// `obj-y`, `obj-$(CONFIG_BOOL)`, a module list under a symbol that cannot be `m`), `None`
    /// when there is no Makefile or it does not name the object at all.
    pub fn from_makefile(&self, file: &str) -> Option<bool> {
        self.verdict(file).made_module()
    }

    /// What the build files say of `file`, with the reason.
    pub fn verdict(&self, file: &str) -> BuildVerdict {
        let Some((dir, object)) = dir_and_object(file) else {
            return BuildVerdict::NoMakefile;
        };
        if let Some(o) = self.module_objects.get(&dir).and_then(|m| m.get(&object)) {
            return match self.dir_modular(&dir) {
                Some(false) => BuildVerdict::DirBuiltIn(o.clone()),
                _ => BuildVerdict::Module(o.clone()),
            };
        }
        if let Some(o) = self.blocked_objects.get(&dir).and_then(|m| m.get(&object)) {
            return BuildVerdict::Blocked(o.clone());
        }
        let objects = self.named_objects.get(&dir);
        let named = objects.is_some_and(|n| n.contains(&object));
        // A build file that names no object here (a top-level one, one that only descends)
        // says nothing of a C file beside it.
        let builds_here = objects.is_some_and(|n| !n.is_empty());
        match self.build_files.get(&dir).cloned() {
            Some(build_file) if named => BuildVerdict::BuiltIn {
                build_file: Some(build_file),
            },
            Some(build_file) if builds_here => BuildVerdict::Unnamed { build_file },
            Some(_) => BuildVerdict::NoMakefile,
            // Named by a Makefile above (`sub/foo.o`) only as built in.
            None if named => BuildVerdict::BuiltIn { build_file: None },
            None => BuildVerdict::NoMakefile,
        }
    }

    /// The one architecture whose configuration can make `file` part of a module, when only
    /// one can (2.2's amigamouse.c: `CONFIG_AMIGAMOUSE` is `tristate` in `arch/m68k/config.in`
    /// alone, `define_bool y` on ppc): its calls are that architecture's.
    pub fn module_arch(&self, file: &str, layout: &crate::kb::Layout) -> Option<&str> {
        let configs = &self.origin(file)?.symbol.as_ref()?.m_configs;
        let mut arches = configs.iter().map(|c| layout.arch_of(c));
        let first = arches.next()??;
        arches.all(|a| a == Some(first)).then_some(first)
    }

    /// The module the file's object is built into, when its build file names one.
    pub fn origin(&self, file: &str) -> Option<&ModuleOrigin> {
        let (dir, object) = dir_and_object(file)?;
        self.module_objects.get(&dir)?.get(&object)
    }

    /// Whether the build can make modules in `dir`, by the ancestor Makefiles that descend
    /// into it: `Some(true)` when one of them can descend for modules, `Some(false)` when they
    /// descend only for built-in code (2.3's `net/bridge`: `SUB_DIRS += bridge`, never
    /// `MOD_SUB_DIRS`), `None` when no ancestor names it. `drivers/Makefile` names
    /// `net/hamradio` itself, so every ancestor is asked, not only the parent.
    fn dir_modular(&self, dir: &str) -> Option<bool> {
        let mut named = false;
        let mut ancestor = dir;
        loop {
            let up = ancestor.rsplit_once('/').map_or("", |(up, _)| up);
            let rel = if up.is_empty() {
                dir
            } else {
                &dir[up.len() + 1..]
            };
            if let Some(s) = self.subdirs.get(up) {
                if s.modular.contains(rel) {
                    return Some(true);
                }
                named |= s.any.contains(rel);
            }
            if up.is_empty() {
                return named.then_some(false);
            }
            ancestor = up;
        }
    }
}

/// A Makefile, a `Kbuild` file (2.6 on, it holds what a directory's Makefile would), or a
/// configuration file (`arch/*/config.in` is lower case in 2.2-2.4; `Kconfig` from 2.5).
fn is_build_file(name: &str) -> bool {
    name == "Makefile"
        || name == "Kbuild"
        || name.to_ascii_lowercase().starts_with("config.in")
        || name == "Kconfig"
}

/// A source file's directory and the object a Makefile names it by (`drivers/a/b.c` ->
/// `drivers/a`, `b.o`).
fn dir_and_object(file: &str) -> Option<(String, String)> {
    let path = Path::new(file);
    let dir = path.parent().map(|p| p.to_string_lossy().into_owned());
    let object = format!("{}.o", path.file_stem()?.to_string_lossy());
    Some((dir.unwrap_or_default(), object))
}

/// The directory and object a Makefile in `dir` means by `object` (`sub/foo.o` is in `dir/sub`).
fn place(dir: &str, object: String) -> (String, String) {
    match object.rsplit_once('/') {
        Some((sub, o)) if dir.is_empty() => (sub.to_string(), o.to_string()),
        Some((sub, o)) => (format!("{dir}/{sub}"), o.to_string()),
        None => (dir.to_string(), object),
    }
}

/// The files a configuration file `source`s.
fn sourced(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("source")).then(|| w.next()).flatten()
        })
        .map(|p| p.trim_matches('"').to_string())
        .collect()
}

#[cfg(test)]
mod tests;
