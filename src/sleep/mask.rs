//! GFP masks: which ones let an allocation wait is read from the tree's own `#define`s.
//!
//! A mask sleeps iff its definition, followed through other object-like macros, names the
//! knowledge base's wait bit (`__GFP_WAIT`) other than under `~`, or is a number with that
//! bit set. A name is looked up in the file's own `#define`s first, then in every header;
//! when headers disagree (one definition per architecture) any sleeping definition wins.

use std::sync::Mutex;

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::ctext::words;
use crate::ctext::parse_paren_int;
use crate::index::MacroDefs;
use crate::kb::SleepKb;

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

/// Which header masks sleep, judged when first asked (a tree defines tens of thousands of
/// header macros, and its calls name a few hundred masks); a file's own `#define`s are looked
/// at when a mask is judged.
#[derive(Debug, Default)]
pub struct MaskTable {
    /// Object-like macros defined in a header, as far as asked: whether each includes the wait
    /// bit. A cycle of definitions is judged "does not sleep" where it closes.
    header: Mutex<FxHashMap<CompactString, bool>>,
    wait_bit: String,
    wait_value: Option<i64>,
    /// The tree's priorities are levels, not bits (2.0): set when it defines no wait bit.
    levels: Option<Levels>,
}

/// A priority waits unless `value & mask` is one of `nowait`.
#[derive(Debug, Clone)]
struct Levels {
    mask: i64,
    nowait: Vec<i64>,
    /// The names of the non-waiting priorities, for explanations.
    nowait_names: Vec<String>,
}

impl Levels {
    fn waits(&self, value: i64) -> bool {
        !self.nowait.contains(&(value & self.mask))
    }
}

struct HeaderPass<'t> {
    macros: &'t MacroDefs<'t>,
    done: &'t mut FxHashMap<CompactString, bool>,
    wait_bit: &'t str,
    wait_value: Option<i64>,
    levels: Option<&'t Levels>,
}

/// The bodies of the object-like macros named `name` that headers define.
fn header_bodies<'a>(macros: &MacroDefs<'a>, name: &str) -> Vec<&'a str> {
    (macros.in_headers(name))
        .filter(|m| m.def.params.is_none())
        .map(|m| m.def.body.as_str())
        .collect()
}

/// The value of an object-like macro made of numbers and other such macros joined by `|`
/// (`GFP_KERNEL | GFP_DMA`), as headers define it; the first definition that has one.
fn macro_value(macros: &MacroDefs, name: &str, depth: usize) -> Option<i64> {
    if depth > MAX_DEPTH {
        return None;
    }
    (header_bodies(macros, name).iter())
        .find_map(|b| body_value(b, &|n| macro_value(macros, n, depth + 1)))
}

/// The value of a macro body: its numbers and names (valued by `name`) or-ed together.
fn body_value(body: &str, name: &dyn Fn(&str) -> Option<i64>) -> Option<i64> {
    let parts = words(body);
    if parts.is_empty() || parts.iter().any(|w| w.negated || w.member || w.called) {
        return None;
    }
    parts.iter().try_fold(0, |acc, w| {
        let v = if w.number {
            parse_paren_int(w.text)?
        } else {
            name(w.text)?
        };
        Some(acc | v)
    })
}

impl HeaderPass<'_> {
    fn name(&mut self, name: &str, depth: usize) -> Option<bool> {
        if name == self.wait_bit {
            return Some(true);
        }
        // A priority with a value is judged by its level; any other definition as with bits,
        // by the words it names.
        if let Some(value) = (self.levels).and_then(|_| macro_value(self.macros, name, depth)) {
            let sleeps = self.levels.is_some_and(|l| l.waits(value));
            self.done.insert(name.into(), sleeps);
            return Some(sleeps);
        }
        if let Some(&d) = self.done.get(name) {
            return Some(d);
        }
        let bodies = header_bodies(self.macros, name);
        if bodies.is_empty() {
            return None;
        }
        if depth > MAX_DEPTH {
            return Some(false);
        }
        // A cycle (`#define A B`, `#define B A`) ends here as "does not sleep".
        self.done.insert(name.into(), false);
        let sleeps = bodies.iter().any(|b| {
            words(b).iter().any(|w| {
                !w.negated
                    && !w.member
                    && if w.number {
                        number_sleeps(w.text, self.wait_value, self.levels)
                    } else {
                        self.name(w.text, depth + 1) == Some(true)
                    }
            })
        });
        self.done.insert(name.into(), sleeps);
        Some(sleeps)
    }
}

fn number_sleeps(text: &str, wait_value: Option<i64>, levels: Option<&Levels>) -> bool {
    match (parse_paren_int(text), wait_value, levels) {
        (Some(n), Some(bit), _) => n & bit != 0,
        (Some(n), None, Some(levels)) => levels.waits(n),
        _ => false,
    }
}

impl MaskTable {
    pub fn new(macros: &MacroDefs, kb: &SleepKb) -> Self {
        let wait_bit = kb.gfp_wait_bit.as_str();
        let wait_bodies = header_bodies(macros, wait_bit);
        let wait_value = wait_bodies.iter().find_map(|b| parse_paren_int(b));
        let levels = kb
            .gfp_priorities
            .as_ref()
            .filter(|_| wait_bodies.is_empty())
            .and_then(|p| {
                let mask = macro_value(macros, &p.level_mask, 0)?;
                let values = p.nowait.iter().map(|n| macro_value(macros, n, 0));
                Some(Levels {
                    mask,
                    nowait: values.collect::<Option<Vec<i64>>>()?,
                    nowait_names: p.nowait.clone(),
                })
            });
        Self {
            header: Mutex::default(),
            wait_bit: wait_bit.to_string(),
            wait_value,
            levels,
        }
    }

