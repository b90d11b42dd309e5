//! The kernel names the lowering marks while it walks a file, read from the knowledge base:
//! the use-count increments (a function that names one is worth a parse-error note), and the
//! signs that a file is module code (`init_module`, `module_init(...)`, `#ifdef MODULE`).

use crate::kb::KnowledgeBase;
use crate::normalize::Normalizer;

/// The knowledge the front end needs: how to normalize, and which names to mark.
#[derive(Debug)]
pub struct FrontEnd {
    pub normalizer: Normalizer,
    pub vocabulary: Vocabulary,
}

impl FrontEnd {
    /// `defines` are `NAME` or `NAME=VALUE`; they and `undefs` override the knowledge base.
    pub fn new(kb: &KnowledgeBase, defines: &[String], undefs: &[String]) -> Self {
        Self {
            normalizer: Normalizer::new(kb, defines, undefs),
            vocabulary: Vocabulary::new(kb),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// The use-count increments (`MOD_INC_USE_COUNT`, `__MOD_INC_USE_COUNT`).
    increments: Vec<Vec<u8>>,
    /// Functions whose definition marks module code.
    init_functions: Vec<String>,
    /// File-scope macros whose use marks module code.
    init_macros: Vec<String>,
    /// Preprocessor tests of the module symbol (`#ifdef MODULE`, `defined(MODULE)`).
    symbol_tests: Vec<Vec<u8>>,
}

impl Vocabulary {
    pub fn new(kb: &KnowledgeBase) -> Self {
        let m = &kb.module;
        Self {
            increments: (kb.use_count.increment.iter())
                .map(|w| w.as_bytes().to_vec())
                .collect(),
            init_functions: m.init_functions.clone(),
            init_macros: m.init_macros.clone(),
            symbol_tests: (m.symbol.iter())
                .flat_map(|s| [format!("#ifdef {s}"), format!("defined({s})")])
                .map(String::into_bytes)
                .collect(),
        }
    }

    /// Whether `word` is a use-count increment.
    pub fn is_increment(&self, word: &[u8]) -> bool {
        self.increments.iter().any(|w| w == word)
    }

    /// Whether `text` names a use-count increment anywhere.
    pub fn mentions_increment(&self, text: &[u8]) -> bool {
        (self.increments.iter()).any(|w| memchr::memmem::find(text, w).is_some())
    }

    pub fn is_init_function(&self, name: &str) -> bool {
        self.init_functions.iter().any(|f| f == name)
    }

    pub fn is_init_macro(&self, name: &str) -> bool {
        self.init_macros.iter().any(|f| f == name)
    }

    /// Whether the file's text tests the module symbol.
    pub fn tests_module_symbol(&self, src: &[u8]) -> bool {
        (self.symbol_tests.iter()).any(|t| memchr::memmem::find(src, t).is_some())
    }
}
