//! Same-length rewrites of active code that make kernel idioms parseable C.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::blank;
use crate::ctext::{is_ident_byte, is_ident_start_byte, is_keyword, matching_paren, skip_literal};
use crate::kb::Normalize;

mod literals;
mod statements;
mod types;

pub use literals::{
    blank_data_tables, blank_string_contents, rewrite_string_macros, DATA_TABLE_MIN_BYTES,
};
pub use statements::{fix_end_labels, rewrite_case_ranges, rewrite_statements};
pub use types::{rewrite_type_args, rewrite_unnamed_bitfields};

/// How the rewrite treats identifiers: every name the rewrite knows, with its roles, so that
/// each identifier of a file costs one lookup.
#[derive(Debug, Default, Clone)]
pub struct MacroTable {
    names: HashMap<Vec<u8>, Roles>,
    /// Macros that define a table (`DECLARE_FSTYPE`): a storage class in front of one is
    /// blanked, so that `static DECLARE_FSTYPE(...);` parses as a file-scope call.
    table_macros: HashSet<Vec<u8>>,
}

/// What a name is to the rewrite. A name may have several roles; the rewrite tries them in
/// the order of the fields.
#[derive(Debug, Default, Clone)]
struct Roles {
    /// A file's own `#define NAME keyword` (`#define STATIC static`): NAME becomes the keyword.
    keyword: Option<Vec<u8>>,
    /// Blanked (`__init`, `asmlinkage`).
    attribute: bool,
    /// Blanked with its parenthesized arguments (`__attribute__((packed))`).
    attribute_call: bool,
    /// Removed around its one argument (`__initfunc(...)`).
    wrapper: bool,
}

const STORAGE_CLASSES: [&str; 3] = ["static", "extern", "register"];

/// Keywords a local object-like macro may stand for.
const SUBSTITUTABLE: [&str; 12] = [
    "extern", "static", "const", "volatile", "unsigned", "signed", "int", "long", "char", "short",
    "void", "register",
];

impl MacroTable {
    pub fn new(kb: &Normalize) -> Self {
        let mut table = Self::default();
        for name in &kb.attributes {
            table.roles(name.as_bytes()).attribute = true;
        }
        for name in &kb.attribute_calls {
            table.roles(name.as_bytes()).attribute_call = true;
        }
        for name in &kb.wrappers {
            table.roles(name.as_bytes()).wrapper = true;
        }
        table
    }

    fn roles(&mut self, name: &[u8]) -> &mut Roles {
        self.names.entry(name.to_vec()).or_default()
    }

    fn is_attribute(&self, name: &[u8]) -> bool {
        self.names.get(name).is_some_and(|r| r.attribute)
    }

    /// Names the table-defining macros of the knowledge base.
    pub fn with_table_macros<'n>(mut self, names: impl IntoIterator<Item = &'n str>) -> Self {
        self.table_macros = names.into_iter().map(|n| n.as_bytes().to_vec()).collect();
        self
    }
}

/// What the rewrites changed, for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RewriteCounts {
    pub macros: u32,
    pub statements: u32,
    pub case_ranges: u32,
    pub string_macros: u32,
    pub bitfields: u32,
    pub type_args: u32,
    pub end_labels: u32,
    pub data_tables: u32,
    pub strings: u32,
}

/// A keyword no macro is named after: [`KEYWORDS`](crate::ctext::KEYWORDS) and `goto`.
fn is_macro_keyword(word: &[u8]) -> bool {
    is_keyword(word) || word == b"goto"
}

