//! Conditional compilation without a compiler: choose one branch of every `#if` group, blank
//! the others and every directive line, and record the `#define`s seen on the way.
//!
//! Policy (documented in the README): symbols the configuration defines or undefines decide;
//! `#if 0`/`#if 1` and arithmetic on known values decide; a condition that depends on a symbol
//! nobody defined (a CONFIG_ option, a header guard) is unknown, and for an unknown condition the
//! first branch is taken. That keeps header guards, keeps `#ifdef CONFIG_FOO` code (which is
//! where drivers put their features) and drops the `#else` fallbacks.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use compact_str::CompactString;
use serde::Serialize;

mod expr;

use crate::ctext::{is_ident_char, parse_int};
use expr::Expr;

/// What the preprocessor is told to assume.
#[derive(Debug, Clone, Default)]
pub struct CppConfig {
    /// Defined symbols and their values (1 when given without a value).
    pub defined: HashMap<String, i64>,
    pub undefined: HashSet<String>,
    /// Symbols that name an architecture (`[layout] arch_symbols`): `CONFIG_ARCH_{ARCH}`,
    /// `__{arch}__`, as (prefix, suffix, upper case).
    pub arch_symbols: Vec<(String, String, bool)>,
    /// The tree's release, when both its top-level Makefile and the knowledge base's release
    /// macros are known.
    pub version: Option<TreeVersion>,
}

/// The tree's release as `#if` sees it: `code` (`LINUX_VERSION_CODE`) is `value`, and
/// each of `makes(a, b, c)` (`KERNEL_VERSION`) is `(a << 16) + (b << 8) + c`, as
/// <linux/version.h> has them. They count as defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeVersion {
    pub code: String,
    pub makes: Vec<String>,
    pub value: i64,
}

impl TreeVersion {
    pub fn code_of(a: i64, b: i64, c: i64) -> i64 {
        (a << 16) + (b << 8) + c
    }

    fn names(&self, name: &str) -> bool {
        name == self.code || self.makes.iter().any(|m| m == name)
    }
}

impl CppConfig {
    /// The architecture a symbol names, in lower case (`CONFIG_ARCH_S390` gives `s390`).
    pub fn arch_of_symbol(&self, sym: &str) -> Option<String> {
        self.arch_symbols.iter().find_map(|(pre, suf, upper)| {
            let mid = sym.strip_prefix(pre.as_str())?.strip_suffix(suf.as_str())?;
            let ok = !mid.is_empty()
                && mid.bytes().all(|b| {
                    b.is_ascii_digit()
                        || b == b'_'
                        || if *upper {
                            b.is_ascii_uppercase()
                        } else {
                            b.is_ascii_lowercase()
                        }
                });
            ok.then(|| mid.to_ascii_lowercase())
        })
    }
}

/// Lines a branch taken only on one architecture spans (`#ifdef CONFIG_ARCH_S390` ... `#endif`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchRegion {
    pub from: u32,
    pub to: u32,
    pub arch: String,
}

/// A `#define` seen in an active region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub struct MacroDef {
    #[bincode(with_serde)]
    pub name: CompactString,
    /// `None` for an object-like macro.
    #[bincode(with_serde)]
    pub params: Option<Box<[CompactString]>>,
    #[bincode(with_serde)]
    pub body: CompactString,
    pub line: u32,
}

#[derive(Debug, Default)]
pub struct CppResult {
    pub macros: Vec<MacroDef>,
    /// `#if`-groups whose condition could not be decided.
    pub unknown_conditions: u32,
    /// Unbalanced `#endif`/`#else` or unterminated groups.
    pub unbalanced: bool,
    /// The first line whose `#if` expression nests deeper than [`MAX_EXPR_DEPTH`] (it is taken
    /// as unknown).
    pub too_deep: Option<u32>,
    /// Branches taken on one architecture only (an unknown condition naming one).
    pub arch_regions: Vec<ArchRegion>,
    /// Macros defined in the first branch of a group that tests one unknown symbol and
    /// defined again in a later branch of it (`#ifdef DEBUG` / `#define DPRINTK(x...)
    /// printk(x)` / `#else` / `#define DPRINTK(x...)`): (macro, symbol, the later body). Where
    /// nothing defines the symbol, the later definition is the one the build has.
    pub alt_macros: Vec<(String, String, String)>,
}

