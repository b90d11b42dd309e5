//! The integer values a constant expression can have in a tree (see the parent's docs).
//!
//! An object-like macro has every value its definitions in the tree give it: `SOCK_STREAM`
//! is 1 on most architectures and 2 on MIPS, so it is {1, 2}. A test decided on such sets
//! (no value of one side equals a value of the other) holds for every configuration.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::ctext::parse_int;
use crate::index::Index;
use crate::kb::Layout;

/// A set bigger than this is not tracked.
const MAX_VALUES: usize = 16;
/// Macros defined from macros are followed this deep.
const MAX_NESTING: u8 = 8;

/// Sorted, distinct values.
pub(super) type Set = Vec<i64>;

pub(super) struct Values<'a> {
    index: &'a Index<'a>,
    layout: &'a Layout,
    /// Generic code is judged on this architecture: another architecture's definitions of a
    /// name count only when it has no other.
    preferred: Option<&'a str>,
    cache: RefCell<FxHashMap<String, Option<Set>>>,
}

impl<'a> Values<'a> {
    pub(super) fn new(
        index: &'a Index<'a>,
        layout: &'a Layout,
        preferred: Option<&'a str>,
    ) -> Self {
        Values {
            index,
            layout,
            preferred,
            cache: RefCell::default(),
        }
    }

    /// The values of a constant expression written as text: integers, macro names and
    /// `+`, `-`, `|`, `<<` and parentheses over them; `None` for anything else.
    pub(super) fn of(&self, text: &str) -> Option<Set> {
        self.expr(text, 0)
    }

    fn expr(&self, text: &str, depth: u8) -> Option<Set> {
        if depth > MAX_NESTING {
            return None;
        }
        let toks = tokens(text)?;
        let mut p = Parser {
            v: self,
            toks: &toks,
            at: 0,
            depth,
        };
        let out = p.or()?;
        (p.at == toks.len()).then_some(out)
    }

    fn name(&self, name: &str, depth: u8) -> Option<Set> {
        if let Some(v) = self.cache.borrow().get(name) {
            return v.clone();
        }
        // A macro defined from itself has no value.
        self.cache.borrow_mut().insert(name.to_string(), None);
        // Object-like definitions, each with whether it is another architecture's.
        let all: Vec<(bool, &str)> = (self.index.macros.of(name))
            .filter(|m| m.def.params.is_none())
            .map(|m| {
                let arch = self.layout.arch_of(&self.index.files[m.file].path);
                (
                    arch.is_some_and(|a| Some(a) != self.preferred),
                    m.def.body.as_str(),
                )
            })
            .collect();
        let ours = all.iter().any(|(other, _)| !other);
        let mut out: Option<Set> = None;
        for (_, body) in all.iter().filter(|(other, _)| !ours || !other) {
            let Some(v) = self.expr(body, depth + 1) else {
                out = None;
                break;
            };
            out = join(out.unwrap_or_default(), v);
            if out.is_none() {
                break;
            }
        }
        self.cache
            .borrow_mut()
            .insert(name.to_string(), out.clone());
        out
    }
}

/// The union of two sets, `None` when it grows too big.
pub(super) fn join(mut a: Set, b: Set) -> Option<Set> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    (a.len() <= MAX_VALUES).then_some(a)
}

#[derive(Debug, PartialEq)]
enum Tok<'t> {
    Num(i64),
    Name(&'t str),
    Op(&'t str),
}

fn tokens(text: &str) -> Option<Vec<Tok<'_>>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let w = &text[start..i];
            out.push(if c.is_ascii_digit() {
                Tok::Num(parse_int(w)?)
            } else {
                Tok::Name(w)
            });
        } else if text[i..].starts_with("<<") {
            out.push(Tok::Op("<<"));
            i += 2;
        } else if matches!(c, b'+' | b'-' | b'|' | b'(' | b')') {
            out.push(Tok::Op(&text[i..i + 1]));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser<'p, 't, 'a> {
    v: &'p Values<'a>,
    toks: &'p [Tok<'t>],
    at: usize,
    depth: u8,
}

impl Parser<'_, '_, '_> {
    fn eat(&mut self, op: &str) -> bool {
        let hit = self.toks.get(self.at) == Some(&Tok::Op(op));
        self.at += hit as usize;
        hit
    }

    fn or(&mut self) -> Option<Set> {
        let mut l = self.shift()?;
        while self.eat("|") {
            l = cross(&l, &self.shift()?, |a, b| Some(a | b))?;
        }
        Some(l)
    }

    fn shift(&mut self) -> Option<Set> {
        let mut l = self.sum()?;
        while self.eat("<<") {
            let r = self.sum()?;
            l = cross(&l, &r, |a, b| (0..32).contains(&b).then(|| a << b))?;
        }
        Some(l)
    }

    fn sum(&mut self) -> Option<Set> {
        let mut l = self.unary()?;
        loop {
            if self.eat("+") {
                l = cross(&l, &self.unary()?, i64::checked_add)?;
            } else if self.eat("-") {
                l = cross(&l, &self.unary()?, i64::checked_sub)?;
            } else {
                return Some(l);
            }
        }
    }

    fn unary(&mut self) -> Option<Set> {
        if self.eat("-") {
            return self.unary()?.iter().map(|x| x.checked_neg()).collect();
        }
        if self.eat("(") {
            let v = self.or()?;
            return self.eat(")").then_some(v);
        }
        let t = self.toks.get(self.at)?;
        self.at += 1;
        match t {
            Tok::Num(n) => Some(vec![*n]),
            Tok::Name(n) => self.v.name(n, self.depth),
            Tok::Op(_) => None,
        }
    }
}

fn cross(a: &Set, b: &Set, f: impl Fn(i64, i64) -> Option<i64>) -> Option<Set> {
    let mut out = Vec::new();
    for &x in a {
        for &y in b {
            out.push(f(x, y)?);
        }
    }
    join(out, Vec::new())
}
