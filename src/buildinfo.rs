//! Which files can be built as a module, read from the tree's own build files.
//!
//! 2.2/2.4 Makefiles name module objects in `M_OBJS`, `MX_OBJS` and `obj-m`, or in
//! `obj-$(CONFIG_X)` where `CONFIG_X` is a `tristate` in some `Config.in`. A composite module
//! (`O_TARGET := ipv6.o` with `M_OBJS := $(O_TARGET)`, or `X-objs`/`X_OBJS` lists) makes its
//! parts module-capable too. Conditionals are read as the union of their branches: a file that
//! can be a module in some configuration is module-capable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::cache::{Key, KeyBuilder};
use crate::diag::Warning;

#[derive(Debug, Default)]
pub struct BuildInfo {
    /// Directory (relative to its root) -> object basenames that can be built into a module.
    module_objects: HashMap<String, HashMap<String, ModuleOrigin>>,
    /// Directory -> every object its Makefile names, built in or not.
    named_objects: HashMap<String, HashSet<String>>,
    /// Directory -> the subdirectories its Makefile descends into: all of them, and those it
    /// can build modules in.
    subdirs: HashMap<String, Subdirs>,
    /// Configuration files (relative to their root) and the ones each `source`s: which
    /// architectures' configurations reach a directory.
    pub config_sources: Vec<(String, Vec<String>)>,
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
/// `M_OBJS`) and the build file that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOrigin {
    pub module: String,
    pub list: String,
    pub build_file: String,
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
        let mut tristates = HashSet::new();
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
                makefiles.push((dir, rel.to_string(), text));
            } else {
                let text = String::from_utf8_lossy(&text);
                collect_tristates(&text, &mut tristates);
                info.config_sources.push((rel.to_string(), sourced(&text)));
            }
        }
        for (dir, build_file, text) in makefiles {
            let makefile = Makefile::parse(&String::from_utf8_lossy(&text));
            // A directory with both a Kbuild file and a Makefile: the union.
            (info.named_objects.entry(dir.clone()).or_default()).extend(makefile.named_objects());
            let subdirs = makefile.subdirs(&tristates);
            let known = info.subdirs.entry(dir.clone()).or_default();
            known.any.extend(subdirs.any);
            known.modular.extend(subdirs.modular);
            let modules = makefile.module_objects(&tristates);
            let known = info.module_objects.entry(dir).or_default();
            for (object, (module, list)) in modules {
                known.entry(object).or_insert(ModuleOrigin {
                    module,
                    list,
                    build_file: build_file.clone(),
                });
            }
        }
        info
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
    /// `obj-y`, `obj-$(CONFIG_BOOL)`), `None` when there is no Makefile or it does not name the
    /// object at all (a template, or a rule this reader does not follow).
    pub fn from_makefile(&self, file: &str) -> Option<bool> {
        let (dir, object) = dir_and_object(file)?;
        if self.module_objects.get(&dir)?.contains_key(&object) {
            return Some(self.dir_modular(&dir) != Some(false));
        }
        self.named_objects
            .get(&dir)?
            .contains(&object)
            .then_some(false)
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

/// A source file's directory and the object a Makefile names it by (`drivers/a/b.c` ->
/// `drivers/a`, `b.o`).
/// A Makefile, a `Kbuild` file (2.6 on, it holds what a directory's Makefile would), or a
/// configuration file (`arch/*/config.in` is lower case in 2.2-2.4; `Kconfig` from 2.5).
fn is_build_file(name: &str) -> bool {
    name == "Makefile"
        || name == "Kbuild"
        || name.to_ascii_lowercase().starts_with("config.in")
        || name == "Kconfig"
}

fn dir_and_object(file: &str) -> Option<(String, String)> {
    let path = Path::new(file);
    let dir = path.parent().map(|p| p.to_string_lossy().into_owned());
    let object = format!("{}.o", path.file_stem()?.to_string_lossy());
    Some((dir.unwrap_or_default(), object))
}

/// The symbols that can be `m`: 2.x `Config.in` lines name them (`tristate '...' CONFIG_X`);
/// a Kconfig entry opens with `config X` (or `menuconfig X`) and says `tristate` or
/// `def_tristate` on a later line of the entry.
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

fn collect_tristates(text: &str, out: &mut HashSet<String>) {
    let mut entry: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim_start();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("config" | "menuconfig"), Some(sym)) => entry = Some(sym),
            (Some("tristate" | "def_tristate"), _) => {
                if let Some(sym) = entry {
                    out.insert(format!("CONFIG_{sym}"));
                }
            }
            (Some("choice" | "endchoice" | "menu" | "endmenu" | "if" | "endif" | "source"), _) => {
                entry = None
            }
            _ => {}
        }
        // `define_tristate CONFIG_SUNRPC m` (2.4's net/Config.in) counts: the symbol can be m.
        if ["tristate", "dep_tristate", "define_tristate"]
            .iter()
            .any(|k| line.starts_with(k))
        {
            if let Some(sym) = line.split_whitespace().find(|w| w.starts_with("CONFIG_")) {
                out.insert(sym.to_string());
            }
        }
    }
}

