//! The C-text toolkit: identifier predicates, literal and bracket scanners, integer literals
//! and keyword lists shared by every pass that reads C as text rather than as a parse tree.
//!
//! A leaf module (nothing from `crate::`), so that normalization, lowering and the analyses
//! can all use it without depending on one another.

/// Whether `c` may start a C identifier.
pub fn is_ident_start_byte(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// Whether `c` may continue a C identifier.
pub fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// [`is_ident_byte`] for `char` predicates (`str::split`, `take_while`).
pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether the text is one C identifier.
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_ident_start_byte(b[0]) && b.iter().all(|c| is_ident_byte(*c))
}

/// Whether the text is one non-empty run of identifier bytes; unlike [`is_identifier`] it may
/// start with a digit (`42`, `0x10`, `foo`).
pub fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_ident_byte)
}

/// Where a literal whose body starts at `i` ends: after its closing quote, after the end of
/// its line, or at the end of the text. A backslash escapes the next byte, newline included.
/// Stopping at the line end keeps a stray quote (`#error don't`) from swallowing a file.
pub fn literal_end(src: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(k) = memchr::memchr3(b'\\', b'\n', quote, &src[i..]) {
        let at = i + k;
        if src[at] != b'\\' {
            return at + 1;
        }
        i = at + 2;
        if i >= src.len() {
            break;
        }
    }
    src.len()
}

/// Index just past the string or character literal whose opening quote is at `open`
/// (see [`literal_end`] for where an unterminated one ends).
pub fn skip_literal(code: &[u8], open: usize) -> usize {
    literal_end(code, open + 1, code[open])
}

