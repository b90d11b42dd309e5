//! Flag constants valued from the tree's own `#define`s, for flag-bit guards
//! (`if (flags & EXTRACT_USER) copy_to_user(...)`): the bit a guard tests and the constant a
//! caller passes (`EXTRACT_SECONDARY`, `A | B`, `0`) are both valued here.
//!
//! Only the forms flags are written in are understood: numbers, object-like macros, `|`,
//! `<<` and parentheses. Anything else (a cast, a variable, a call, `~`, `+`) has no value,
//! and a guard or an argument without a value is read as "may hold": no chain is dropped on a
//! guess.

use rustc_hash::FxHashMap;

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

/// The values of the headers' object-like macros that have one, computed once per tree; a
/// file's own definitions come first when a text is valued (`value`).
#[derive(Debug, Default)]
pub struct ConstTable {
    header: FxHashMap<String, i64>,
}

impl ConstTable {
    pub fn new(files: &[FileFacts]) -> Self {
        let mut bodies: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for f in files.iter().filter(|f| f.path.ends_with(".h")) {
            for m in f.macros.iter().filter(|m| m.params.is_none()) {
                bodies.entry(m.name.as_str()).or_default().push(&m.body);
            }
        }
        let mut done: FxHashMap<&str, Option<i64>> = FxHashMap::default();
        let names: Vec<&str> = bodies.keys().copied().collect();
        for n in names {
            header_value(&bodies, &mut done, n, 0);
        }
        Self {
            header: done
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v?)))
                .collect(),
        }
    }

    /// The value of `text` as written in `file`: its names are that file's object-like
    /// macros, else the headers'.
    pub fn value(&self, files: &[FileFacts], text: &str, file: Option<usize>) -> Option<i64> {
        self.value_at(files, text, file, 0)
    }

    fn value_at(
        &self,
        files: &[FileFacts],
        text: &str,
        file: Option<usize>,
        depth: usize,
    ) -> Option<i64> {
        if depth > MAX_DEPTH {
            return None;
        }
        const_value(text, &mut |n| {
            let own = file.and_then(|f| files.get(f)).and_then(|f| {
                f.macros
                    .iter()
                    .find(|m| m.name == n && m.params.is_none())
            });
            match own {
                Some(m) => self.value_at(files, &m.body, file, depth + 1),
                None => self.header.get(n).copied(),
            }
        })
    }
}

/// The value of a header macro; headers that disagree (one definition per architecture)
/// leave it without one.
fn header_value<'a>(
    bodies: &FxHashMap<&'a str, Vec<&'a str>>,
    done: &mut FxHashMap<&'a str, Option<i64>>,
    name: &'a str,
    depth: usize,
) -> Option<i64> {
    if let Some(&v) = done.get(name) {
        return v;
    }
    let defs = bodies.get(name)?;
    if depth > MAX_DEPTH {
        return None;
    }
    // A cycle (`#define A B`, `#define B A`) ends here without a value.
    done.insert(name, None);
    let mut values = defs.iter().map(|b| {
        const_value(b, &mut |n| {
            let (n, _) = bodies.get_key_value(n)?;
            header_value(bodies, done, n, depth + 1)
        })
    });
    let first = values.next().flatten();
    let v = first.filter(|f| values.all(|v| v == Some(*f)));
    done.insert(name, v);
    v
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
