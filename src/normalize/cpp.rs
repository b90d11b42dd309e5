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

/// How a group's first branch tests its one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub enum CondTest {
    /// `#ifdef X`, `#if defined(X)`: taken when X is defined.
    Defined,
    /// `#if X`: taken when X is defined and not 0.
    Value,
}

/// A branch the preprocessor took only because its one symbol is unknown (`#ifdef DEBUG`,
/// `#if MCDX_DEBUG`): the lines from the `#if` to the directive that ends the branch. Where
/// the tree defines the symbol nowhere the file can see (or, for [`CondTest::Value`], only
/// as 0), the build does not compile these lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, bincode::Encode, bincode::Decode)]
pub struct CondRegion {
    #[bincode(with_serde)]
    pub symbol: CompactString,
    pub test: CondTest,
    pub from: u32,
    pub to: u32,
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
    /// Branches taken only on one unknown symbol (architecture symbols aside: `arch_regions`).
    pub cond_regions: Vec<CondRegion>,
    /// Names `#define`d in branches not taken (each once): a file that tests one of them
    /// may see it defined in another build.
    pub inactive_defines: Vec<String>,
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
    /// The first branch was taken on one unknown (non-architecture) symbol, tested so, from
    /// this line; closed by the branch's end.
    cond: Option<(CompactString, CondTest, u32)>,
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
        let arch = arch_frame(config, word, rest, unknown, line);
        let symbol = unknown.then(|| single_symbol(word, rest)).flatten();
        let cond = (symbol.as_ref())
            .filter(|_| arch.is_none())
            .map(|s| (s.into(), cond_test(word, rest), line));
        Frame {
            parent_active: active,
            taken: take,
            active: take,
            arch,
            unknown: symbol.map(|s| Box::new((s, Vec::new(), Vec::new()))),
            cond,
        }
    }
}

/// A group whose first branch was taken on one unknown symbol: the symbol, the macros that
/// branch defines, and the definitions (name, body) of the other branches.
type Unknown = (String, Vec<String>, Vec<(String, String)>);

/// How `#ifdef`/`#if` (`word`) tests a single symbol: `#if X` by its value, else defined.
fn cond_test(word: &str, rest: &str) -> CondTest {
    if word == "if" && !rest.trim_start().starts_with("defined") {
        CondTest::Value
    } else {
        CondTest::Defined
    }
}

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
                        close_region(f, line_no, &mut result);
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
                        close_region(f, line_no, &mut result);
                        f.active = f.parent_active && !f.taken;
                        f.taken = true;
                    }
                    None => result.unbalanced = true,
                },
                "endif" => {
                    // A pop in a match guard would hide a side effect; keep it in the arm.
                    pop_frame(&mut stack, line_no, &mut result)
                }
                "define" if !active => {
                    note_inactive(rest, &mut result.inactive_defines);
                    note_alternative(stack.last_mut(), rest)
                }
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
    result.inactive_defines.sort_unstable();
    result.inactive_defines.dedup();
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
            close_region(&mut f, line, result);
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

fn close_region(f: &mut Frame, line: u32, out: &mut CppResult) {
    if let Some((from, arch)) = f.arch.take() {
        out.arch_regions.push(ArchRegion {
            from,
            to: line,
            arch,
        });
    }
    if let Some((symbol, test, from)) = f.cond.take() {
        (out.cond_regions).push(CondRegion {
            symbol,
            test,
            from,
            to: line,
        });
    }
}

/// The name a `#define` in a branch not taken defines (`process` sorts them and drops
/// repeats).
fn note_inactive(rest: &str, out: &mut Vec<String>) {
    let name = split_word(rest).0;
    if !name.is_empty() {
        out.push(name.to_string());
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
mod tests;