/// Index of the parenthesis closing the one at `open` (which must be `(`), counting only
/// parentheses and skipping literals. Brackets and braces are ignored, so text whose braces
/// are unbalanced by conditional compilation still pairs its parentheses.
pub fn matching_paren(code: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < code.len() {
        match code[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'"' | b'\'' => {
                i = skip_literal(code, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the bracket closing the one at `open`, with `()`, `[]` and `{}` sharing one depth
/// (any closer closes), skipping literals: for one well-formed expression.
pub fn matching_bracket(code: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut i = open;
    while i < code.len() {
        match code[i] {
            b'"' | b'\'' => {
                i = skip_literal(code, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits an argument list at top-level commas (string and character literals skipped), each
/// argument trimmed; empty text gives no arguments.
pub fn split_args(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut j = 0;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' => {
                j = skip_literal(b, j);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                out.push(text[start..j].trim());
                start = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    let last = text[start.min(text.len())..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

/// A null pointer as C writes it: `NULL`, `0`, or a cast or parentheses around one.
pub fn is_null_pointer(expr: &str) -> bool {
    let t: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let last = t.rsplit(')').next().unwrap_or("");
    let inner = t.trim_start_matches('(').trim_end_matches(')');
    ["NULL", "0"]
        .iter()
        .any(|n| t == *n || inner == *n || (t.ends_with(n) && last == *n))
}

/// The text without whitespace and balanced enclosing parentheses: `((x))` gives `x`,
/// `(a)+(b)` stays. Linear in the text: the brackets are matched once, not once per layer.
pub fn strip_parens(e: &str) -> &str {
    let e = e.trim();
    if !e.starts_with('(') {
        return e;
    }
    let closers = matching_brackets(e.as_bytes());
    let (mut from, mut to) = (0, e.len());
    loop {
        let t = &e[from..to];
        let inner = t.trim();
        from += t.len() - t.trim_start().len();
        to = from + inner.len();
        if inner.starts_with('(') && closers[from] == Some(to - 1) {
            from += 1;
            to -= 1;
        } else {
            return inner;
        }
    }
}

/// For each opening bracket of `code`, the position of its closing one, as
/// [`matching_bracket`] finds it, computed for all of them in one pass.
pub fn matching_brackets(code: &[u8]) -> Vec<Option<usize>> {
    let mut closers = vec![None; code.len()];
    let mut open = Vec::new();
    let mut i = 0;
    while i < code.len() {
        match code[i] {
            b'"' | b'\'' => {
                i = skip_literal(code, i);
                continue;
            }
            b'(' | b'[' | b'{' => open.push(i),
            b')' | b']' | b'}' => {
                if let Some(o) = open.pop() {
                    closers[o] = Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    closers
}

/// Parses an integer literal as C writes it: decimal, `0x` hex, `0` octal, with `u`/`l`
/// suffixes (`0x10`, `010`, `12UL`). Anything else, parentheses included, gives `None`.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// [`parse_int`] of the text inside balanced enclosing parentheses: `(4UL)` gives 4.
pub fn parse_paren_int(text: &str) -> Option<i64> {
    parse_int(strip_parens(text))
}

/// Keywords that stand before `(`, an expression or a statement: never the name of a function
/// or macro, so a scanner looking for calls or macros skips them.
pub const KEYWORDS: [&str; 11] = [
    "if",
    "while",
    "for",
    "switch",
    "return",
    "sizeof",
    "typeof",
    "__typeof__",
    "do",
    "else",
    "case",
];

/// GNU C's own words that stand before `(` without being a call: `__typeof(x)`,
/// `__asm__ volatile (...)`, `__attribute__((...))`, `defined(X)` in a condition.
pub const GNU_KEYWORDS: [&str; 8] = [
    "__typeof",
    "defined",
    "__asm__",
    "asm",
    "__asm",
    "__volatile__",
    "__attribute__",
    "__alignof__",
];

/// The words of a basic type specifier: tags, sizes, signedness, qualifiers.
pub const TYPE_WORDS: [&str; 14] = [
    "struct", "union", "enum", "unsigned", "signed", "const", "volatile", "int", "long", "short",
    "char", "void", "float", "double",
];

/// Whether the bytes are one of [`KEYWORDS`].
pub fn is_keyword(word: &[u8]) -> bool {
    KEYWORDS.iter().any(|k| k.as_bytes() == word)
}

/// Whether a word followed by `(` cannot be a call: a keyword, a GNU C keyword or a type word
/// (`(int)(x)` reads as `int(x)` to a scanner).
pub fn is_not_callee(word: &str) -> bool {
    KEYWORDS.contains(&word) || GNU_KEYWORDS.contains(&word) || TYPE_WORDS.contains(&word)
}

/// Whether the bytes are one of [`TYPE_WORDS`].
pub fn is_type_word(word: &[u8]) -> bool {
    TYPE_WORDS.iter().any(|k| k.as_bytes() == word)
}

/// Whether a macro body expands to nothing that runs: empty, `do { } while (0)`, `(void)0`,
/// `{}` (spacing aside).
pub fn is_empty_expansion(body: &str) -> bool {
    let body: String = body.split_whitespace().collect();
    matches!(
        body.as_str(),
        "" | "do{}while(0)" | "do{}while(0);" | "(void)0" | "((void)0)" | "{}"
    )
}

/// What a macro body does besides computing a value: the words it calls (`word(`, keywords
/// and type words aside: `sizeof(x)`, `(int)(x)`), and whether it assigns (`=`, `+=`, `++`,
/// `--`; comparisons aside). String and character literals are skipped.
pub fn expansion_effects(body: &str) -> (Vec<&str>, bool) {
    let b = body.as_bytes();
    let (mut calls, mut assigns) = (Vec::new(), false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = literal_end(b, i + 1, c);
            continue;
        }
        if is_ident_start_byte(c) {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            let word = &body[start..i];
            let next = b[i..].iter().find(|c| !c.is_ascii_whitespace());
            if next == Some(&b'(') && !is_not_callee(word) {
                calls.push(word);
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|k| b[k]);
        let next = b.get(i + 1).copied();
        match c {
            b'=' if next != Some(b'=') && !matches!(prev, Some(b'=' | b'!' | b'<' | b'>')) => {
                assigns = true
            }
            // `<<=` and `>>=` end in `=`, which the arm above sees with `<`/`>` before it: one
            // more look back.
            b'=' if matches!(prev, Some(b'<' | b'>'))
                && i >= 2
                && b[i - 2] == prev.unwrap_or(0) =>
            {
                assigns = true
            }
            b'+' | b'-' if next == Some(c) => assigns = true,
            _ => {}
        }
        i += 1;
    }
    (calls, assigns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_of_macro_bodies() {
        assert_eq!(expansion_effects("((dev) & 0xff)"), (vec![], false));
        assert_eq!(
            expansion_effects("(sizeof(x) > 4 ? (int)(y) : 0)"),
            (vec![], false)
        );
        assert_eq!(
            expansion_effects("printk(KERN_DEBUG x)"),
            (vec!["printk"], false)
        );
        assert_eq!(
            expansion_effects("((x) == (y) || (x) <= 2)"),
            (vec![], false)
        );
        assert!(expansion_effects("((x) = 0)").1);
        assert!(expansion_effects("((x) <<= 1)").1);
        assert!(expansion_effects("(x)++").1);
        assert_eq!(expansion_effects("\"a=b(\"").0, Vec::<&str>::new());
        assert!(is_empty_expansion(" do { } while ( 0 ) "));
        assert!(!is_empty_expansion("x"));
    }

    #[test]
    fn strip_parens_is_linear_and_exact() {
        assert_eq!(strip_parens(" ( (x) ) "), "x");
        assert_eq!(strip_parens("(a)+(b)"), "(a)+(b)");
        assert_eq!(strip_parens("((a)+(b))"), "(a)+(b)");
        assert_eq!(strip_parens("()"), "");
        assert_eq!(strip_parens("(\")\")"), "\")\"");
        assert_eq!(strip_parens("((x)"), "((x)");
        // 200,000 layers: quadratic work would take minutes.
        let n = 200_000;
        let deep = format!("{}x{}", "(".repeat(n), ")".repeat(n));
        let start = std::time::Instant::now();
        assert_eq!(strip_parens(&deep), "x");
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn identifiers() {
        assert!(is_ident_start_byte(b'_') && is_ident_start_byte(b'a'));
        assert!(!is_ident_start_byte(b'1') && is_ident_byte(b'1'));
        assert!(!is_ident_byte(b'-') && is_ident_char('Z') && !is_ident_char('.'));
        assert!(is_identifier("dev_open2") && is_identifier("_x"));
        assert!(!is_identifier("") && !is_identifier("2x") && !is_identifier("a->b"));
        assert!(!is_identifier("é"));
        assert!(is_word("42") && is_word("foo") && !is_word("") && !is_word("a b"));
    }

    #[test]
    fn literals() {
        let s = b"\"a\\\"b\" x";
        assert_eq!(skip_literal(s, 0), 6);
        assert_eq!(literal_end(s, 1, b'"'), 6);
        // An unterminated literal ends after its line.
        assert_eq!(skip_literal(b"'x\ny'", 0), 3);
        assert_eq!(skip_literal(b"\"ab", 0), 3);
        assert_eq!(skip_literal(b"'\\", 0), 2);
    }

    #[test]
    fn brackets() {
        assert_eq!(matching_paren(b"(a(b)\")\")", 0), Some(8));
        assert_eq!(matching_paren(b"(a[)", 0), Some(3));
        assert_eq!(matching_paren(b"(a", 0), None);
        assert_eq!(matching_bracket(b"(a[)]", 0), Some(4));
        assert_eq!(matching_bracket(b"(a[b])", 0), Some(5));
        assert_eq!(matching_bracket(b"f(x]", 1), Some(3));
        assert_eq!(strip_parens(" ((x)) "), "x");
        assert_eq!(strip_parens("(a)+(b)"), "(a)+(b)");
    }

    #[test]
    fn integers_in_c_notation() {
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("0X1f"), Some(31));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("12UL"), Some(12));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("(4)"), None);
        assert_eq!(parse_paren_int("(4UL)"), Some(4));
        assert_eq!(parse_paren_int("(0x01)"), Some(1));
    }

    #[test]
    fn keyword_lists() {
        assert!(is_keyword(b"sizeof") && !is_keyword(b"goto") && !is_keyword(b"int"));
        assert!(is_type_word(b"unsigned") && !is_type_word(b"u32"));
    }
}