/// How deep an `#if` expression may nest (parentheses, unary operators, `?:`, operands of
/// binary operators). Real conditions nest a few levels; the evaluator recurses per level.
pub const MAX_EXPR_DEPTH: u32 = 256;

struct Frame {
    parent_active: bool,
    taken: bool,
    active: bool,
    /// The first branch was taken on an unknown architecture symbol: (its line, arch).
    arch: Option<(u32, String)>,
    /// The first branch was taken on one unknown symbol: the symbol, the macros that branch
    /// defines, and the first definition (name, body) of each in the other branches.
    unknown: Option<Box<Unknown>>,
}

impl Frame {
    /// The frame of an `#if`/`#ifdef`/`#ifndef` (`directive`: the word and the rest) whose
    /// condition is `cond` (`None`: unknown), in a region `active` or not.
    fn open(
        config: &CppConfig,
        directive: (&str, &str),
        active: bool,
        cond: Option<bool>,
        line: u32,
    ) -> Self {
        let (word, rest) = directive;
        let take = active && cond.unwrap_or(true);
        let unknown = active && cond.is_none();
        Frame {
            parent_active: active,
            taken: take,
            active: take,
            arch: arch_frame(config, word, rest, unknown, line),
            unknown: (unknown.then(|| single_symbol(word, rest)).flatten())
                .map(|s| Box::new((s, Vec::new(), Vec::new()))),
        }
    }
}

/// A group whose first branch was taken on one unknown symbol: the symbol, the macros that
/// branch defines, and the definitions (name, body) of the other branches.
type Unknown = (String, Vec<String>, Vec<(String, String)>);

/// `SYM`, `defined(SYM)` or `defined SYM`: the single symbol a condition tests.
fn single_symbol(word: &str, rest: &str) -> Option<String> {
    let rest = rest.trim();
    if matches!(word, "ifdef") {
        return Some(split_word(rest).0.to_string());
    }
    if word != "if" {
        return None;
    }
    let r = rest
        .strip_prefix("defined")
        .map(str::trim_start)
        .unwrap_or(rest);
    let r = r.trim_start_matches('(').trim_end_matches(')').trim();
    (!r.is_empty() && r.chars().all(is_ident_char)).then(|| r.to_string())
}

/// Processes directives in `code` (comments already blanked) in place.
pub fn process(code: &mut [u8], config: &CppConfig) -> CppResult {
    let mut result = CppResult::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut local: HashMap<String, Option<i64>> = HashMap::default();
    let mut local_undef: HashSet<String> = HashSet::default();
    let n = code.len();
    let mut pos = 0;
    let mut line_no: u32 = 1;
    while pos < n {
        let start = pos;
        let (end, lines_in) = logical_line_end(code, pos);
        let active = stack.last().is_none_or(|f| f.active);
        let first = code[start..end]
            .iter()
            .position(|c| !c.is_ascii_whitespace());
        let is_directive = first.is_some_and(|i| code[start + i] == b'#');
        if is_directive {
            let raw = String::from_utf8_lossy(&code[start + first.unwrap() + 1..end]);
            // Continuation lines are joined; most directives have none.
            let text = if raw.contains('\\') {
                std::borrow::Cow::Owned(raw.replace("\\\r\n", " ").replace("\\\n", " "))
            } else {
                raw
            };
            let text = text.trim_start();
            let (word, rest) = split_word(text);
            let mut too_deep = false;
            let mut eval =
                |expr: &str, local: &HashMap<String, Option<i64>>, undef: &HashSet<String>| {
                    let mut e = Expr::new(expr, config, local, undef);
                    let v = e.eval_all();
                    too_deep |= e.too_deep;
                    v
                };
            match word {
                "if" | "ifdef" | "ifndef" => {
                    let cond = if !active {
                        Some(false)
                    } else {
                        match word {
                            "ifdef" => defined(split_word(rest).0, config, &local, &local_undef),
                            "ifndef" => defined(split_word(rest).0, config, &local, &local_undef)
                                .map(|d| !d),
                            _ => eval(rest, &local, &local_undef).map(|v| v != 0),
                        }
                    };
                    if active && cond.is_none() {
                        result.unknown_conditions += 1;
                    }
                    stack.push(Frame::open(config, (word, rest), active, cond, line_no));
                }
                "elif" => match stack.last_mut() {
                    Some(f) => {
                        close_region(f, line_no, &mut result.arch_regions);
                        if f.taken || !f.parent_active {
                            f.active = false;
                        } else {
                            let cond = eval(rest, &local, &local_undef);
                            if cond.is_none() {
                                result.unknown_conditions += 1;
                            }
                            // An unknown #elif after a known-false #if: take it (first live branch).
                            f.active = cond.is_none_or(|v| v != 0);
                            f.taken = f.active;
                        }
                    }
                    None => result.unbalanced = true,
                },
                "else" => match stack.last_mut() {
                    Some(f) => {
                        close_region(f, line_no, &mut result.arch_regions);
                        f.active = f.parent_active && !f.taken;
                        f.taken = true;
                    }
                    None => result.unbalanced = true,
                },
                "endif" => {
                    // A pop in a match guard would hide a side effect; keep it in the arm.
                    pop_frame(&mut stack, line_no, &mut result)
                }
                "define" if !active => note_alternative(stack.last_mut(), rest),
                "define" => define(
                    rest,
                    line_no,
                    &mut stack,
                    &mut local,
                    &mut local_undef,
                    &mut result,
                ),
                "undef" if active => {
                    let name = split_word(rest).0.to_string();
                    local.remove(&name);
                    local_undef.insert(name);
                }
                _ => {}
            }
            if too_deep {
                result.too_deep.get_or_insert(line_no);
            }
        }
        if is_directive || !active {
            for c in &mut code[start..end] {
                if *c != b'\n' && *c != b'\r' {
                    *c = b' ';
                }
            }
        }
        line_no += lines_in;
        pos = end + 1;
    }
    if !stack.is_empty() {
        result.unbalanced = true;
    }
    result
}

