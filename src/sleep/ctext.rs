//! Small scanners over C text: macro bodies and argument expressions are kept as text in the
//! facts, and the analysis needs the calls in a body, the identifiers of an expression and the
//! shape of a callee expression (`a->b->c`). They never fail: text they do not understand
//! yields nothing.

use crate::ctext::{
    is_ident_byte, is_ident_char, is_ident_start_byte, is_not_callee, matching_bracket,
    matching_brackets, skip_literal, split_args,
};

/// A call found in a macro body: `name(args)`, or `...->name(args)` / `....name(args)` for a
/// call through a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyCall {
    pub callee: String,
    pub args: Vec<crate::facts::Text>,
    pub through_field: bool,
}

/// Calls nested deeper than this in a macro body are not read: each call keeps its argument
/// text, so reading all of `f(f(f(...)))` would cost the square of its length. Real macros
/// nest a few levels.
pub const MAX_BODY_CALL_NESTING: u32 = 64;

/// Every call in a macro body, outer calls before the calls in their arguments, down to
/// [`MAX_BODY_CALL_NESTING`] brackets deep. Stringified (`#x`) and pasted (`a##b`) names are
/// not calls anyone can name.
pub fn body_calls(body: &str) -> Vec<BodyCall> {
    let b = body.as_bytes();
    let closers = matching_brackets(b);
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0u32;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(b, i);
            continue;
        }
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !is_ident_start_byte(c)
            || (i > 0 && is_ident_byte(b[i - 1]))
            || depth > MAX_BODY_CALL_NESTING
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
        let name = &body[start..i];
        let mut k = i;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        if k >= b.len() || b[k] != b'(' || is_not_callee(name) {
            continue;
        }
        let before = body[..start].trim_end();
        if before.ends_with('#') || body[i..].trim_start().starts_with("##") {
            continue;
        }
        let through_field = before.ends_with("->") || (before.ends_with('.'));
        let Some(close) = closers[k] else {
            continue;
        };
        out.push(BodyCall {
            callee: name.to_string(),
            args: split_args(&body[k + 1..close])
                .into_iter()
                .map(Into::into)
                .collect(),
            through_field,
        });
    }
    out
}

/// An identifier in an expression, with what surrounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    /// Preceded by `~`: a bit taken away, not added.
    pub negated: bool,
    /// Preceded by `.` or `->`: a field name.
    pub member: bool,
    /// Followed by `(`: a called name.
    pub called: bool,
    /// Followed by `->`, `.` or `[`: the base of an access.
    pub base: bool,
    /// Under a unary `*` or `&`: the word names what holds the value, not the value.
    pub indirect: bool,
    pub number: bool,
}

/// Identifiers and numbers of an expression, in order, skipping literals.
pub fn words(expr: &str) -> Vec<Word<'_>> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = skip_literal(b, i);
            continue;
        }
        if !is_ident_byte(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && (is_ident_byte(b[i]) || (c.is_ascii_digit() && b[i] == b'.')) {
            i += 1;
        }
        let before = expr[..start].trim_end();
        let after = expr[i..].trim_start();
        out.push(Word {
            text: &expr[start..i],
            negated: before.ends_with('~'),
            member: before.ends_with("->") || before.ends_with('.'),
            called: after.starts_with('('),
            base: after.starts_with("->") || after.starts_with('.') || after.starts_with('['),
            indirect: is_unary_indirection(before),
            number: c.is_ascii_digit(),
        });
    }
    out
}

/// Whether text ending in `*` or `&` ends in a unary one: no operand before it (`*p`, `(*p)`,
/// `x & *p`), as opposed to `a * p` or `gfp & p`. A cast before it (`(int)*p`) reads as an
/// operand: a mask is never multiplied, so a miss there only makes a word a plain one.
fn is_unary_indirection(before: &str) -> bool {
    let Some(rest) = before
        .strip_suffix('*')
        .or_else(|| before.strip_suffix('&').filter(|r| !r.ends_with('&')))
    else {
        return false;
    };
    let rest = rest.trim_end();
    !rest
        .bytes()
        .last()
        .is_some_and(|c| is_ident_byte(c) || c == b')' || c == b']')
}

/// `(type) rest` gives `Some((type, rest))`.
pub fn split_cast(e: &str) -> Option<(&str, &str)> {
    let e = e.trim();
    if !e.starts_with('(') {
        return None;
    }
    let close = matching_bracket(e.as_bytes(), 0)?;
    let rest = e[close + 1..].trim();
    (!rest.is_empty()).then(|| (e[1..close].trim(), rest))
}

