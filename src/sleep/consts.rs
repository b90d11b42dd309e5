//! Flag constants valued from the tree's own `#define`s, for flag-bit guards
//! (`if (flags & EXTRACT_USER) copy_to_user(...)`): the bit a guard tests and the constant a
//! caller passes (`EXTRACT_SECONDARY`, `A | B`, `0`) are both valued here.
//!
//! Only the forms flags are written in are understood: numbers, object-like macros, `|`,
//! `<<` and parentheses. Anything else (a cast, a variable, a call, `~`, `+`) has no value,
//! and a guard or an argument without a value is read as "may hold": no chain is dropped on a
//! guess.

use crate::ctext::{is_ident_byte, parse_int};
use crate::facts::FileFacts;

/// How deep macro definitions are followed.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'t> {
    Num(i64),
    Name(&'t str),
    Or,
    Shl,
    Open,
    Close,
}

fn tokens(text: &str) -> Option<Vec<Tok<'_>>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if is_ident_byte(c) {
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            let word = &text[start..i];
            out.push(if c.is_ascii_digit() {
                Tok::Num(parse_int(word)?)
            } else {
                Tok::Name(word)
            });
        } else {
            let (tok, len) = match (c, b.get(i + 1)) {
                (b'<', Some(b'<')) => (Tok::Shl, 2),
                (b'|', Some(b'|')) => return None,
                (b'|', _) => (Tok::Or, 1),
                (b'(', _) => (Tok::Open, 1),
                (b')', _) => (Tok::Close, 1),
                _ => return None,
            };
            out.push(tok);
            i += len;
        }
    }
    Some(out)
}

/// A recursive descent over `or := shift ('|' shift)*`, `shift := atom ('<<' atom)*`,
/// `atom := number | name | '(' or ')'`.
struct Parser<'t, 'f> {
    toks: Vec<Tok<'t>>,
    pos: usize,
    name: &'f mut dyn FnMut(&str) -> Option<i64>,
}

impl Parser<'_, '_> {
    fn or(&mut self, depth: usize) -> Option<i64> {
        let mut v = self.shift(depth)?;
        while self.toks.get(self.pos) == Some(&Tok::Or) {
            self.pos += 1;
            v |= self.shift(depth)?;
        }
        Some(v)
    }

    fn shift(&mut self, depth: usize) -> Option<i64> {
        let mut v = self.atom(depth)?;
        while self.toks.get(self.pos) == Some(&Tok::Shl) {
            self.pos += 1;
            let by = self.atom(depth)?;
            v = v.checked_shl(u32::try_from(by).ok().filter(|b| *b < 63)?)?;
        }
        Some(v)
    }

    fn atom(&mut self, depth: usize) -> Option<i64> {
        if depth > MAX_DEPTH {
            return None;
        }
        let tok = *self.toks.get(self.pos)?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Some(n),
            Tok::Name(n) => (self.name)(n),
            Tok::Open => {
                let v = self.or(depth + 1)?;
                (self.toks.get(self.pos) == Some(&Tok::Close)).then(|| self.pos += 1)?;
                Some(v)
            }
            Tok::Or | Tok::Shl | Tok::Close => None,
        }
    }
}

/// The value of a flag expression, its names valued by `name`.
pub fn const_value(text: &str, name: &mut dyn FnMut(&str) -> Option<i64>) -> Option<i64> {
    let toks = tokens(text)?;
    let mut p = Parser { toks, pos: 0, name };
    let v = p.or(0)?;
    (p.pos == p.toks.len()).then_some(v)
}

/// The headers' object-like macros, found by name when a text is valued (a file's own
/// definitions come first). Built once per tree without copying a name: a sorted list of
/// (hash of the name, file, macro); few texts are ever valued, so values are not kept.
#[derive(Debug, Default)]
pub struct ConstTable {
    header: Vec<(u64, u32, u32)>,
}

/// How many names one valuation may look up (a macro naming others many times over).
const MAX_LOOKUPS: u32 = 256;

fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(name.as_bytes());
    h.finish()
}

impl ConstTable {
    pub fn new(files: &[FileFacts]) -> Self {
        let mut header = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            if !f.path.ends_with(".h") {
                continue;
            }
            for (mi, m) in f.macros.iter().enumerate() {
                if m.params.is_none() {
                    header.push((name_hash(&m.name), fi as u32, mi as u32));
                }
            }
        }
        header.sort_unstable();
        Self { header }
    }

    /// The value of `text` as written in `file`: its names are that file's object-like
    /// macros, else the headers' (which must all agree: one definition per architecture
    /// that differ leave it without a value).
    pub fn value(&self, files: &[FileFacts], text: &str, file: Option<usize>) -> Option<i64> {
        let mut budget = MAX_LOOKUPS;
        self.value_at(files, text, file, 0, &mut budget)
    }

    fn value_at(
        &self,
        files: &[FileFacts],
        text: &str,
        file: Option<usize>,
        depth: usize,
        budget: &mut u32,
    ) -> Option<i64> {
        if depth > MAX_DEPTH {
            return None;
        }
        const_value(text, &mut |n| {
            *budget = budget.checked_sub(1)?;
            let own = file
                .and_then(|f| files.get(f))
                .and_then(|f| f.macros.iter().find(|m| m.name == n && m.params.is_none()));
            if let Some(m) = own {
                return self.value_at(files, &m.body, file, depth + 1, budget);
            }
            let h = name_hash(n);
            let from = self.header.partition_point(|e| e.0 < h);
            let mut value = None;
            for &(_, fi, mi) in self.header[from..].iter().take_while(|e| e.0 == h) {
                let m = &files[fi as usize].macros[mi as usize];
                if m.name != n {
                    continue;
                }
                let v = self.value_at(files, &m.body, None, depth + 1, budget)?;
                if value.is_some_and(|old| old != v) {
                    return None;
                }
                value = Some(v);
            }
            value
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::MacroDef;

    fn file(path: &str, defs: &[(&str, &str)]) -> FileFacts {
        let mut f = crate::facts::extract_bare(path, b"");
        f.macros = defs
            .iter()
            .enumerate()
            .map(|(i, (n, b))| MacroDef {
                name: (*n).into(),
                params: None,
                body: (*b).into(),
                line: i as u32 + 1,
            })
            .collect();
        f
    }

    #[test]
    fn flag_values_from_definitions() {
        let files = vec![
            file(
                "include/linux/x.h",
                &[
                    ("F_A", "0x01"),
                    ("F_B", "(1 << 3)"),
                    ("F_AB", "(F_A | F_B)"),
                    ("F_ARCH", "1"),
                    ("F_CAST", "((int) 2)"),
                    ("F_LOOP", "F_LOOP2"),
                    ("F_LOOP2", "F_LOOP"),
                ],
            ),
            file("include/asm-x/y.h", &[("F_ARCH", "2")]),
            file("drivers/z.c", &[("F_A", "4"), ("LOCAL", "F_B | F_A")]),
        ];
        let t = ConstTable::new(&files);
        let v = |text: &str, f: Option<usize>| t.value(&files, text, f);
        assert_eq!(v("F_AB", None), Some(9));
        assert_eq!(v("F_A | F_B", None), Some(9));
        assert_eq!(v("0", None), Some(0));
        assert_eq!(v("(F_A)", None), Some(1));
        // The file's own definition wins over the header's.
        assert_eq!(v("LOCAL", Some(2)), Some(12));
        // No value: architectures disagree, a cast, a cycle, a variable, other operators.
        assert_eq!(v("F_ARCH", None), None);
        assert_eq!(v("F_CAST", None), None);
        assert_eq!(v("F_LOOP", None), None);
        assert_eq!(v("flags", None), None);
        assert_eq!(v("F_A + F_B", None), None);
        assert_eq!(v("F_A || F_B", None), None);
        assert_eq!(v("(F_A", None), None);
        assert_eq!(v("", None), None);
    }
}
