//! How each architecture of a tree enters a system call: with the lock or without it.
//!
//! Two models, both read from the tree, with what to look for named by the knowledge base
//! (`[bkl] entry_locks`, `smp_code`):
//! - **Lock at entry.** 2.0 takes the kernel lock in assembly on every system call, before the
//!   call table is read. When an architecture's entry code has the macro that takes the lock
//!   as the first word of a line between the entry label and the next label, system calls of
//!   that architecture (and its traps: asmlinkage functions nothing calls) start at depth 1.
//! - **One processor.** An architecture for which the tree has code but no SMP code runs on one
//!   processor: nothing else runs in the kernel while a system call runs (until it sleeps,
//!   which rule 2 checks), so every entry of its code is as good as held.
//!
//! Generic code is judged on the preferred architecture (`[sleep] preferred_arch`), code under
//! `arch/X/` on X: a path that starts in architecture code belongs to that architecture.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kb::Kb;

/// How one architecture enters system calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ArchEntry {
    /// The entry code takes the lock: `takes` at `file:line`.
    LockAtEntry {
        file: String,
        line: u32,
        takes: String,
    },
    /// No SMP code for the architecture in the tree.
    Uniprocessor,
}

/// The entry models of a tree's architectures; an architecture absent enters without the lock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntryModel {
    pub arches: BTreeMap<String, ArchEntry>,
    /// Every architecture the tree has code of.
    #[serde(skip)]
    known: std::collections::BTreeSet<String>,
    /// The architecture generic code is judged on.
    #[serde(skip)]
    preferred: Option<String>,
    /// Directories only some architectures' configurations reach, none of them the preferred
    /// one (`drivers/sgi` from `arch/mips/config.in`), with those architectures.
    pub config_arch: BTreeMap<String, Vec<String>>,
}

impl EntryModel {
    /// Reads the models for `arches` (the architectures the tree has code of); `read` gives a
    /// file of the tree by its path relative to the root, or `None` when there is none.
    pub fn read<'s>(
        kb: &Kb,
        arches: impl IntoIterator<Item = &'s str>,
        read: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> EntryModel {
        let b = &kb.data.bkl;
        let mut out = EntryModel {
            arches: BTreeMap::new(),
            config_arch: BTreeMap::new(),
            known: Default::default(),
            preferred: kb.data.sleep.preferred_arch.clone(),
        };
        for arch in arches {
            out.known.insert(arch.to_string());
            let smp = b.smp_code.as_ref().map(|p| p.replace("{arch}", arch));
            if smp.is_some_and(|p| read(&p).is_none()) {
                out.arches.insert(arch.to_string(), ArchEntry::Uniprocessor);
                continue;
            }
            for e in b.entry_locks.iter().filter(|e| e.arch == arch) {
                let Some(text) = read(&e.file) else { continue };
                if let Some(line) = lock_line(&String::from_utf8_lossy(&text), &e.label, &e.takes) {
                    out.arches.insert(
                        arch.to_string(),
                        ArchEntry::LockAtEntry {
                            file: e.file.clone(),
                            line,
                            takes: e.takes.clone(),
                        },
                    );
                }
            }
        }
        out
    }

    /// Reads which directories only one architecture's configuration reaches, from the
    /// configuration files and the files each `source`s.
    pub fn with_configs(mut self, kb: &Kb, sources: &[(String, Vec<String>)]) -> Self {
        let layout = &kb.data.layout;
        let edges: BTreeMap<&str, &Vec<String>> =
            sources.iter().map(|(f, s)| (f.as_str(), s)).collect();
        let mut reached: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for (file, _) in sources {
            let Some(arch) = layout.arch_of(file) else {
                continue;
            };
            let mut stack = vec![file.as_str()];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(f) = stack.pop() {
                if !seen.insert(f) {
                    continue;
                }
                reached.entry(f).or_default().insert(arch);
                stack.extend(
                    edges
                        .get(f)
                        .into_iter()
                        .flat_map(|v| v.iter().map(String::as_str)),
                );
            }
        }
        for (file, arches) in reached {
            let Some((dir, _)) = file.rsplit_once('/') else {
                continue;
            };
            let preferred = self.preferred.as_deref();
            if layout.arch_dir(file).is_none() && !arches.iter().any(|a| Some(*a) == preferred) {
                let arches = arches.into_iter().map(str::to_string).collect();
                self.config_arch.insert(dir.to_string(), arches);
            }
        }
        self
    }

    /// The architectures whose configurations alone reach the directory of `path`.
    pub fn config_arch_of(&self, path: &str) -> Option<&[String]> {
        let mut dir = path;
        while let Some((d, _)) = dir.rsplit_once('/') {
            if let Some(a) = self.config_arch.get(d) {
                return Some(a.as_slice());
            }
            dir = d;
        }
        None
    }

    /// Whether the tree has code of architecture `arch`.
    pub fn is_arch(&self, arch: &str) -> bool {
        self.known.contains(arch)
    }

    /// The architecture generic code is judged on.
    pub fn preferred(&self) -> Option<&str> {
        self.preferred.as_deref()
    }

    /// The model of the architecture code at `arch` belongs to (`None`: generic code, judged
    /// on the preferred architecture).
    pub fn of(&self, arch: Option<&str>) -> Option<&ArchEntry> {
        self.arches.get(arch.or(self.preferred.as_deref())?)
    }
}

/// The 1-based line where `takes` starts a line of the entry that `label` starts, if it does.
/// The entry ends at the next line that starts with a label (an identifier at column 0).
pub fn lock_line(text: &str, label: &str, takes: &str) -> Option<u32> {
    let mut lines = text.lines().enumerate();
    lines.find(|(_, l)| l.trim() == label)?;
    for (i, l) in lines {
        if l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let first = l
            .split(|c: char| c.is_whitespace() || c == ';')
            .find(|w| !w.is_empty());
        if first == Some(takes) {
            return Some(i as u32 + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_macro_must_be_in_the_entry() {
        let text = "ENTRY(a)\n\tpush\n#ifdef X\n\tTAKE\n#endif\nENTRY(b)\n\tTAKE\n";
        assert_eq!(lock_line(text, "ENTRY(a)", "TAKE"), Some(4));
        assert_eq!(lock_line(text, "ENTRY(b)", "TAKE"), Some(7));
        assert_eq!(
            lock_line("ENTRY(a)\n\tpush\nnext:\n\tTAKE\n", "ENTRY(a)", "TAKE"),
            None
        );
        assert_eq!(lock_line("ENTRY(a)\n\tTAKEN\n", "ENTRY(a)", "TAKE"), None);
        assert_eq!(lock_line("", "ENTRY(a)", "TAKE"), None);
    }
}