/// The architecture a group's first branch is taken on, when its unknown condition names one.
fn arch_frame(
    config: &CppConfig,
    word: &str,
    rest: &str,
    unknown: bool,
    line: u32,
) -> Option<(u32, String)> {
    let sym = unknown.then(|| single_symbol(word, rest)).flatten()?;
    config.arch_of_symbol(&sym).map(|a| (line, a))
}

fn pop_frame(stack: &mut Vec<Frame>, line: u32, result: &mut CppResult) {
    match stack.pop() {
        Some(mut f) => {
            close_region(&mut f, line, &mut result.arch_regions);
            if let Some(u) = f.unknown {
                let (symbol, taken, others) = *u;
                for name in taken {
                    if let Some((_, body)) = others.iter().find(|(n, _)| *n == name) {
                        (result.alt_macros).push((name, symbol.clone(), body.clone()));
                    }
                }
            }
        }
        None => result.unbalanced = true,
    }
}

/// A `#define` in an active region: the file's own macro from here on.
fn define(
    rest: &str,
    line: u32,
    stack: &mut [Frame],
    local: &mut HashMap<String, Option<i64>>,
    local_undef: &mut HashSet<String>,
    result: &mut CppResult,
) {
    let Some(def) = parse_define(rest, line) else {
        return;
    };
    if let Some(u) = stack.last_mut().and_then(|f| f.unknown.as_mut()) {
        u.1.push(def.name.to_string());
    }
    let value = define_value(&def);
    local_undef.remove(def.name.as_str());
    local.insert(def.name.to_string(), value);
    result.macros.push(def);
}

/// A `#define` in a branch not taken: when it is in a later branch of a group whose first
/// branch was taken on one unknown symbol, the group's frame notes it.
fn note_alternative(frame: Option<&mut Frame>, rest: &str) {
    let Some(f) = frame.filter(|f| f.parent_active && f.taken) else {
        return;
    };
    let Some(u) = f.unknown.as_mut() else { return };
    if let Some(def) = parse_define(rest, 0) {
        u.2.push((def.name.to_string(), def.body.to_string()));
    }
}

fn close_region(f: &mut Frame, line: u32, out: &mut Vec<ArchRegion>) {
    if let Some((from, arch)) = f.arch.take() {
        out.push(ArchRegion {
            from,
            to: line,
            arch,
        });
    }
}