/// Make variable assignments of a Makefile whose continued lines are joined, all branches of
/// conditionals taken: name -> words.
fn assignments(joined: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some(pos) = line.find('=') else { continue };
        let (lhs, rhs) = line.split_at(pos);
        let lhs = lhs.trim_end_matches([':', '+', '?']).trim();
        if lhs.is_empty() || lhs.contains(' ') || lhs.starts_with("ifeq") {
            continue;
        }
        out.push((lhs.to_string(), rhs[1..].trim().to_string()));
    }
    out
}

/// The words of `words` with `$(VAR)` replaced by every word the Makefile gives VAR, in any
/// branch, and so on through the variables those name. Branches are a union, so this is the
/// literal words of every variable reachable from `words`: one visit per variable, however
/// the variables refer to each other (`X := $(X) a.o`).
fn expand(words: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    fn split(text: &str, names: &mut Vec<String>, out: &mut Vec<String>) {
        for w in text.split_whitespace() {
            match w.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
                Some(name) => names.push(name.to_string()),
                None => out.push(w.to_string()),
            }
        }
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    split(words, &mut names, &mut out);
    while let Some(name) = names.pop() {
        let Some((key, values)) = vars.get_key_value(name.as_str()) else {
            continue;
        };
        if !seen.insert(key.as_str()) {
            continue;
        }
        for v in values {
            split(v, &mut names, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One Makefile, read once: its assignments (every branch of its conditionals), its
/// variables, and its explicit rules for objects.
struct Makefile {
    assigns: Vec<(String, String)>,
    vars: HashMap<String, Vec<String>>,
    /// `X.o: a.o b.o` -> ("X.o", "a.o b.o").
    rules: HashMap<String, String>,
}

impl Makefile {
    fn parse(text: &str) -> Self {
        let joined = text.replace("\\\n", " ");
        let assigns = assignments(&joined);
        let mut vars: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in &assigns {
            vars.entry(name.clone()).or_default().push(value.clone());
        }
        Makefile {
            assigns,
            vars,
            rules: link_rules(&joined),
        }
    }

    fn expand(&self, words: &str) -> Vec<String> {
        expand(words, &self.vars)
    }

    /// Every word variable `name` can hold.
    fn words_of(&self, name: &str) -> Vec<String> {
        self.expand(&format!("$({name})"))
    }

    /// The objects that can be built into a module: object -> (module object, the list that
    /// names the module).
    fn module_objects(&self, tristates: &HashSet<String>) -> HashMap<String, (String, String)> {
        let mut modules: HashMap<String, (String, String)> = HashMap::new();
        for (name, value) in &self.assigns {
            let is_module_list = matches!(name.as_str(), "M_OBJS" | "MX_OBJS" | "obj-m")
                || name
                    .strip_prefix("obj-$(")
                    .and_then(|r| r.strip_suffix(')'))
                    .is_some_and(|sym| tristates.contains(sym));
            if is_module_list {
                for w in self.expand(value).into_iter().filter(|w| w.ends_with(".o")) {
                    modules
                        .entry(w.clone())
                        .or_insert_with(|| (w, name.clone()));
                }
            }
        }
        // Composite modules: their parts are module-capable too. Besides the variables, a
        // module can be linked by an explicit rule (`sd_mod.o: sd.o` then `$(LD) -r -o $@ sd.o`).
        let target = self
            .vars
            .get("O_TARGET")
            .and_then(|v| v.last())
            .map(|v| v.trim().to_string());
        let mut parts = Vec::new();
        let mut tagged = Vec::new();
        let mut direct: Vec<(&String, &String)> =
            modules.iter().map(|(m, (_, l))| (m, l)).collect();
        // One answer however the hash map orders them: the first module by name wins a part.
        direct.sort();
        for (m, list) in direct {
            let stem = m.trim_end_matches(".o");
            if Some(m) == target.as_ref() {
                for list in ["O_OBJS", "OX_OBJS", "obj-y"] {
                    parts.extend(self.words_of(list));
                }
            }
            if let Some(deps) = self.rules.get(m.as_str()) {
                parts.extend(self.expand(deps));
            }
            parts.extend(self.words_of(&format!("{stem}-objs")));
            // Kbuild's composites: `foo-y := a.o`, `foo-$(CONFIG_BAR) += b.o`, `foo-m`.
            let composite = format!("{stem}-");
            for (name, value) in &self.assigns {
                let Some(rest) = name.strip_prefix(&composite) else {
                    continue;
                };
                if matches!(rest, "y" | "m") || rest.starts_with("$(") {
                    parts.extend(self.expand(value));
                }
            }
            parts.extend(self.words_of(&format!("{}_OBJS", stem.to_uppercase())));
            let module = (m.clone(), list.clone());
            tagged.extend(parts.drain(..).map(|p| (p, module.clone())));
        }
        for (object, origin) in tagged {
            if object.ends_with(".o") {
                modules.entry(object).or_insert(origin);
            }
        }
        modules
    }

    /// Every `.o` word of the assignments and rules, variables expanded.
    fn named_objects(&self) -> HashSet<String> {
        let assigned = self
            .assigns
            .iter()
            .flat_map(|(_, value)| self.expand(value));
        let ruled = self
            .rules
            .iter()
            .flat_map(|(target, deps)| std::iter::once(target.clone()).chain(self.expand(deps)));
        assigned
            .chain(ruled)
            .filter(|w| w.ends_with(".o"))
            .collect()
    }

    /// The subdirectory lists of a 2.2-2.4 Makefile: `SUB_DIRS`, `subdir-y` name directories
    /// built in; `MOD_SUB_DIRS`, `MOD_IN_SUB_DIRS`, `subdir-m`, `mod-subdirs` and
    /// `subdir-$(CONFIG_X)` with a tristate X name those that can hold modules. `ALL_SUB_DIRS`
    /// only lists what `make clean` visits.
    fn subdirs(&self, tristates: &HashSet<String>) -> Subdirs {
        let mut out = Subdirs::default();
        for (name, value) in &self.assigns {
            let config = name
                .strip_prefix("subdir-$(")
                .and_then(|r| r.strip_suffix(')'));
            let modular = matches!(
                name.as_str(),
                "MOD_SUB_DIRS" | "MOD_IN_SUB_DIRS" | "subdir-m" | "mod-subdirs"
            ) || config.is_some_and(|c| tristates.contains(c));
            let listed =
                modular || config.is_some() || matches!(name.as_str(), "SUB_DIRS" | "subdir-y");
            if !listed {
                // Kbuild descends through `obj-y += dir/` and `obj-$(CONFIG_X) += dir/`, and
                // builds the directory's modules either way.
                if name == "obj-y" || name == "obj-m" || name.starts_with("obj-$(") {
                    for d in self.expand(value).iter().filter(|w| w.ends_with('/')) {
                        let d = d.trim_end_matches('/').to_string();
                        out.modular.insert(d.clone());
                        out.any.insert(d);
                    }
                }
                continue;
            }
            for d in self.expand(value) {
                let d = d.trim_end_matches('/').to_string();
                if modular {
                    out.modular.insert(d.clone());
                }
                out.any.insert(d);
            }
        }
        out
    }
}

/// Explicit rules whose target is an object, in a Makefile whose continued lines are joined:
/// `X.o: a.o b.o` -> ("X.o", "a.o b.o").
fn link_rules(joined: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for line in joined.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.split('#').next().unwrap_or("");
        let Some((target, deps)) = line.split_once(':') else {
            continue;
        };
        let target = target.trim();
        if deps.starts_with('=') || !target.ends_with(".o") || target.contains(char::is_whitespace)
        {
            continue;
        }
        let entry = out.entry(target.to_string()).or_default();
        entry.push(' ');
        entry.push_str(deps.trim());
    }
    out
}

#[cfg(test)]
mod tests;