    /// Whether the header macro `name` includes the wait bit; `None` when no header defines it.
    fn header_sleeps(&self, macros: &MacroDefs, name: &str) -> Option<bool> {
        // A poisoned memo only lost an answer being computed: the others stand.
        let mut done = self.header.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&d) = done.get(name) {
            return Some(d);
        }
        let mut pass = HeaderPass {
            macros,
            done: &mut done,
            wait_bit: &self.wait_bit,
            wait_value: self.wait_value,
            levels: self.levels.as_ref(),
        };
        pass.name(name, 0)
    }

    /// Why mask `m` lets an allocation wait, for explanations.
    pub fn why_waits(&self, m: &str) -> String {
        match &self.levels {
            Some(l) => format!(
                "the priority {m} is none of {} (they do not wait)",
                l.nowait_names.join(", ")
            ),
            None => format!("the mask {m} includes {}", self.wait_bit),
        }
    }

    /// Whether the named mask includes the wait bit, as seen from `file`; `None` when the
    /// name is no macro at all.
    pub fn name_sleeps(&self, macros: &MacroDefs, name: &str, file: Option<usize>) -> Option<bool> {
        self.name_sleeps_at(macros, name, file, 0)
    }

    fn name_sleeps_at(
        &self,
        macros: &MacroDefs,
        name: &str,
        file: Option<usize>,
        depth: usize,
    ) -> Option<bool> {
        if name == self.wait_bit {
            return Some(true);
        }
        if let Some(f) = file.filter(|_| depth <= MAX_DEPTH) {
            if let Some(m) = macros.files().get(f).and_then(|f| {
                f.macros
                    .iter()
                    .find(|m| m.name == name && m.params.is_none())
            }) {
                return Some(words(&m.body).iter().any(|w| {
                    !w.negated
                        && !w.member
                        && if w.number {
                            number_sleeps(w.text, self.wait_value, self.levels.as_ref())
                        } else {
                            self.name_sleeps_at(macros, w.text, file, depth + 1) == Some(true)
                        }
                }));
            }
        }
        self.header_sleeps(macros, name)
    }

    /// Judges a mask expression written in `file` inside a function or macro whose parameters
    /// are `params`.
    pub fn eval(
        &self,
        macros: &MacroDefs,
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
                if number_sleeps(w.text, self.wait_value, self.levels.as_ref()) {
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
            match self.name_sleeps(macros, w.text, file) {
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
    use crate::facts::FileFacts;
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
        let kb = SleepKb {
            gfp_wait_bit: "__GFP_WAIT".into(),
            ..SleepKb::default()
        };
        let macros = MacroDefs::build(&files);
        let t = MaskTable::new(&macros, &kb);
        let e = |x: &str, p: &[&str]| t.eval(&macros, x, p, None);
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

    /// 2.0: no wait bit; a priority is a level, and only the listed levels do not wait.
    #[test]
    fn priorities_as_levels() {
        let files = vec![header(&[
            ("GFP_BUFFER", "0x00"),
            ("GFP_ATOMIC", "0x01"),
            ("GFP_KERNEL", "0x03"),
            ("GFP_DMA", "0x80"),
            ("GFP_LEVEL_MASK", "0xf"),
            ("SLAB_KERNEL", "GFP_KERNEL"),
            ("DMA_ATOMIC", "(GFP_ATOMIC | GFP_DMA)"),
        ])];
        let kb = SleepKb {
            gfp_wait_bit: "__GFP_WAIT".into(),
            gfp_priorities: Some(crate::kb::GfpPriorities {
                level_mask: "GFP_LEVEL_MASK".into(),
                nowait: vec!["GFP_ATOMIC".into(), "GFP_BUFFER".into()],
            }),
            ..SleepKb::default()
        };
        let macros = MacroDefs::build(&files);
        let t = MaskTable::new(&macros, &kb);
        let e = |x: &str| t.eval(&macros, x, &[], None);
        assert_eq!(e("GFP_KERNEL"), Mask::Sleeps("GFP_KERNEL".into()));
        assert_eq!(e("SLAB_KERNEL"), Mask::Sleeps("SLAB_KERNEL".into()));
        assert_eq!(e("GFP_KERNEL | GFP_DMA"), Mask::Sleeps("GFP_KERNEL".into()));
        assert_eq!(e("GFP_ATOMIC"), Mask::No);
        assert_eq!(e("DMA_ATOMIC"), Mask::No);
        assert_eq!(e("GFP_ATOMIC | GFP_DMA"), Mask::No);
        assert_eq!(e("3"), Mask::Sleeps("3".into()));
        assert_eq!(e("1"), Mask::No);
        assert!(t.why_waits("GFP_KERNEL").contains("GFP_ATOMIC, GFP_BUFFER"));
        // A tree that defines the wait bit keeps the bit model, whatever the KB offers.
        let mut with_bit = files.clone();
        with_bit.push(header(&[("__GFP_WAIT", "0x01")]));
        let macros = MacroDefs::build(&with_bit);
        let t = MaskTable::new(&macros, &kb);
        assert_eq!(
            t.eval(&macros, "GFP_KERNEL", &[], None),
            Mask::Sleeps("GFP_KERNEL".into())
        );
        assert_eq!(t.eval(&macros, "GFP_DMA", &[], None), Mask::No);
    }
}
