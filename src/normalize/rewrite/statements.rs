//! Statement rewrites: statement-position macros, GNU case ranges and labels at the end of a block.

use super::{is_macro_keyword, skip_ws};
use crate::ctext::{
    is_ident_byte, is_ident_start_byte, is_type_word, matching_paren, skip_literal,
};
use crate::normalize::blank;

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

fn is_iterator_name(word: &[u8]) -> bool {
    word.starts_with(b"for_each")
        || word.windows(9).any(|w| w == b"_for_each")
        || word.ends_with(b"_each")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::rewrite::run;

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
    fn end_labels() {
        assert_eq!(run(fix_end_labels, "out:\n}"), "ou:;\n}");
        assert_eq!(run(fix_end_labels, "out: }"), "out:;}");
        assert_eq!(run(fix_end_labels, " out:\n}"), "out:;\n}");
        assert_eq!(run(fix_end_labels, "x ? a : b;"), "x ? a : b;");
        assert_eq!(run(fix_end_labels, "default:\n\t}"), "default:\n;}");
    }
}
