//! The `#if` expression evaluator: three-valued (`None` means "depends on something unknown"),
//! with its nesting bounded by [`MAX_EXPR_DEPTH`].

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{defined, CppConfig, MAX_EXPR_DEPTH};
use crate::ctext::{is_ident_byte, is_ident_start_byte, parse_int};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

/// A three-valued `#if` expression evaluator: `None` means "depends on something unknown".
pub(super) struct Expr {
    toks: Vec<Tok>,
    pos: usize,
    /// Nesting of the recursive descent at this point.
    depth: u32,
    /// The expression nested deeper than [`MAX_EXPR_DEPTH`]: it evaluates to unknown.
    pub(super) too_deep: bool,
}

const OPS: [&str; 25] = [
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "(", ")", "!", "~", "+", "-", "*", "/", "%",
    "<", ">", "&", "|", "^", "?", ":", ",",
];

impl Expr {
    pub(super) fn new(
        text: &str,
        config: &CppConfig,
        local: &HashMap<String, Option<i64>>,
        local_undef: &HashSet<String>,
    ) -> Self {
        let raw = tokenize(text);
        // Resolve `defined X` / `defined(X)` and identifiers up front.
        let mut toks = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if let Some(v) = version_call(config, local_undef, &raw[i..]) {
                toks.push(Tok::Num(v));
                i += 8;
                continue;
            }
            match &raw[i] {
                Tok::Ident(id) if id == "defined" => {
                    let (name, skip) = match (raw.get(i + 1), raw.get(i + 2), raw.get(i + 3)) {
                        (Some(Tok::Op("(")), Some(Tok::Ident(n)), Some(Tok::Op(")"))) => {
                            (n.clone(), 4)
                        }
                        (Some(Tok::Ident(n)), _, _) => (n.clone(), 2),
                        _ => (String::new(), 1),
                    };
                    match defined(&name, config, local, local_undef) {
                        Some(d) => toks.push(Tok::Num(d as i64)),
                        None => toks.push(Tok::Ident(name)),
                    }
                    i += skip;
                }
                Tok::Ident(id) => {
                    let value = match local.get(id) {
                        Some(v) => *v,
                        None => config.defined.get(id).copied().or_else(|| {
                            let v = config.version.as_ref()?;
                            (v.code == *id && !local_undef.contains(id)).then_some(v.value)
                        }),
                    };
                    match value {
                        Some(v) => toks.push(Tok::Num(v)),
                        None if local_undef.contains(id) || config.undefined.contains(id) => {
                            toks.push(Tok::Num(0))
                        }
                        None => toks.push(Tok::Ident(id.clone())),
                    }
                    i += 1;
                }
                t => {
                    toks.push(t.clone());
                    i += 1;
                }
            }
        }
        Self {
            toks,
            pos: 0,
            depth: 0,
            too_deep: false,
        }
    }

    pub(super) fn eval_all(&mut self) -> Option<i64> {
        let v = self.ternary();
        if self.pos != self.toks.len() {
            return None;
        }
        v
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    /// `ternary` with the nesting bounded: past [`MAX_EXPR_DEPTH`] the rest of the expression
    /// is consumed and the value is unknown.
    fn nested(&mut self, level: fn(&mut Self) -> Option<i64>) -> Option<i64> {
        if self.depth >= MAX_EXPR_DEPTH {
            self.too_deep = true;
            self.pos = self.toks.len() + 1;
            return None;
        }
        self.depth += 1;
        let v = level(self);
        self.depth -= 1;
        v
    }

    fn ternary(&mut self) -> Option<i64> {
        let c = self.binary(0);
        if self.peek_op() == Some("?") {
            self.pos += 1;
            let a = self.nested(Self::ternary);
            if self.peek_op() != Some(":") {
                return None;
            }
            self.pos += 1;
            let b = self.nested(Self::ternary);
            return match c {
                Some(0) => b,
                Some(_) => a,
                None => None,
            };
        }
        c
    }

    fn binary(&mut self, min_prec: u8) -> Option<i64> {
        let mut lhs = self.unary();
        while let Some(op) = self.peek_op() {
            let prec = match op {
                "||" => 1,
                "&&" => 2,
                "|" => 3,
                "^" => 4,
                "&" => 5,
                "==" | "!=" => 6,
                "<" | ">" | "<=" | ">=" => 7,
                "<<" | ">>" => 8,
                "+" | "-" => 9,
                "*" | "/" | "%" => 10,
                _ => break,
            };
            if prec < min_prec.max(1) {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(prec + 1);
            lhs = match (op, lhs, rhs) {
                ("&&", Some(0), _) | ("&&", _, Some(0)) => Some(0),
                ("||", Some(a), _) if a != 0 => Some(1),
                ("||", _, Some(b)) if b != 0 => Some(1),
                (_, Some(a), Some(b)) => apply(op, a, b),
                _ => None,
            };
        }
        lhs
    }

    fn unary(&mut self) -> Option<i64> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Op("!")) => {
                self.pos += 1;
                self.nested(Self::unary).map(|v| (v == 0) as i64)
            }
            Some(Tok::Op("~")) => {
                self.pos += 1;
                self.nested(Self::unary).map(|v| !v)
            }
            Some(Tok::Op("-")) => {
                self.pos += 1;
                self.nested(Self::unary).map(|v| v.wrapping_neg())
            }
            Some(Tok::Op("+")) => {
                self.pos += 1;
                self.nested(Self::unary)
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.nested(Self::ternary);
                if self.peek_op() == Some(")") {
                    self.pos += 1;
                    v
                } else {
                    self.pos = self.toks.len() + 1;
                    None
                }
            }
            Some(Tok::Num(v)) => {
                self.pos += 1;
                Some(v)
            }
            Some(Tok::Ident(_)) => {
                self.pos += 1;
                // A function-like macro call we cannot expand: skip its arguments.
                if self.peek_op() == Some("(") {
                    let mut depth = 0;
                    while let Some(t) = self.toks.get(self.pos) {
                        self.pos += 1;
                        match t {
                            Tok::Op("(") => depth += 1,
                            Tok::Op(")") => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                None
            }
            _ => {
                self.pos = self.toks.len() + 1;
                None
            }
        }
    }
}

/// `KERNEL_VERSION(a, b, c)` with three literal numbers at the start of `toks`, as the tree's
/// release macro computes it (a file's own definition of the macro is the same formula).
fn version_call(config: &CppConfig, undef: &HashSet<String>, toks: &[Tok]) -> Option<i64> {
    let v = config.version.as_ref()?;
    match toks.get(..8)? {
        [Tok::Ident(m), Tok::Op("("), Tok::Num(a), Tok::Op(","), Tok::Num(b), Tok::Op(","), Tok::Num(c), Tok::Op(")")]
            if v.makes.iter().any(|n| n == m) && !undef.contains(m) =>
        {
            Some(super::TreeVersion::code_of(*a, *b, *c))
        }
        _ => None,
    }
}

fn apply(op: &str, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => (a == b) as i64,
        "!=" => (a != b) as i64,
        "<" => (a < b) as i64,
        ">" => (a > b) as i64,
        "<=" => (a <= b) as i64,
        ">=" => (a >= b) as i64,
        "<<" => a.checked_shl(b.try_into().ok()?)?,
        ">>" => a.checked_shr(b.try_into().ok()?)?,
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" => a.checked_div(b)?,
        "%" => a.checked_rem(b)?,
        "&&" => (a != 0 && b != 0) as i64,
        "||" => (a != 0 || b != 0) as i64,
        _ => return None,
    })
}

fn tokenize(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    'outer: while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            match parse_int(&text[start..i]) {
                Some(v) => toks.push(Tok::Num(v)),
                None => toks.push(Tok::Ident(text[start..i].to_string())),
            }
            continue;
        }
        if is_ident_start_byte(c) {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            toks.push(Tok::Ident(text[start..i].to_string()));
            continue;
        }
        if c == b'\'' {
            // Character constant: 'x' or '\n'.
            let rest = &b[i + 1..];
            let (v, len) = match rest {
                [b'\\', e, b'\'', ..] => (
                    match e {
                        b'n' => 10,
                        b't' => 9,
                        b'0' => 0,
                        _ => *e as i64,
                    },
                    4,
                ),
                [ch, b'\'', ..] => (*ch as i64, 3),
                _ => break,
            };
            toks.push(Tok::Num(v));
            i += len;
            continue;
        }
        for op in OPS {
            if b[i..].starts_with(op.as_bytes()) {
                toks.push(Tok::Op(op));
                i += op.len();
                continue 'outer;
            }
        }
        // Anything else makes the expression unknown.
        toks.push(Tok::Ident(String::from("?")));
        i += 1;
    }
    toks
}