fn skip_ws(code: &[u8], mut i: usize) -> usize {
    while i < code.len() && code[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

impl MacroTable {
    /// Adds the file's own object-like macros that expand to nothing or to attributes only
    /// (`#define PACKED __attribute__((packed))`): they are attributes too.
    ///
    /// Likewise a one-parameter macro that expands to its parameter (`#define HISAX_INITFUNC(x)
    /// __initfunc(x)`) is a wrapper, and `#define STATIC static` stands for its keyword.
    pub fn with_local(&self, macros: &[super::MacroDef]) -> Option<MacroTable> {
        let mut table: Option<MacroTable> = None;
        for m in macros {
            let mut body = m.body.as_bytes().to_vec();
            self.rewrite(&mut body);
            let body = String::from_utf8_lossy(&body);
            let body = body.trim();
            let name = m.name.as_bytes().to_vec();
            let t = || self.clone();
            match &m.params {
                None if body.is_empty() => {
                    table.get_or_insert_with(t).roles(&name).attribute = true;
                }
                None if SUBSTITUTABLE.contains(&body) && body.len() <= name.len() => {
                    let kw = body.as_bytes().to_vec();
                    table.get_or_insert_with(t).roles(&name).keyword = Some(kw);
                }
                // `#define local static`: too long to substitute; a storage class can go.
                None if STORAGE_CLASSES.contains(&body) => {
                    table.get_or_insert_with(t).roles(&name).attribute = true;
                }
                Some(params) if params.len() == 1 && body == params[0] => {
                    table.get_or_insert_with(t).roles(&name).wrapper = true;
                }
                _ => {}
            }
        }
        table
    }

    /// Blanks attribute macros and unwraps wrapper macros.
    pub fn rewrite(&self, code: &mut [u8]) -> u32 {
        rewrite_macros(code, self)
    }
}

/// Blanks attribute macros and unwraps wrapper macros named in the knowledge base.
fn rewrite_macros(code: &mut [u8], table: &MacroTable) -> u32 {
    let mut count = 0;
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(code, i);
            continue;
        }
        if !is_ident_start_byte(c) || (i > 0 && is_ident_byte(code[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < code.len() && is_ident_byte(code[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if STORAGE_CLASSES.iter().any(|s| s.as_bytes() == word)
            && followed_by_table_macro(code, i, table)
        {
            blank(code, start, i);
            count += 1;
            continue;
        }
        let Some(roles) = table.names.get(word) else {
            continue;
        };
        if let Some(kw) = &roles.keyword {
            code[start..start + kw.len()].copy_from_slice(kw);
            blank(code, start + kw.len(), i);
            count += 1;
        } else if roles.attribute {
            blank(code, start, i);
            count += 1;
        } else if roles.attribute_call {
            // `__asm__ __volatile__ (...)`: qualifiers may stand between name and arguments.
            let mut open = skip_ws(code, i);
            while open < code.len() && is_ident_start_byte(code[open]) {
                let mut e = open;
                while e < code.len() && is_ident_byte(code[e]) {
                    e += 1;
                }
                let q = &code[open..e];
                if !(table.is_attribute(q) || q == b"volatile") {
                    break;
                }
                open = skip_ws(code, e);
            }
            if open < code.len() && code[open] == b'(' {
                if let Some(close) = matching_paren(code, open) {
                    blank(code, start, close + 1);
                    i = close + 1;
                    count += 1;
                    continue;
                }
            }
            blank(code, start, i);
            count += 1;
        } else if roles.wrapper {
            let open = skip_ws(code, i);
            if open < code.len() && code[open] == b'(' {
                if let Some(close) = matching_paren(code, open) {
                    blank(code, start, open + 1);
                    code[close] = b' ';
                    i = open + 1;
                    count += 1;
                }
            }
        }
    }
    count
}

/// Whether the text after `i` is a table-defining macro and its `(`.
fn followed_by_table_macro(code: &[u8], i: usize, table: &MacroTable) -> bool {
    if table.table_macros.is_empty() {
        return false;
    }
    let start = skip_ws(code, i);
    let mut end = start;
    while end < code.len() && is_ident_byte(code[end]) {
        end += 1;
    }
    let open = skip_ws(code, end);
    table.table_macros.contains(&code[start..end]) && code.get(open) == Some(&b'(')
}

/// Runs one rewrite pass over `src`, checking it keeps the length (for the passes' tests).
#[cfg(test)]
fn run(f: impl Fn(&mut [u8]) -> u32, src: &str) -> String {
    let mut b = src.as_bytes().to_vec();
    f(&mut b);
    assert_eq!(b.len(), src.len());
    String::from_utf8(b).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MacroTable {
        MacroTable::new(&Normalize {
            attributes: vec!["__init".into(), "asmlinkage".into()],
            attribute_calls: vec!["__attribute__".into()],
            wrappers: vec!["__initfunc".into()],
        })
    }

    #[test]
    fn attributes_and_wrappers() {
        let t = table();
        let out = run(
            |b| t.rewrite(b),
            "static int __init f(void) __attribute__((x(1)));\n__initfunc(void g(int a))\n\"__init\"",
        );
        assert_eq!(
            out,
            "static int        f(void)                      ;\n           void g(int a) \n\"__init\""
        );
    }

    #[test]
    fn storage_class_before_table_macro() {
        let t = table().with_table_macros(["DECLARE_FSTYPE"]);
        let out = run(
            |b| t.rewrite(b),
            "static DECLARE_FSTYPE (x, \"x\", f, 0);\nstatic int DECLARE_FSTYPE;\nstatic DECLARE_FSTYPEX(y);",
        );
        assert_eq!(
            out,
            "       DECLARE_FSTYPE (x, \"x\", f, 0);\nstatic int DECLARE_FSTYPE;\nstatic DECLARE_FSTYPEX(y);"
        );
    }

    #[test]
    fn local_attribute_macros() {
        let t = table();
        let macros = vec![
            crate::normalize::MacroDef {
                name: "PACKED".into(),
                params: None,
                body: "__attribute__((packed))".into(),
                line: 1,
            },
            crate::normalize::MacroDef {
                name: "EMPTY".into(),
                params: None,
                body: "".into(),
                line: 2,
            },
            crate::normalize::MacroDef {
                name: "TWO".into(),
                params: None,
                body: "2".into(),
                line: 3,
            },
        ];
        let mut macros = macros;
        macros.push(crate::normalize::MacroDef {
            name: "STATIC".into(),
            params: None,
            body: "static".into(),
            line: 4,
        });
        macros.push(crate::normalize::MacroDef {
            name: "INITF".into(),
            params: Some(vec!["x".into()].into()),
            body: "__initfunc(x)".into(),
            line: 5,
        });
        let local = t.with_local(&macros).unwrap();
        let out = run(
            |b| local.rewrite(b),
            "char x PACKED; EMPTY int y = TWO; STATIC int z; INITF(int f(void))",
        );
        assert_eq!(
            out,
            "char x       ;       int y = TWO; static int z;       int f(void) "
        );
    }
}