/// Splits `base->field` or `base.field` at the last top-level access: `Some((base, field))`.
pub fn split_member(e: &str) -> Option<(&str, &str)> {
    let b = e.as_bytes();
    let end = e.trim_end().len();
    let mut j = end;
    while j > 0 && is_ident_byte(b[j - 1]) {
        j -= 1;
    }
    if j == end || j == 0 || b[j].is_ascii_digit() {
        return None;
    }
    let field = &e[j..end];
    let before = e[..j].trim_end();
    let base = before
        .strip_suffix("->")
        .or_else(|| before.strip_suffix('.'))?;
    // The access must be at top level: the base's brackets must balance.
    let mut depth = 0i32;
    for c in base.bytes() {
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            _ => {}
        }
    }
    (depth == 0 && !base.trim().is_empty()).then(|| (base.trim(), field))
}

/// `x[i]` gives `x`; anything else is returned as is.
pub fn strip_index(e: &str) -> &str {
    let t = e.trim_end();
    if t.ends_with(']') {
        let b = t.as_bytes();
        let mut depth = 0i32;
        for j in (0..b.len()).rev() {
            match b[j] {
                b']' => depth += 1,
                b'[' => {
                    depth -= 1;
                    if depth == 0 {
                        return t[..j].trim_end();
                    }
                }
                _ => {}
            }
        }
    }
    t
}

/// The struct or typedef name of a declared type: `const struct net_device *` gives
/// `net_device`, `kdev_t` gives `kdev_t`.
pub fn type_name(ty: &str) -> Option<&str> {
    const QUALIFIERS: &[&str] = &[
        "const", "volatile", "register", "static", "extern", "unsigned", "signed",
    ];
    let mut words = ty
        .split(|c: char| !is_ident_char(c))
        .filter(|w| !w.is_empty() && !QUALIFIERS.contains(w));
    let first = words.next()?;
    if first == "struct" || first == "union" {
        words.next()
    } else {
        Some(first)
    }
}

/// Shortens long call text for a chain step.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(3)).collect();
    s.push_str("...");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_in_macro_bodies_are_read_to_a_bounded_depth() {
        let n = 100_000;
        let deep = format!("{}x{}", "f(".repeat(n), ")".repeat(n));
        let calls = body_calls(&deep);
        assert_eq!(calls.len(), MAX_BODY_CALL_NESTING as usize + 1);
        assert_eq!(
            calls[1].args,
            vec![format!("{}x{}", "f(".repeat(n - 2), ")".repeat(n - 2))]
        );
    }

    #[test]
    fn calls_in_macro_bodies() {
        let calls = body_calls("__get_free_pages((gfp_mask),0)");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].callee, "__get_free_pages");
        assert_eq!(calls[0].args, vec!["(gfp_mask)", "0"]);
        let calls =
            body_calls("do { if (!(c)) { add_wait_queue(&wq, &w); schedule(); } } while (0)");
        let names: Vec<_> = calls.iter().map(|c| c.callee.as_str()).collect();
        assert_eq!(names, vec!["add_wait_queue", "schedule"]);
        assert!(calls[1].args.is_empty());
        let calls = body_calls("(dev)->open(dev, \"a(b\") + f(g(x), y)");
        assert!(calls[0].through_field);
        assert_eq!(calls[0].args, vec!["dev", "\"a(b\""]);
        let names: Vec<_> = calls.iter().map(|c| c.callee.as_str()).collect();
        assert_eq!(names, vec!["open", "f", "g"]);
        assert!(body_calls("#x (a) a##b(c) sizeof(x)").is_empty());
        assert!(body_calls("unterminated(").is_empty());
    }

    #[test]
    fn expression_words() {
        let w = words("gfp_mask & ~__GFP_WAIT | sk->allocation | f(x) | 0x10");
        let texts: Vec<_> = w.iter().map(|w| w.text).collect();
        assert_eq!(
            texts,
            vec![
                "gfp_mask",
                "__GFP_WAIT",
                "sk",
                "allocation",
                "f",
                "x",
                "0x10"
            ]
        );
        assert!(w[1].negated);
        assert!(w[2].base && w[3].member && w[4].called && w[6].number);
    }

    #[test]
    fn expression_shapes() {
        assert_eq!(split_member("dev->ops->open"), Some(("dev->ops", "open")));
        assert_eq!(split_member("fops[i].open"), Some(("fops[i]", "open")));
        assert_eq!(split_member("f(a->b)"), None);
        assert_eq!(split_member("open"), None);
        assert_eq!(split_cast("(struct foo *) p"), Some(("struct foo *", "p")));
        assert_eq!(strip_index("tbl[i][j]"), "tbl[i]");
        assert_eq!(type_name("const struct net_device *"), Some("net_device"));
        assert_eq!(type_name("kdev_t"), Some("kdev_t"));
        assert_eq!(split_args(""), Vec::<&str>::new());
        assert_eq!(split_args("a, (b, c), d"), vec!["a", "(b, c)", "d"]);
    }
}
