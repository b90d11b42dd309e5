//! Same-length rewrites of active code that make kernel idioms parseable C.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::blank;
use crate::ctext::{
    is_ident_byte, is_ident_start_byte, is_keyword, is_type_word, matching_paren, skip_literal,
};
use crate::kb::Normalize;

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
            let mut body = m.body.clone().into_bytes();
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

/// Turns a type used as a macro argument (`list_entry(p, struct foo, list)`) into one
/// identifier of the same length, `__________`, so that the call parses as an expression.
/// Only arguments next to a comma are touched, which leaves casts and `sizeof(...)` alone, and
/// only arguments without `*`, which leaves unnamed parameters of prototypes alone.
pub fn rewrite_type_args(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let mut i = 0;
    let n = code.len();
    while i < n {
        let c = code[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(code, i);
            continue;
        }
        if c != b'(' && c != b',' {
            i += 1;
            continue;
        }
        let opener = c;
        let arg_start = skip_ws(code, i + 1);
        // Words of the argument, all of them type words, or an identifier after struct/union/enum.
        let mut j = arg_start;
        let mut words = 0;
        let mut after_tag = false;
        let mut ok = true;
        loop {
            let k = skip_ws(code, j);
            if k >= n || !is_ident_start_byte(code[k]) {
                j = k;
                break;
            }
            let mut e = k;
            while e < n && is_ident_byte(code[e]) {
                e += 1;
            }
            let w = &code[k..e];
            let type_word = is_type_word(w);
            if !(type_word || after_tag) {
                ok = false;
                break;
            }
            if words == 0 && !type_word {
                ok = false;
                break;
            }
            after_tag = matches!(w, b"struct" | b"union" | b"enum");
            words += 1;
            j = e;
        }
        if ok && words > 0 && !after_tag && j < n {
            let closer = code[j];
            let next_to_comma = opener == b',' || closer == b',';
            if (closer == b',' || closer == b')') && next_to_comma {
                let mut end = j;
                while end > arg_start && code[end - 1].is_ascii_whitespace() {
                    end -= 1;
                }
                if !code[arg_start..end].contains(&b'\n') {
                    for b in &mut code[arg_start..end] {
                        *b = b'_';
                    }
                    count += 1;
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    count
}

/// Macros in statement position that C cannot parse as written, inside function bodies:
///
/// - iterators (`list_for_each(p, head) { ... }`, `for_each_soc(s) stmt`): a call followed by a
///   block (or, for `*for_each*` names, by a statement) becomes `while` (`if` for names under
///   five letters); the arguments become a comma expression;
/// - statement arguments (`ASSERT(x != NULL, return -1;);`, `NETDEBUG(if (c) f());`):
///   `NAME(cond, stmt)` becomes `if (cond) stmt`, a lone statement argument is unwrapped. The
///   condition's polarity is not modelled: the statement is one branch;
/// - macros that bring their own `;` (`DBG(("x"))` alone on a line) and bare macros
///   (`SLEEP_ON_HEAD`, `TRACE_EXIT 0;`, `DEBUG printk(...)`) are blanked.
pub fn rewrite_statements(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let mut depth = 0usize;
    let mut prev = b';'; // last non-space byte
    let n = code.len();
    let mut i = 0;
    while i < n {
        let c = code[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(code, i);
            prev = b'"';
            continue;
        }
        match c {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if is_ident_start_byte(c) {
            let start = i;
            while i < n && is_ident_byte(code[i]) {
                i += 1;
            }
            let at_statement = depth > 0 && matches!(prev, b';' | b'{' | b'}');
            if at_statement && statement_macro(code, start, i) {
                // Blanked or rewritten: what follows is in statement position again, unless
                // the rewrite left a `while`/`if` head.
                count += 1;
                if is_ident_start_byte(code[start]) {
                    prev = b'a';
                }
            } else {
                prev = b'a';
            }
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
        i += 1;
    }
    count
}

/// Rewrites the statement-position macro whose name is `code[start..end]`, if it is one.
fn statement_macro(code: &mut [u8], start: usize, end: usize) -> bool {
    let n = code.len();
    let word = &code[start..end];
    if is_macro_keyword(word) || is_type_word(word) {
        return false;
    }
    let open = skip_ws(code, end);
    if open < n && code[open] == b'(' {
        let Some(close) = matching_paren(code, open) else {
            return false;
        };
        let after = skip_ws(code, close + 1);
        let next = code.get(after).copied().unwrap_or(b';');
        if next == b'{' || (is_ident_start_byte(next) && is_iterator_name(word)) {
            let kw: &[u8] = if word.len() >= 5 { b"while" } else { b"if" };
            if word.len() < kw.len() {
                return false;
            }
            code[start..start + kw.len()].copy_from_slice(kw);
            blank(code, start + kw.len(), end);
            return true;
        }
        let last_comma = last_top_level_comma(code, open, close);
        let last_arg_start = last_comma.map_or(open + 1, |c| c + 1);
        let last = &code[last_arg_start..close];
        let last_trim = trim(last);
        let has_statement = last.contains(&b';')
            || (last_comma.is_some() && last_trim.is_empty())
            || STATEMENT_WORDS.iter().any(|w| {
                last_trim.starts_with(w)
                    && last_trim.get(w.len()).is_none_or(|c| !is_ident_byte(*c))
            });
        if has_statement && word.len() >= 2 {
            if let Some(comma) = last_comma {
                // NAME(cond, stmt) -> if  (cond) stmt
                code[start..start + 2].copy_from_slice(b"if");
                blank(code, start + 2, end);
                code[comma] = b')';
                code[close] = b' ';
            } else {
                blank(code, start, open + 1);
                code[close] = b' ';
            }
            return true;
        }
        if is_ident_start_byte(next) && code[close..after].contains(&b'\n') {
            blank(code, start, close + 1);
            return true;
        }
        return false;
    }
    // A bare upper-case macro: `SLEEP_ON_HEAD` alone on its line, `TRACE_EXIT 0;`,
    // `DEBUG printk(...)`.
    let upper = word.len() >= 2
        && word
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
    if !upper || open >= n {
        return false;
    }
    let next = code[open];
    let newline = code[end..open].contains(&b'\n');
    let mut e = open;
    while e < n && is_ident_byte(code[e]) {
        e += 1;
    }
    let after_ident = skip_ws(code, e);
    let same_line_use = next.is_ascii_digit()
        || next == b'"'
        || (is_ident_start_byte(next)
            && after_ident < n
            && (code[after_ident] == b'(' || is_macro_keyword(&code[open..e])));
    let own_line = newline && (is_ident_start_byte(next) || next == b'}');
    if same_line_use || own_line {
        blank(code, start, end);
        return true;
    }
    false
}

const STATEMENT_WORDS: [&[u8]; 7] = [
    b"if",
    b"return",
    b"goto",
    b"break",
    b"continue",
    b"do",
    b"while",
];

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e]
}

/// Positions of the commas at depth 1 between `open` and `close`.
/// The last comma between the parentheses at `open` and `close` that separates arguments.
fn last_top_level_comma(code: &[u8], open: usize, close: usize) -> Option<usize> {
    let mut last = None;
    let mut depth = 0usize;
    let mut i = open;
    while i < close {
        match code[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => last = Some(i),
            b'"' | b'\'' => {
                i = skip_literal(code, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    last
}

/// A keyword no macro is named after: [`KEYWORDS`](crate::ctext::KEYWORDS) and `goto`.
fn is_macro_keyword(word: &[u8]) -> bool {
    is_keyword(word) || word == b"goto"
}

fn is_iterator_name(word: &[u8]) -> bool {
    word.starts_with(b"for_each")
        || word.windows(9).any(|w| w == b"_for_each")
        || word.ends_with(b"_each")
}

/// Macros that expand to string literals stand next to strings: `printk(KERN_ERR PFX "x")`,
/// `"1-" __MODULE_STRING(N) "s"`. Each such identifier, or `NAME(...)` on one line, becomes a
/// string literal of the same length, so the concatenation parses.
pub fn rewrite_string_macros(code: &mut [u8]) -> u32 {
    let mut count = 0;
    for _ in 0..4 {
        let before = count;
        let n = code.len();
        let mut i = 0;
        while i < n {
            if code[i] == b'\'' {
                i = skip_literal(code, i);
                continue;
            }
            if code[i] != b'"' {
                i += 1;
                continue;
            }
            let start = i;
            // The closing quote (or the last byte of an unterminated literal).
            let end = skip_literal(code, i) - 1;
            if end >= n || code[end] != b'"' {
                i = end + 1;
                continue;
            }
            // Backwards: `IDENT "..."` or `IDENT(...) "..."`.
            let mut p = start;
            while p > 0 && code[p - 1].is_ascii_whitespace() {
                p -= 1;
            }
            if p > 0 && is_ident_byte(code[p - 1]) {
                let mut s0 = p;
                while s0 > 0 && is_ident_byte(code[s0 - 1]) {
                    s0 -= 1;
                }
                count += stringify(code, s0, p) as u32;
            }
            // Forwards: `"..." IDENT` or `"..." IDENT(...)`.
            let q = skip_ws(code, end + 1);
            if q < n && is_ident_start_byte(code[q]) {
                let mut e = q;
                while e < n && is_ident_byte(code[e]) {
                    e += 1;
                }
                let open = skip_ws(code, e);
                let span_end = if open < n && code[open] == b'(' {
                    matching_paren(code, open).map_or(e, |c| c + 1)
                } else {
                    e
                };
                count += stringify(code, q, span_end) as u32;
            }
            i = end + 1;
        }
        if count == before {
            break;
        }
    }
    count
}

/// Makes `code[from..to]` a string literal if it is a non-keyword identifier or call of at least
/// two bytes on one line.
fn stringify(code: &mut [u8], from: usize, to: usize) -> bool {
    let mut ident_end = from;
    while ident_end < to && is_ident_byte(code[ident_end]) {
        ident_end += 1;
    }
    let word = &code[from..ident_end];
    if to - from < 2
        || !is_ident_start_byte(code[from])
        || is_macro_keyword(word)
        || code[from..to].contains(&b'\n')
    {
        return false;
    }
    code[from] = b'"';
    for c in &mut code[from + 1..to - 1] {
        *c = b'_';
    }
    code[to - 1] = b'"';
    true
}

const BITFIELD_TYPES: [&[u8]; 8] = [
    b"int",
    b"unsigned",
    b"signed",
    b"char",
    b"short",
    b"long",
    b"__u8",
    b"__u32",
];

/// Unnamed bit-fields (`unsigned char :3;`) become named ones (`unsigned char _3;`).
pub fn rewrite_unnamed_bitfields(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let n = code.len();
    for i in 1..n {
        if code[i] != b':' || i + 1 >= n {
            continue;
        }
        let d = skip_ws(code, i + 1);
        if d >= n || !code[d].is_ascii_digit() {
            continue;
        }
        let mut e = d;
        while e < n && code[e].is_ascii_digit() {
            e += 1;
        }
        let e = skip_ws(code, e);
        if e >= n || code[e] != b';' {
            continue;
        }
        let mut p = i;
        while p > 0 && code[p - 1].is_ascii_whitespace() {
            p -= 1;
        }
        let mut s0 = p;
        while s0 > 0 && is_ident_byte(code[s0 - 1]) {
            s0 -= 1;
        }
        if s0 < p
            && BITFIELD_TYPES
                .iter()
                .any(|t| *t == &code[s0..p] || code[s0..p].starts_with(b"u"))
        {
            if d == i + 1 {
                code[i] = b'_';
            } else {
                code[i] = b' ';
                code[d - 1] = b'_';
            }
            count += 1;
        }
    }
    count
}

/// GNU case ranges (`case 1 ... 5:`) become `case 1 |   5:`: one label, which is all the
/// control flow needs.
pub fn rewrite_case_ranges(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let n = code.len();
    let mut i = 0;
    while i + 3 <= n {
        if &code[i..i + 3] == b"..." && i > 0 && code[i - 1] == b' ' {
            // Only in a `case` label: look back on the line for the keyword.
            let line_start = code[..i]
                .iter()
                .rposition(|c| *c == b'\n')
                .map_or(0, |p| p + 1);
            let line = &code[line_start..i];
            if line.windows(4).any(|w| w == b"case") {
                code[i] = b'|';
                code[i + 1] = b' ';
                code[i + 2] = b' ';
                count += 1;
            }
        }
        i += 1;
    }
    count
}

/// C before C23 forbids a label right before `}`; kernel code has many (`out: }`). Insert the
/// empty statement the compiler accepted: into the whitespace when there is a space or tab,
/// otherwise by moving the label one column left, otherwise by giving up its last character
/// (`out:` -> `ou:;`; facts read label names from the original text).
pub fn fix_end_labels(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let n = code.len();
    let mut i = 0;
    while i < n {
        if code[i] == b'"' || code[i] == b'\'' {
            i = skip_literal(code, i);
            continue;
        }
        if code[i] != b':' || (i + 1 < n && code[i + 1] == b':') {
            i += 1;
            continue;
        }
        let colon = i;
        let close = skip_ws(code, colon + 1);
        if close >= n || code[close] != b'}' {
            i += 1;
            continue;
        }
        // The label before the colon: an identifier (or `default`, or a case expression).
        let mut ls = colon;
        while ls > 0 && code[ls - 1] == b' ' {
            ls -= 1;
        }
        let label_end = ls;
        while ls > 0 && is_ident_byte(code[ls - 1]) {
            ls -= 1;
        }
        if let Some(ws) = (colon + 1..close).find(|&k| code[k] == b' ' || code[k] == b'\t') {
            code[ws] = b';';
        } else if ls < label_end && ls > 0 && (code[ls - 1] == b' ' || code[ls - 1] == b'\t') {
            code.copy_within(ls..=colon, ls - 1);
            code[colon] = b';';
        } else if label_end == colon && label_end - ls >= 2 {
            code[colon - 1] = b':';
            code[colon] = b';';
        } else {
            i += 1;
            continue;
        }
        count += 1;
        i = close + 1;
    }
    count
}

/// Initializers this long made of numbers only (firmware images, coefficient tables) are
/// blanked: they hold no routine, and token by token they cost the parser more than the
/// driver code around them. Shorter ones stay, so small tables still read as written.
pub const DATA_TABLE_MIN_BYTES: usize = 512;

/// Blanks the inside of string literals: the facts quote strings from the text before the
/// rewrites, and the parser then sees one token where an escape-laden `printk` format made
/// several. A backslash that continues the string on the next line stays. Returns how many
/// literals were blanked.
pub fn blank_string_contents(code: &mut [u8]) -> u32 {
    let mut count = 0;
    let mut i = 0;
    while let Some(k) = memchr::memchr2(b'"', b'\'', &code[i..]) {
        let open = i + k;
        let close = skip_literal(code, open) - 1;
        if code[open] == b'"' && code[close] == b'"' && close > open + 1 {
            let body = &mut code[open + 1..close];
            let mut j = 0;
            while j < body.len() {
                match body[j] {
                    b'\\' if matches!(body.get(j + 1), Some(b'\n' | b'\r')) => j += 1,
                    b'\n' | b'\r' => {}
                    _ => body[j] = b' ',
                }
                j += 1;
            }
            count += 1;
        }
        i = close + 1;
    }
    count
}

/// Blanks the inside of `= { ... }` initializers of at least [`DATA_TABLE_MIN_BYTES`] that
/// hold only numeric literals, signs, commas and nested braces; newlines stay. Returns how
/// many were blanked.
pub fn blank_data_tables(code: &mut [u8]) -> u32 {
    let numeric = |c: u8| {
        c.is_ascii_hexdigit()
            || c.is_ascii_whitespace()
            || matches!(
                c,
                b',' | b'x' | b'X' | b'u' | b'U' | b'l' | b'L' | b'+' | b'-'
            )
    };
    let mut count = 0;
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'=', &code[i..]) {
        let eq = i + k;
        i = eq + 1;
        let mut open = eq + 1;
        while open < code.len() && code[open].is_ascii_whitespace() {
            open += 1;
        }
        if code.get(open) != Some(&b'{') {
            continue;
        }
        let mut depth = 0usize;
        let mut end = None;
        for (j, &c) in code.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                c if numeric(c) => {}
                _ => break,
            }
        }
        let Some(close) = end else { continue };
        if close - open >= DATA_TABLE_MIN_BYTES {
            for c in &mut code[open + 1..close] {
                if *c != b'\n' {
                    *c = b' ';
                }
            }
            count += 1;
        }
        i = close + 1;
    }
    count
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

    fn run(f: impl Fn(&mut [u8]) -> u32, src: &str) -> String {
        let mut b = src.as_bytes().to_vec();
        f(&mut b);
        assert_eq!(b.len(), src.len());
        String::from_utf8(b).unwrap()
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
    fn type_args() {
        let out = run(
            rewrite_type_args,
            "x = list_entry(p, struct foo, list); y = sizeof(struct bar); z = (struct baz *)q; va_arg(ap, unsigned long);",
        );
        assert_eq!(
            out,
            "x = list_entry(p, __________, list); y = sizeof(struct bar); z = (struct baz *)q; va_arg(ap, _____________);"
        );
    }

    #[test]
    fn prototypes_with_pointers_untouched() {
        let src = "int (*open)(struct inode *, struct file *);";
        assert_eq!(run(rewrite_type_args, src), src);
    }

    #[test]
    fn string_macros() {
        let out = run(
            rewrite_string_macros,
            "printk(KERN_ERR PFX \"x\", a); p(\"1-\" S(N) \"s\"); return \"y\";",
        );
        assert_eq!(
            out,
            "printk(\"______\" \"_\" \"x\", a); p(\"1-\" \"__\" \"s\"); return \"y\";"
        );
    }

    #[test]
    fn unnamed_bitfields() {
        let out = run(
            rewrite_unnamed_bitfields,
            "struct s { unsigned char :3; int a : 2; u32 :5; }; x = c ? a :3;",
        );
        assert_eq!(
            out,
            "struct s { unsigned char _3; int a : 2; u32 _5; }; x = c ? a :3;"
        );
    }

    #[test]
    fn statement_macros_without_semicolon() {
        let src = "int f(void)\n{\n\tDBG((\"x\"))\n\ta = 1;\n\tfor_each_soc(s)\n\t\tif (s) g();\n}";
        let out = run(rewrite_statements, src);
        assert!(out.contains("\t          \n\ta = 1;"), "{out}");
        assert!(out.contains("\twhile       (s)\n"), "{out}");
    }

    #[test]
    fn statement_argument_macros() {
        let src = "int f(void)\n{\n\tASSERT(p != NULL, return -1;);\n\tNETDEBUG(if (x) g());\n\tSLEEP_HEAD\n\tx = 1;\n\tTRACE_EXIT 0;\n\tDEBUG printk(\"a\");\n\tULONG y;\n}";
        let out = run(rewrite_statements, src);
        assert!(out.contains("\tif    (p != NULL) return -1; ;"), "{out}");
        assert!(out.contains("\t         if (x) g() ;"), "{out}");
        assert!(out.contains("\t          \n\tx = 1;"), "{out}");
        assert!(out.contains("\t           0;"), "{out}");
        assert!(out.contains("\t      printk("), "{out}");
        assert!(out.contains("\tULONG y;"), "{out}");
    }

    #[test]
    fn iterators() {
        let src = "int f(void)\n{\n\tlist_for_each(p, &h) {\n\t\tx(p);\n\t}\n\tfoo(a) ;\n}\nmain(int c)\n{\n}";
        let out = run(rewrite_statements, src);
        assert!(out.contains("\twhile        (p, &h) {"));
        assert!(out.contains("\tfoo(a) ;"));
        assert!(out.contains("main(int c)"));
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
            params: Some(vec!["x".into()]),
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

    #[test]
    fn end_labels() {
        assert_eq!(run(fix_end_labels, "out:\n}"), "ou:;\n}");
        assert_eq!(run(fix_end_labels, "out: }"), "out:;}");
        assert_eq!(run(fix_end_labels, " out:\n}"), "out:;\n}");
        assert_eq!(run(fix_end_labels, "x ? a : b;"), "x ? a : b;");
        assert_eq!(run(fix_end_labels, "default:\n\t}"), "default:\n;}");
    }

    #[test]
    fn long_numeric_tables_are_blanked_with_their_lines() {
        let row = "0x12, 0x34, -1, 255UL,\n";
        let table = format!(
            "static unsigned char fw[] = {{\n{}}};\nint x = {{ 1, 2 }};\n",
            row.repeat(40)
        );
        let mut code = table.clone().into_bytes();
        assert_eq!(blank_data_tables(&mut code), 1);
        let out = String::from_utf8(code).unwrap();
        assert_eq!(out.len(), table.len());
        assert_eq!(out.lines().count(), table.lines().count());
        assert!(!out.contains("0x12"));
        assert!(out.contains("int x = { 1, 2 };"));
    }

    #[test]
    fn string_contents_are_blanked_for_the_parser() {
        let src = "printk(\"a\\n%d\\\"\", 'x', '\"');\ns = \"one\\\ntwo\"; t = \"open\nu = \"\";";
        let mut code = src.as_bytes().to_vec();
        assert_eq!(blank_string_contents(&mut code), 2);
        assert_eq!(code.len(), src.len());
        assert_eq!(
            String::from_utf8(code).unwrap(),
            "printk(\"       \", 'x', '\"');\ns = \"   \\\n   \"; t = \"open\nu = \"\";"
        );
    }

    #[test]
    fn tables_with_names_are_kept() {
        let row = "{ 1, 2, foo_open },\n";
        let table = format!("struct t tab[] = {{\n{}}};\n", row.repeat(40));
        let mut code = table.clone().into_bytes();
        assert_eq!(blank_data_tables(&mut code), 0);
        assert_eq!(code, table.into_bytes());
    }
}
