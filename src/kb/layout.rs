//! The knowledge base's `[layout]` section: where a tree keeps architecture-specific code and
//! the headers every file can include.

use serde::Deserialize;

/// How a kernel tree lays out its directories.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Layout {
    /// Directories whose next path component names an architecture (`arch/` gives `arch/X/`,
    /// `include/asm-` gives `include/asm-X/`).
    pub arch_prefixes: Vec<String>,
    /// Components after an architecture prefix that name no architecture (`asm-generic`).
    pub not_arches: Vec<String>,
    /// Directories every file can include from (`#include <linux/fs.h>`).
    pub include_dirs: Vec<String>,
    /// Header directories whose definitions drivers use over an architecture's own.
    pub generic_headers: Vec<String>,
    /// Preprocessor symbols that name an architecture: `{ARCH}` stands for its name in upper
    /// case, `{arch}` in lower case. Code under `#ifdef` of one is that architecture's.
    pub arch_symbols: Vec<String>,
}

impl Layout {
    /// The component after an architecture prefix, `generic` ones included: whether the
    /// file's code is written per architecture.
    pub fn arch_dir<'p>(&self, path: &'p str) -> Option<&'p str> {
        self.arch_prefixes
            .iter()
            .find_map(|p| path.strip_prefix(p.as_str()))
            .and_then(|rest| rest.split('/').next())
    }

    /// The architecture a path belongs to: `arch/X/...` and `include/asm-X/...` give X.
    pub fn arch_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        self.arch_dir(path)
            .filter(|a| !self.not_arches.iter().any(|n| n == a))
    }

    /// Whether a header at `path` is one of the generic ones drivers include.
    pub fn is_generic_header(&self, path: &str) -> bool {
        self.generic_headers.iter().any(|d| {
            path.strip_prefix(d.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })
    }

    /// Whether headers in directory `dir` are visible to every file.
    pub fn is_include_dir(&self, dir: &str) -> bool {
        self.include_dirs.iter().any(|d| {
            dir.strip_prefix(d.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::kb::Kb;

    #[test]
    fn arch_of_reads_the_layout() {
        let layout = &Kb::builtin().data.layout;
        assert_eq!(layout.arch_of("arch/i386/kernel/irq.c"), Some("i386"));
        assert_eq!(layout.arch_of("include/asm-alpha/io.h"), Some("alpha"));
        assert_eq!(layout.arch_of("include/asm-generic/io.h"), None);
        assert_eq!(layout.arch_dir("include/asm-generic/io.h"), Some("generic"));
        assert_eq!(layout.arch_of("drivers/char/mem.c"), None);
        assert!(layout.is_generic_header("include/linux/fs.h"));
        assert!(!layout.is_generic_header("include/linuxx/fs.h"));
        assert!(layout.is_include_dir("include"));
        assert!(layout.is_include_dir("include/linux"));
        assert!(!layout.is_include_dir("includes"));
    }
}
