//! GFP masks: which ones let an allocation wait is read from the tree's own `#define`s.
//!
//! A mask sleeps iff its definition, followed through other object-like macros, names the
//! knowledge base's wait bit (`__GFP_WAIT`) other than under `~`, or is a number with that
//! bit set. A name is looked up in the file's own `#define`s first, then in every header;
//! when headers disagree (one definition per architecture) any sleeping definition wins.

use rustc_hash::FxHashMap;

use super::ctext::words;
use crate::ctext::parse_paren_int;
use crate::facts::FileFacts;

/// How deep macro definitions are followed; kernel masks are two levels deep.
const MAX_DEPTH: usize = 16;

/// What a mask expression means where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// Includes the wait bit; the name that brought it.
    Sleeps(String),
    /// Known not to include it.
    No,
    /// Depends on the enclosing function's (or macro's) parameters, by index.
    Params(Vec<u8>),
    /// Neither: a variable, a field, a call.
    Unknown,
}

/// Which header masks sleep, computed once; a file's own `#define`s are looked at when a mask
/// is judged.
#[derive(Debug, Default)]
pub struct MaskTable {
    /// Every object-like macro defined in a header: whether it includes the wait bit.
    header: FxHashMap<String, bool>,
    wait_bit: String,
    wait_value: Option<i64>,
}

struct HeaderPass<'a> {
    bodies: FxHashMap<&'a str, Vec<&'a str>>,
    done: FxHashMap<&'a str, bool>,
    wait_bit: &'a str,
    wait_value: Option<i64>,
}

impl<'a> HeaderPass<'a> {
    fn name(&mut self, name: &'a str, depth: usize) -> Option<bool> {
        if name == self.wait_bit {
            return Some(true);
        }
        if let Some(&d) = self.done.get(name) {
            return Some(d);
        }
        let bodies = self.bodies.get(name)?.clone();
        if depth > MAX_DEPTH {
            return Some(false);
        }
        // A cycle (`#define A B`, `#define B A`) ends here as "does not sleep".
        self.done.insert(name, false);
        let sleeps = bodies.iter().any(|b| {
            words(b).iter().any(|w| {
                !w.negated
                    && !w.member
                    && if w.number {
                        number_sleeps(w.text, self.wait_value)
                    } else {
                        self.name(w.text, depth + 1) == Some(true)
                    }
            })
        });
        self.done.insert(name, sleeps);
        Some(sleeps)
    }
}

fn number_sleeps(text: &str, wait_value: Option<i64>) -> bool {
    match (parse_paren_int(text), wait_value) {
        (Some(n), Some(bit)) => n & bit != 0,
        _ => false,
    }
}

impl MaskTable {
    pub fn new(files: &[FileFacts], wait_bit: &str) -> Self {
        let mut bodies: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for f in files.iter().filter(|f| f.path.ends_with(".h")) {
            for m in f.macros.iter().filter(|m| m.params.is_none()) {
                bodies.entry(m.name.as_str()).or_default().push(&m.body);
            }
        }
        let wait_value = bodies
            .get(wait_bit)
            .and_then(|bs| bs.iter().find_map(|b| parse_paren_int(b)));
        let names: Vec<&str> = bodies.keys().copied().collect();
        let mut pass = HeaderPass {
            bodies,
            done: FxHashMap::default(),
            wait_bit,
            wait_value,
        };
        for n in names {
            pass.name(n, 0);
        }
        Self {
            header: pass
                .done
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            wait_bit: wait_bit.to_string(),
            wait_value,
        }
    }

    /// Whether the named mask includes the wait bit, as seen from `file`; `None` when the
    /// name is no macro at all.
    pub fn name_sleeps(
        &self,
        files: &[FileFacts],
        name: &str,
        file: Option<usize>,
    ) -> Option<bool> {
        self.name_sleeps_at(files, name, file, 0)
    }

    fn name_sleeps_at(
        &self,
        files: &[FileFacts],
        name: &str,
        file: Option<usize>,
        depth: usize,
    ) -> Option<bool> {
        if name == self.wait_bit {
            return Some(true);
        }
        if let Some(f) = file.filter(|_| depth <= MAX_DEPTH) {
            if let Some(m) = files.get(f).and_then(|f| {
                f.macros
                    .iter()
                    .find(|m| m.name == name && m.params.is_none())
            }) {
                return Some(words(&m.body).iter().any(|w| {
                    !w.negated
                        && !w.member
                        && if w.number {
                            number_sleeps(w.text, self.wait_value)
                        } else {
                            self.name_sleeps_at(files, w.text, file, depth + 1) == Some(true)
                        }
                }));
            }
        }
        self.header.get(name).copied()
    }

