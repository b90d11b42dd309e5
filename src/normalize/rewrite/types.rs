//! Type rewrites: type names as macro arguments and unnamed bit-fields.

use super::skip_ws;
use crate::ctext::{is_ident_byte, is_ident_start_byte, is_type_word, skip_literal};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::rewrite::run;

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
}
