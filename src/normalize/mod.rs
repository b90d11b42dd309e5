//! Byte-offset-preserving normalization of unpreprocessed kernel C.
//!
//! Every pass replaces text with text of the same length (mostly spaces), so a byte offset,
//! line and column in the normalized text point at the same place in the original file.
//!
//! 1. comments become spaces;
//! 2. conditional compilation picks one branch ([`cpp`]), directives become spaces;
//! 3. kernel idioms tree-sitter-c does not accept are rewritten, and long numeric data tables
//!    are blanked ([`rewrite`]).
//!
//! The text after step 2 (`code`) is what facts quote (argument text); the text after step 3
//! (`parse_input`) is what the parser sees.

pub mod comments;
pub mod cpp;
pub mod rewrite;

use crate::kb::{KernelVersion, KnowledgeBase};
pub use cpp::{ArchRegion, CondRegion, CondTest, CppConfig, MacroDef, TreeVersion};
pub use rewrite::{MacroTable, RewriteCounts};

/// Everything normalization needs, built once per run from the knowledge base and the
/// command line.
#[derive(Debug, Default)]
pub struct Normalizer {
    pub cpp: CppConfig,
    pub macros: MacroTable,
    /// The knowledge base's release macros (`LINUX_VERSION_CODE`, `KERNEL_VERSION`): only a
    /// file that mentions one can depend on the tree's release.
    version_names: Vec<String>,
}

impl Normalizer {
    /// `defines` are `NAME` or `NAME=VALUE`; they and `undefs` override the knowledge base.
    pub fn new(kb: &KnowledgeBase, defines: &[String], undefs: &[String]) -> Self {
        let mut cpp = CppConfig::default();
        for name in &kb.preprocessor.defined {
            cpp.defined.insert(name.clone(), 1);
        }
        for name in &kb.preprocessor.undefined {
            cpp.undefined.insert(name.clone());
        }
        for pattern in &kb.layout.arch_symbols {
            let (upper, marker) = if pattern.contains("{ARCH}") {
                (true, "{ARCH}")
            } else {
                (false, "{arch}")
            };
            if let Some((pre, suf)) = pattern.split_once(marker) {
                cpp.arch_symbols
                    .push((pre.to_string(), suf.to_string(), upper));
            }
        }
        for def in defines {
            let (name, value) = match def.split_once('=') {
                Some((n, v)) => (n.to_string(), v.trim().parse().unwrap_or(1)),
                None => (def.clone(), 1),
            };
            cpp.undefined.remove(&name);
            cpp.defined.insert(name, value);
        }
        for name in undefs {
            cpp.defined.remove(name);
            cpp.undefined.insert(name.clone());
        }
        let p = &kb.preprocessor;
        Self {
            cpp,
            macros: MacroTable::new(&kb.normalize)
                .with_table_macros(kb.table_macros.iter().map(|m| m.name.as_str())),
            version_names: (p.version_code.iter().chain(&p.version_macros).cloned()).collect(),
        }
    }

    /// Whether `src` mentions a release macro: its facts may then depend on the tree's
    /// release (a superset of the files whose `#if`s test it, found without preprocessing).
    pub fn mentions_version(&self, src: &[u8]) -> bool {
        (self.version_names.iter()).any(|n| memchr::memmem::find(src, n.as_bytes()).is_some())
    }

    /// The value `LINUX_VERSION_CODE` has for this tree (`None`: unknown).
    pub fn tree_version_code(&self) -> Option<i64> {
        self.cpp.version.as_ref().map(|v| v.value)
    }

    /// `#if` on the knowledge base's release macros evaluated against the tree's release
    /// (`None`: unknown, as any other symbol nobody defines).
    pub fn set_tree_version(&mut self, kb: &KnowledgeBase, version: Option<KernelVersion>) {
        let p = &kb.preprocessor;
        self.cpp.version = match (version, &p.version_code) {
            (Some(v), Some(code)) if !p.version_macros.is_empty() => Some(TreeVersion {
                code: code.clone(),
                makes: p.version_macros.clone(),
                value: TreeVersion::code_of(v.major.into(), v.minor.into(), v.patch.into()),
            }),
            _ => None,
        };
    }

    pub fn normalize(&self, src: &[u8]) -> Normalized {
        let mut code = comments::blank_comments(src);
        let cpp = cpp::process(&mut code, &self.cpp);
        let mut parse_input = code.clone();
        let local = self.macros.with_local(&cpp.macros);
        let table = local.as_ref().unwrap_or(&self.macros);
        let counts = RewriteCounts {
            macros: table.rewrite(&mut parse_input),
            statements: rewrite::rewrite_statements(&mut parse_input),
            case_ranges: rewrite::rewrite_case_ranges(&mut parse_input),
            string_macros: rewrite::rewrite_string_macros(&mut parse_input),
            bitfields: rewrite::rewrite_unnamed_bitfields(&mut parse_input),
            type_args: rewrite::rewrite_type_args(&mut parse_input),
            end_labels: rewrite::fix_end_labels(&mut parse_input),
            data_tables: rewrite::blank_data_tables(&mut parse_input),
            strings: rewrite::blank_string_contents(&mut parse_input),
        };
        Normalized {
            code,
            parse_input,
            macros: cpp.macros,
            unknown_conditions: cpp.unknown_conditions,
            unbalanced_conditionals: cpp.unbalanced,
            too_deep_condition: cpp.too_deep,
            arch_regions: cpp.arch_regions,
            alt_macros: cpp.alt_macros,
            cond_regions: cpp.cond_regions,
            inactive_defines: cpp.inactive_defines,
            rewrites: counts,
        }
    }
}

#[derive(Debug)]
pub struct Normalized {
    /// Comments blanked, inactive branches and directives blanked.
    pub code: Vec<u8>,
    /// `code` with the idiom rewrites applied: what the parser reads.
    pub parse_input: Vec<u8>,
    pub macros: Vec<MacroDef>,
    pub unknown_conditions: u32,
    pub unbalanced_conditionals: bool,
    /// The first `#if` whose expression nests too deep to evaluate (taken as unknown).
    pub too_deep_condition: Option<u32>,
    /// Branches taken on one architecture only.
    pub arch_regions: Vec<ArchRegion>,
    /// (macro, symbol, body): defined in the branch taken on an unknown symbol, and so in a
    /// later branch.
    pub alt_macros: Vec<(String, String, String)>,
    /// Branches taken only because one symbol is unknown.
    pub cond_regions: Vec<CondRegion>,
    /// Names defined in branches not taken.
    pub inactive_defines: Vec<String>,
    pub rewrites: RewriteCounts,
}

/// Spaces over `code[from..to]`, newlines kept, so that a blanked region keeps its lines.
fn blank(code: &mut [u8], from: usize, to: usize) {
    for c in &mut code[from..to] {
        if *c != b'\n' {
            *c = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::Kb;

    #[test]
    fn offsets_preserved_end_to_end() {
        let kb = Kb::builtin();
        let n = Normalizer::new(&kb.data, &["CONFIG_X=0".into()], &["MODULE".into()]);
        let src = b"/* c */\n#ifdef MODULE\nint a;\n#endif\n#if CONFIG_X\nint b;\n#endif\nstatic int __init f(void)\n{\nout:\n}\n";
        let out = n.normalize(src);
        assert_eq!(out.parse_input.len(), src.len());
        let text = String::from_utf8(out.parse_input).unwrap();
        assert!(!text.contains("int a"));
        assert!(!text.contains("int b"));
        assert!(text.contains("static int        f(void)"));
        assert_eq!(text.lines().count(), 11);
    }
}