    /// Judges a mask expression written in `file` inside a function or macro whose parameters
    /// are `params`.
    pub fn eval(
        &self,
        files: &[FileFacts],
        expr: &str,
        params: &[&str],
        file: Option<usize>,
    ) -> Mask {
        let mut params_hit: Vec<u8> = Vec::new();
        let mut unknown = expr.trim().is_empty();
        for w in words(expr) {
            if w.negated || w.member {
                continue;
            }
            if w.number {
                if number_sleeps(w.text, self.wait_value) {
                    return Mask::Sleeps(w.text.to_string());
                }
                continue;
            }
            if w.called || w.base || w.indirect {
                unknown = true;
                continue;
            }
            if matches!(
                w.text,
                "int" | "long" | "unsigned" | "short" | "char" | "signed" | "const"
            ) {
                continue;
            }
            if let Some(k) = params.iter().position(|p| *p == w.text) {
                if let Ok(k) = u8::try_from(k) {
                    if !params_hit.contains(&k) {
                        params_hit.push(k);
                    }
                }
                continue;
            }
            match self.name_sleeps(files, w.text, file) {
                Some(true) => return Mask::Sleeps(w.text.to_string()),
                Some(false) => {}
                None => unknown = true,
            }
        }
        if !params_hit.is_empty() {
            Mask::Params(params_hit)
        } else if unknown {
            Mask::Unknown
        } else {
            Mask::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::MacroDef;

    fn header(defs: &[(&str, &str)]) -> FileFacts {
        let mut f = crate::facts::extract_bare("include/linux/mm.h", b"");
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
    fn masks_from_definitions() {
        let files = vec![header(&[
            ("__GFP_WAIT", "0x01"),
            ("__GFP_HIGH", "0x02"),
            ("__GFP_IO", "0x04"),
            ("GFP_ATOMIC", "(__GFP_HIGH)"),
            ("GFP_KERNEL", "(__GFP_HIGH | __GFP_WAIT | __GFP_IO)"),
            ("SLAB_KERNEL", "GFP_KERNEL"),
            ("GFP_NOWAIT", "(GFP_KERNEL & ~__GFP_WAIT)"),
        ])];
        let t = MaskTable::new(&files, "__GFP_WAIT");
        let e = |x: &str, p: &[&str]| t.eval(&files, x, p, None);
        assert_eq!(e("GFP_KERNEL", &[]), Mask::Sleeps("GFP_KERNEL".into()));
        assert_eq!(e("(SLAB_KERNEL)", &[]), Mask::Sleeps("SLAB_KERNEL".into()));
        assert_eq!(e("GFP_ATOMIC", &[]), Mask::No);
        assert_eq!(e("0", &[]), Mask::No);
        assert_eq!(e("1", &[]), Mask::Sleeps("1".into()));
        assert_eq!(
            e("priority", &["family", "priority"]),
            Mask::Params(vec![1])
        );
        assert_eq!(e("sk->allocation", &["sk"]), Mask::Unknown);
        assert_eq!(
            e("in_interrupt() ? GFP_ATOMIC : GFP_KERNEL", &[]),
            Mask::Sleeps("GFP_KERNEL".into())
        );
        assert_eq!(e("gfp & ~__GFP_WAIT", &["gfp"]), Mask::Params(vec![0]));
        assert_eq!(e("", &[]), Mask::Unknown);
        // What a parameter points to is not the parameter: `*gfp` is some variable's value.
        assert_eq!(e("*gfp", &["gfp"]), Mask::Unknown);
        assert_eq!(e("(*gfp)", &["gfp"]), Mask::Unknown);
        // A parameter beside it still decides (as with `in_interrupt() ? ... : gfp`).
        assert_eq!(e("mask & *gfp", &["mask", "gfp"]), Mask::Params(vec![0]));
        assert_eq!(e("mask & gfp", &["mask", "gfp"]), Mask::Params(vec![0, 1]));
        // No bit arithmetic: `GFP_KERNEL & ~__GFP_WAIT` still names GFP_KERNEL, and a may-sleep
        // answer errs on the side of sleeping. No 2.2/2.4 mask is written like that.
        assert_eq!(e("GFP_NOWAIT", &[]), Mask::Sleeps("GFP_NOWAIT".into()));
    }
}
