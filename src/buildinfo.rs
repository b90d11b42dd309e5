//! Which files can be built as a module, read from the tree's own build files.
//!
//! 2.2/2.4 Makefiles name module objects in `M_OBJS`, `MX_OBJS` and `obj-m`, or in
//! `obj-$(CONFIG_X)` where `CONFIG_X` is a `tristate` in some `Config.in`. A composite module
//! (`O_TARGET := ipv6.o` with `M_OBJS := $(O_TARGET)`, or `X-objs`/`X_OBJS` lists) makes its
//! parts module-capable too. Conditionals are read as the union of their branches: a file that
//! can be a module in some configuration is module-capable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

#[derive(Debug, Default)]
pub struct BuildInfo {
    /// Directory (relative to its root) -> object basenames that can be built into a module.
    module_objects: HashMap<String, HashSet<String>>,
    /// Directories that have a Makefile at all.
    has_makefile: HashSet<String>,
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
        let mut info = BuildInfo::default();
        let mut tristates = HashSet::new();
        let mut makefiles = Vec::new();
        for root in roots.iter().filter(|r| r.is_dir()) {
            for entry in WalkDir::new(root).into_iter().filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy();
                if name == "Makefile" {
                    let rel = entry
                        .path()
                        .parent()
                        .and_then(|p| p.strip_prefix(root).ok())
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    makefiles.push((rel, entry.into_path()));
                } else if name.starts_with("Config.in") || name == "Kconfig" {
                    if let Ok(text) = std::fs::read(entry.path()) {
                        collect_tristates(&String::from_utf8_lossy(&text), &mut tristates);
                    }
                }
            }
        }
        for (dir, path) in makefiles {
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let objects = module_objects(&String::from_utf8_lossy(&text), &tristates);
            info.has_makefile.insert(dir.clone());
            info.module_objects.insert(dir, objects);
        }
        info
    }

    /// Whether the Makefile of the file's directory builds it into a module: `Some(bool)` when
    /// the directory has a Makefile, `None` otherwise.
    pub fn from_makefile(&self, file: &str) -> Option<bool> {
        let path = Path::new(file);
        let dir = path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !self.has_makefile.contains(&dir) {
            return None;
        }
        let object = format!("{}.o", path.file_stem()?.to_string_lossy());
        Some(
            self.module_objects
                .get(&dir)
                .is_some_and(|s| s.contains(&object)),
        )
    }
}

fn collect_tristates(text: &str, out: &mut HashSet<String>) {
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("tristate") || line.starts_with("dep_tristate") {
            if let Some(sym) = line.split_whitespace().find(|w| w.starts_with("CONFIG_")) {
                out.insert(sym.to_string());
            }
        }
    }
}

/// Make variable assignments, all branches of conditionals taken: name -> words.
fn assignments(text: &str) -> Vec<(String, String)> {
    let joined = text.replace("\\\n", " ");
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

fn expand(words: &str, vars: &HashMap<String, Vec<String>>, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    for w in words.split_whitespace() {
        if let Some(name) = w.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
            if depth < 8 {
                if let Some(vals) = vars.get(name) {
                    for v in vals {
                        out.extend(expand(v, vars, depth + 1));
                    }
                }
            }
        } else {
            out.push(w.to_string());
        }
    }
    out
}

fn module_objects(text: &str, tristates: &HashSet<String>) -> HashSet<String> {
    let assigns = assignments(text);
    let mut vars: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in &assigns {
        vars.entry(name.clone()).or_default().push(value.clone());
    }
    let mut modules: HashSet<String> = HashSet::new();
    for (name, value) in &assigns {
        let is_module_list = matches!(name.as_str(), "M_OBJS" | "MX_OBJS" | "obj-m")
            || name
                .strip_prefix("obj-$(")
                .and_then(|r| r.strip_suffix(')'))
                .is_some_and(|sym| tristates.contains(sym));
        if is_module_list {
            modules.extend(
                expand(value, &vars, 0)
                    .into_iter()
                    .filter(|w| w.ends_with(".o")),
            );
        }
    }
    // Composite modules: their parts are module-capable too.
    let target = vars
        .get("O_TARGET")
        .and_then(|v| v.last())
        .map(|v| v.trim().to_string());
    let mut parts = Vec::new();
    for m in &modules {
        let stem = m.trim_end_matches(".o");
        if Some(m) == target.as_ref() {
            for list in ["O_OBJS", "OX_OBJS", "obj-y"] {
                if let Some(vals) = vars.get(list) {
                    for v in vals {
                        parts.extend(expand(v, &vars, 0));
                    }
                }
            }
        }
        for list in [
            format!("{stem}-objs"),
            format!("{}_OBJS", stem.to_uppercase()),
        ] {
            if let Some(vals) = vars.get(&list) {
                for v in vals {
                    parts.extend(expand(v, &vars, 0));
                }
            }
        }
    }
    modules.extend(parts.into_iter().filter(|w| w.ends_with(".o")));
    modules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_objs_and_composites() {
        let mk = "O_TARGET := ipv6.o\nIPV6_OBJS := af_inet6.o \\\n  route.o\nM_OBJS := $(O_TARGET)\nO_OBJS := $(IPV6_OBJS)\n";
        let m = module_objects(mk, &HashSet::new());
        assert!(m.contains("af_inet6.o") && m.contains("route.o") && m.contains("ipv6.o"));
    }

    #[test]
    fn conditional_and_obj_config() {
        let mk = "ifeq ($(CONFIG_FOO),m)\n  M_OBJS += foo.o\nendif\nobj-$(CONFIG_BAR) += bar.o\nobj-$(CONFIG_BUILTIN) += core.o\nobj-y += always.o\n";
        let tri: HashSet<String> = ["CONFIG_BAR".to_string()].into_iter().collect();
        let m = module_objects(mk, &tri);
        assert!(m.contains("foo.o") && m.contains("bar.o"));
        assert!(!m.contains("core.o") && !m.contains("always.o"));
    }
}
