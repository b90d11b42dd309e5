//! Literal rewrites: macros that stand for strings, string contents and long numeric data tables.

use super::{is_macro_keyword, skip_ws};
use crate::ctext::{is_ident_byte, is_ident_start_byte, matching_paren, skip_literal};

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
    use crate::normalize::rewrite::run;

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
