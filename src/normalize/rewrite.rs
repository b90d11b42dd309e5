//! Same-length rewrites of active code that make kernel idioms parseable C.

use std::collections::HashSet;

use crate::kb::Normalize;

/// How the rewrite treats an identifier.
#[derive(Debug, Default)]
pub struct MacroTable {
    attributes: HashSet<Vec<u8>>,
    attribute_calls: HashSet<Vec<u8>>,
    wrappers: HashSet<Vec<u8>>,
}

impl MacroTable {
    pub fn new(kb: &Normalize) -> Self {
        let set = |v: &[String]| v.iter().map(|s| s.as_bytes().to_vec()).collect();
        Self {
            attributes: set(&kb.attributes),
            attribute_calls: set(&kb.attribute_calls),
            wrappers: set(&kb.wrappers),
        }
    }
}

/// What the rewrites changed, for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RewriteCounts {
    pub macros: u32,
    pub type_args: u32,
    pub end_labels: u32,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn blank(code: &mut [u8], from: usize, to: usize) {
    for c in &mut code[from..to] {
        if *c != b'\n' {
            *c = b' ';
        }
    }
}

fn skip_ws(code: &[u8], mut i: usize) -> usize {
    while i < code.len() && code[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Index of the parenthesis closing the one at `open`, skipping literals.
fn matching_paren(code: &[u8], open: usize) -> Option<usize> {
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
            b'"' | b'\'' => i = skip_literal(code, i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the closing quote of the literal that starts at `i` (or of the end of its line).
fn skip_literal(code: &[u8], i: usize) -> usize {
    let q = code[i];
    let mut j = i + 1;
    while j < code.len() {
        match code[j] {
            b'\\' => j += 1,
            b'\n' => return j,
            c if c == q => return j,
            _ => {}
        }
        j += 1;
    }
    code.len().saturating_sub(1)
}

/// Blanks attribute macros and unwraps wrapper macros named in the knowledge base.
pub fn rewrite_macros(code: &mut [u8], table: &MacroTable) -> u32 {
    let mut count = 0;
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(code, i) + 1;
            continue;
        }
        if !is_ident_start(c) || (i > 0 && is_ident(code[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < code.len() && is_ident(code[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if table.attributes.contains(word) {
            blank(code, start, i);
            count += 1;
        } else if table.attribute_calls.contains(word) {
            let open = skip_ws(code, i);
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
        } else if table.wrappers.contains(word) {
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

const TYPE_WORDS: [&[u8]; 14] = [
    b"struct", b"union", b"enum", b"unsigned", b"signed", b"const", b"volatile", b"int", b"long",
    b"short", b"char", b"void", b"float", b"double",
];

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
            i = skip_literal(code, i) + 1;
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
            if k >= n || !is_ident_start(code[k]) {
                j = k;
                break;
            }
            let mut e = k;
            while e < n && is_ident(code[e]) {
                e += 1;
            }
            let w = &code[k..e];
            let is_type_word = TYPE_WORDS.contains(&w);
            if !(is_type_word || (after_tag && !is_type_word)) {
                ok = false;
                break;
            }
            if words == 0 && !is_type_word {
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
            i = skip_literal(code, i) + 1;
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
        while ls > 0 && is_ident(code[ls - 1]) {
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
            |b| rewrite_macros(b, &t),
            "static int __init f(void) __attribute__((x(1)));\n__initfunc(void g(int a))\n\"__init\"",
        );
        assert_eq!(
            out,
            "static int        f(void)                      ;\n           void g(int a) \n\"__init\""
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
    fn end_labels() {
        assert_eq!(run(fix_end_labels, "out:\n}"), "ou:;\n}");
        assert_eq!(run(fix_end_labels, "out: }"), "out:;}");
        assert_eq!(run(fix_end_labels, " out:\n}"), "out:;\n}");
        assert_eq!(run(fix_end_labels, "x ? a : b;"), "x ? a : b;");
        assert_eq!(run(fix_end_labels, "default:\n\t}"), "default:\n;}");
    }
}