/// The end of the logical line starting at `pos` (its newline, or the end of the text: a
/// newline preceded by a backslash continues the line) and how many lines it spans.
fn logical_line_end(code: &[u8], pos: usize) -> (usize, u32) {
    let mut lines_in = 1;
    let mut from = pos;
    let end = loop {
        let Some(k) = memchr::memchr2(b'\n', b'\\', &code[from..]) else {
            break code.len();
        };
        let at = from + k;
        from = at + 1;
        if code[at] == b'\n' {
            break at;
        }
        if code.get(at + 1) == Some(&b'\n') {
            from = at + 2;
            lines_in += 1;
        } else if code.get(at + 1) == Some(&b'\r') && code.get(at + 2) == Some(&b'\n') {
            from = at + 3;
            lines_in += 1;
        }
    };
    (end, lines_in)
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(|c: char| !is_ident_char(c)).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn defined(
    name: &str,
    config: &CppConfig,
    local: &HashMap<String, Option<i64>>,
    local_undef: &HashSet<String>,
) -> Option<bool> {
    if local.contains_key(name) || config.defined.contains_key(name) {
        Some(true)
    } else if local_undef.contains(name) || config.undefined.contains(name) {
        Some(false)
    } else if config.version.as_ref().is_some_and(|v| v.names(name)) {
        Some(true)
    } else {
        None
    }
}

/// The value of an object-like macro whose body is a number: `#define N (4)` (each side's
/// parentheses go, balanced or not).
fn define_value(def: &MacroDef) -> Option<i64> {
    let body = def.body.trim().trim_start_matches('(');
    def.params
        .is_none()
        .then(|| parse_int(body.trim_end_matches(')')))
        .flatten()
}

fn parse_define(rest: &str, line: u32) -> Option<MacroDef> {
    let rest = rest.trim_start();
    let (name, _) = split_word(rest);
    if name.is_empty() {
        return None;
    }
    let after = &rest[name.len()..];
    let (params, body) = if let Some(inner) = after.strip_prefix('(') {
        let close = inner.find(')')?;
        let mut params = inner[..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(CompactString::from)
            .collect::<Vec<_>>();
        // A new block of the exact size (see `facts::exact`: no block split by a shrink).
        let params: Box<[CompactString]> = params.drain(..).collect();
        (Some(params), &inner[close + 1..])
    } else {
        (None, after)
    };
    Some(MacroDef {
        name: name.into(),
        params,
        body: body.split_whitespace().collect::<Vec<_>>().join(" ").into(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CppConfig {
        CppConfig {
            defined: [("MODULE".to_string(), 1)].into_iter().collect(),
            undefined: ["__ASSEMBLY__".to_string()].into_iter().collect(),
            arch_symbols: vec![("CONFIG_ARCH_".into(), String::new(), true)],
            version: None,
        }
    }

    #[test]
    fn branches_of_one_architecture_are_recorded() {
        let mut b = b"a\n#ifdef CONFIG_ARCH_S390\nb\n#else\nc\n#endif\n#ifdef CONFIG_FOO\nd\n#endif\n#if defined(CONFIG_ARCH_ARM)\ne\n#endif\n".to_vec();
        let r = process(&mut b, &config());
        let regions: Vec<(u32, u32, &str)> = r
            .arch_regions
            .iter()
            .map(|x| (x.from, x.to, x.arch.as_str()))
            .collect();
        assert_eq!(regions, vec![(2, 4, "s390"), (10, 12, "arm")]);
        assert_eq!(config().arch_of_symbol("CONFIG_ARCH_s390"), None);
    }

    fn run(src: &str) -> String {
        let mut b = src.as_bytes().to_vec();
        process(&mut b, &config());
        assert_eq!(b.len(), src.len());
        String::from_utf8(b).unwrap()
    }

    fn kept(src: &str) -> Vec<String> {
        run(src).split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn module_defined_and_if0_dropped() {
        let src =
            "#ifdef MODULE\na\n#else\nb\n#endif\n#if 0\nc\n#endif\n#ifndef MODULE\nd\n#endif\n";
        assert_eq!(kept(src), ["a"]);
    }

    #[test]
    fn unknown_takes_first_branch() {
        let src = "#ifdef CONFIG_FOO\na\n#else\nb\n#endif\n#if defined(CONFIG_X) && !defined(MODULE)\nc\n#elif 1\nd\n#endif\n";
        assert_eq!(kept(src), ["a", "d"]);
    }

    #[test]
    fn local_defines_and_arithmetic() {
        let src = "#define DEBUG 2\n#if DEBUG > 1\na\n#endif\n#undef DEBUG\n#ifdef DEBUG\nb\n#endif\n#if (1 << 4) == 16 || X\nc\n#endif\n";
        assert_eq!(kept(src), ["a", "c"]);
    }

    #[test]
    fn nested_inactive_stays_inactive() {
        let src = "#if 0\n#ifdef CONFIG_A\na\n#else\nb\n#endif\n#else\nc\n#endif\n";
        assert_eq!(kept(src), ["c"]);
    }

    #[test]
    fn continuation_lines_are_blanked_and_counted() {
        let mut b = b"#define F(x) \\\n  foo(x)\nint y;\n".to_vec();
        let r = process(&mut b, &config());
        assert_eq!(r.macros.len(), 1);
        assert_eq!(r.macros[0].params.as_deref(), Some(&["x".into()][..]));
        assert_eq!(r.macros[0].body, "foo(x)");
        assert_eq!(String::from_utf8(b).unwrap().trim(), "int y;");
    }

    fn versioned(v: i64) -> CppConfig {
        CppConfig {
            version: Some(TreeVersion {
                code: "LINUX_VERSION_CODE".into(),
                makes: vec!["KERNEL_VERSION".into(), "KERNEL_VER".into()],
                value: v,
            }),
            ..config()
        }
    }

    fn kept_with(src: &str, config: &CppConfig) -> Vec<String> {
        let mut b = src.as_bytes().to_vec();
        process(&mut b, config);
        let text = String::from_utf8(b).unwrap();
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_trees_release_decides_version_tests() {
        let c = versioned(TreeVersion::code_of(2, 2, 26));
        let src = "#if LINUX_VERSION_CODE >= KERNEL_VERSION(2,1,0)\na\n#else\nb\n#endif\n\
                   #if LINUX_VERSION_CODE < KERNEL_VERSION(2,3,0) && !defined(CONFIG_X)\nc\n#endif\n\
                   #if (LINUX_VERSION_CODE > 0x20100) || X\nd\n#endif\n\
                   #if LINUX_VERSION_CODE == KERNEL_VERSION(2,2,26) && defined(KERNEL_VERSION)\ne\n#endif\n\
                   #if LINUX_VERSION_CODE != 131610\nf\n#else\ng\n#endif\n\
                   #if !(LINUX_VERSION_CODE < KERNEL_VERSION(2,1,0))\nh\n#endif\n\
                   #ifndef LINUX_VERSION_CODE\ni\n#endif\n";
        // `c`: `< 2.3.0` is true, and CONFIG_X unknown keeps today's first-branch rule.
        assert_eq!(kept_with(src, &c), ["a", "c", "d", "e", "g", "h"]);
        let old = versioned(TreeVersion::code_of(2, 0, 40));
        assert_eq!(kept_with(src, &old), ["b", "c", "d", "f"]);
        // ftape's KERNEL_VER, the same formula under another name the knowledge base lists.
        let ftape = "#if LINUX_VERSION_CODE < KERNEL_VER(2,1,18)
old
#else
new
#endif
";
        assert_eq!(kept_with(ftape, &c), ["new"]);
        assert_eq!(kept_with(ftape, &old), ["old"]);
    }

    #[test]
    fn without_a_release_version_tests_stay_unknown() {
        let src = "#if LINUX_VERSION_CODE < KERNEL_VERSION(2,1,0)\na\n#else\nb\n#endif\n\
                   #undef KERNEL_VERSION\n";
        assert_eq!(kept(src), ["a"]);
        let c = versioned(TreeVersion::code_of(2, 4, 0));
        let undone = "#undef LINUX_VERSION_CODE\n#if LINUX_VERSION_CODE < 5\na\n#else\nb\n#endif\n";
        assert_eq!(kept_with(undone, &c), ["a"]);
    }

    #[test]
    fn later_definitions_of_a_group_on_one_unknown_symbol_are_noted() {
        let mut b =
            b"#ifdef DBG\n#define D(x) printk(x)\n#define E 1\n#else\n#define D(x)\n#endif\n\
                      #ifndef NDBG\n#define F(x) g(x)\n#else\n#define F(x)\n#endif\n\
                      #if DBG > 1\n#define G(x) g(x)\n#else\n#define G(x)\n#endif\n"
                .to_vec();
        let r = process(&mut b, &config());
        // `#ifndef` takes the branch of a build without the symbol already; `DBG > 1` tests
        // more than one symbol's presence.
        assert_eq!(
            r.alt_macros,
            vec![("D".to_string(), "DBG".to_string(), String::new())]
        );
    }

    #[test]
    fn unbalanced_is_reported_not_fatal() {
        let mut b = b"#endif\n#else\nx\n#if 1\n".to_vec();
        assert!(process(&mut b, &config()).unbalanced);
    }
}
