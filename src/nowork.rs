//! Calls that are no work: macros that, as the calling file sees them, expand to nothing or
//! only compute a value. MR005 ("work before the increment") asks this of every call before
//! the increment, so that `DPRINTK(...)` compiled out, `pr_debug` without DEBUG or
//! `MINOR(inode->i_rdev)` do not count.
//!
//! A file sees its own definition of a macro (the first in the branches the preprocessor
//! settings take), else the headers' (every header's must agree). A definition is no work
//! when:
//! - its body is empty (`do { } while (0)`, `(void)0`, ...);
//! - its body is that of the build: a definition in a branch taken only because one symbol
//!   is unknown (`#ifdef DEBUG`) that another branch of the group defines again is read as
//!   that other definition when the symbol is defined neither by the file nor by a header it
//!   can see (one in an include directory of the layout, or one beside it), since the real
//!   build takes that branch (`DPRINTK` compiled out; `TRACE_FUN` that calls `trace_call`
//!   where the first branch only declares);
//! - it is *pure* (function-like only): no assignment, and every call in its body is itself
//!   a macro that is no work (`MINOR(dev)` is `((dev) & MINORMASK)`), followed at most
//!   [`MAX_DEPTH`] deep.
//!
//! The same reading decides which branches the build compiles at all ([`NoWork::dead_line`]):
//! a branch the normalizer took only because its one symbol is unknown (`#ifdef
//! ISICOM_DEBUG`, `#if MCDX_DEBUG`) is not compiled when nothing the file can see defines the
//! symbol (for `#if X`: or defines it only as 0). What can define it: the file itself (in any
//! branch), a header it can see (in any branch, so a header included conditionally counts),
//! a `-D` of the directory's, the top-level or an architecture's Makefile, a configuration
//! file that names it (a `CONFIG_` symbol), or the compiler (`[preprocessor] predefined`).
//! Calls on such lines are no work and do not sleep, and returns on them are not taken.

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::buildinfo::BuildDefines;
use crate::ctext::{expansion_effects, is_empty_expansion};
use crate::facts::FileFacts;
use crate::kb::{glob_match, Kb};
use crate::normalize::{CondTest, MacroDef};

/// How deep macros calling macros are followed, and how many definitions one question reads.
const MAX_DEPTH: u8 = 4;
const MAX_VISITS: u32 = 64;

/// Symbols of the build configuration (generated into a header the source tree lacks), and
/// the suffix the build adds for one set to `m`.
const CONFIG_PREFIX: &str = "CONFIG_";
const MODULE_SUFFIX: &str = "_MODULE";

/// The headers' macro definitions, read once per tree.
#[derive(Default)]
pub struct NoWork {
    /// Macro name -> (file, index in its `macros`) of each header's first definition.
    header_defs: FxHashMap<CompactString, Vec<(usize, usize)>>,
    /// Every name some header defines, and the headers defining it that are not in an include
    /// directory (`None` once one is: every file sees it).
    header_names: FxHashMap<CompactString, Option<Vec<usize>>>,
    /// What the build defines besides the sources (configuration, compiler flags).
    build: BuildDefines,
    /// The compiler's possible predefines (name patterns).
    predefined: Vec<String>,
    /// Per file: a header in an include directory (every file sees it).
    global: Vec<bool>,
    /// Names some header defines in a branch not taken.
    inactive: FxHashSet<CompactString>,
    /// File -> the line ranges (exclusive) of branches the build does not compile.
    dead: FxHashMap<usize, Vec<(u32, u32)>>,
}

impl NoWork {
    pub fn new(files: &[FileFacts], kb: &Kb, build: &BuildDefines) -> Self {
        let mut nowork = NoWork {
            build: build.clone(),
            predefined: kb.data.preprocessor.predefined.clone(),
            global: (files.iter())
                .map(|f| f.path.ends_with(".h") && kb.data.layout.is_include_dir(dir_of(&f.path)))
                .collect(),
            ..NoWork::default()
        };
        for (fi, f) in files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.path.ends_with(".h"))
        {
            let global = nowork.global[fi];
            nowork.inactive.extend(f.inactive_defines.iter().cloned());
            let mut seen = FxHashSet::default();
            let names = (f.macros.iter().map(|m| &m.name)).chain(&f.inactive_defines);
            for name in names {
                // Names are short: a key is a copy inside the map, not an allocation.
                let headers = (nowork.header_names)
                    .entry(name.clone())
                    .or_insert(Some(Vec::new()));
                match headers {
                    Some(_) if global => *headers = None,
                    Some(h) if h.last() != Some(&fi) => h.push(fi),
                    _ => {}
                }
            }
            for (mi, m) in f.macros.iter().enumerate() {
                if seen.insert(m.name.as_str()) {
                    (nowork.header_defs.entry(m.name.clone()).or_default()).push((fi, mi));
                }
            }
        }
        // Every compilation gets the top-level and the architectures' Makefile flags.
        let layout = &kb.data.layout;
        (nowork.build)
            .globalise(|d| d.is_empty() || layout.arch_dir(d).is_some_and(|a| d.ends_with(a)));
        for (fi, f) in files.iter().enumerate() {
            let dead: Vec<(u32, u32)> = (f.cond_regions.iter())
                .filter(|r| !nowork.holds(files, fi, &r.symbol, r.test))
                .map(|r| (r.from, r.to))
                .collect();
            if !dead.is_empty() {
                nowork.dead.insert(fi, dead);
            }
        }
        nowork
    }

    /// Whether line `line` of file `file` is in a branch the build does not compile.
    pub fn dead_line(&self, file: usize, line: u32) -> bool {
        (self.dead.get(&file)).is_some_and(|d| d.iter().any(|&(a, b)| a < line && line < b))
    }

    /// Whether a call of `name` in file `file` does no work (the caller has made sure no
    /// function of that name is in scope).
    pub fn is_noop(&self, files: &[FileFacts], file: usize, name: &str) -> bool {
        let mut visits = 0;
        self.macro_is_noop(files, file, name, (0, None), &mut visits)
    }

    /// Whether a call of macro `name` in file `file` is *quiet*: no work, except calls of
    /// primitives the knowledge base says never sleep (`dbg(...)` that logs with `printk`).
    /// The opens of bound devices (`usecount::bound`) may do that before their test.
    pub fn is_quiet(&self, files: &[FileFacts], file: usize, name: &str, kb: &Kb) -> bool {
        let mut visits = 0;
        self.macro_is_noop(files, file, name, (0, Some(kb)), &mut visits)
    }

    /// The body of object-like macro `name` as file `file` sees it: its own definition (the
    /// build's), else the headers' when there is one, or all agree.
    pub fn object_body<'f>(
        &self,
        files: &'f [FileFacts],
        file: usize,
        name: &str,
    ) -> Option<&'f str> {
        if let Some(def) = files[file].macros.iter().find(|m| m.name == name) {
            return def
                .params
                .is_none()
                .then(|| self.built_body(files, file, file, def));
        }
        let mut bodies = (self.header_defs.get(name)?.iter()).map(|&(h, m)| {
            let def = &files[h].macros[m];
            def.params
                .is_none()
                .then(|| self.built_body(files, file, h, def))
        });
        let first = bodies.next()??;
        bodies.all(|b| b == Some(first)).then_some(first)
    }

    fn macro_is_noop(
        &self,
        files: &[FileFacts],
        file: usize,
        name: &str,
        (depth, quiet): (u8, Option<&Kb>),
        visits: &mut u32,
    ) -> bool {
        *visits += 1;
        if depth > MAX_DEPTH || *visits > MAX_VISITS {
            return false;
        }
        let f = &files[file];
        if let Some(def) = f.macros.iter().find(|m| m.name == name) {
            return self.def_is_noop(files, file, (file, def), (depth, quiet), visits);
        }
        let Some(defs) = self.header_defs.get(name) else {
            return false;
        };
        defs.iter().all(|&(h, m)| {
            let def = &files[h].macros[m];
            self.def_is_noop(files, file, (h, def), (depth, quiet), visits)
        })
    }

    /// Whether `def` (a definition in file `at.0`), as file `file` sees it, does no work.
    fn def_is_noop(
        &self,
        files: &[FileFacts],
        file: usize,
        at: (usize, &MacroDef),
        (depth, quiet): (u8, Option<&Kb>),
        visits: &mut u32,
    ) -> bool {
        let (home, def) = at;
        let body = self.built_body(files, file, home, def);
        if is_empty_expansion(body) {
            return true;
        }
        let Some(params) = &def.params else {
            return false;
        };
        let (calls, assigns) = expansion_effects(body);
        !assigns
            && calls.iter().all(|c| {
                // A parameter called is whatever the caller passes.
                !params.iter().any(|p| p == c)
                    && (quiet.is_some_and(|kb| kb.never_sleeps(c))
                        || self.macro_is_noop(files, file, c, (depth + 1, quiet), visits))
            })
    }

    /// The body the build gives `def` (defined in file `home`) as file `file` sees it: the
    /// later branch's when the first was taken only on a symbol nothing defines for `file`.
    fn built_body<'f>(
        &self,
        files: &'f [FileFacts],
        file: usize,
        home: usize,
        def: &'f MacroDef,
    ) -> &'f str {
        let test = |symbol: &str| {
            (files[home].cond_regions.iter())
                .find(|r| r.symbol == symbol && r.from < def.line && def.line < r.to)
                .map_or(CondTest::Defined, |r| r.test)
        };
        let alt = (files[home].alt_macros.iter()).find(|(m, symbol, _)| {
            *m == def.name && !self.holds(files, file, symbol, test(symbol))
        });
        alt.map_or(def.body.as_str(), |(_, _, body)| body.as_str())
    }

    /// Whether a branch on `symbol` tested so is taken in a build of file `file`, as far as
    /// the tree says: the symbol is defined where the file can see it (for `#if X`: as
    /// something other than 0).
    fn holds(&self, files: &[FileFacts], file: usize, symbol: &str, test: CondTest) -> bool {
        self.symbol_seen(files, file, symbol)
            && (test == CondTest::Defined || !self.only_zero(files, file, symbol))
    }

    /// Whether every definition of `symbol` file `file` can see is the number 0 (`#define
    /// MCDX_DEBUG 0` in mcdx.h), and no branch or flag of another build defines it.
    fn only_zero(&self, files: &[FileFacts], file: usize, symbol: &str) -> bool {
        let f = &files[file];
        let dir = dir_of(&f.path);
        if self.inactive.contains(symbol)
            || f.inactive_defines
                .binary_search_by(|n| n.as_str().cmp(symbol))
                .is_ok()
            || self.build.flags_define(dir, symbol)
        {
            return false;
        }
        let own = f.macros.iter().filter(|m| m.name == symbol);
        let headers = (self.header_defs.get(symbol).into_iter().flatten())
            .filter(|&&(h, _)| self.global[h] || dir_of(&files[h].path) == dir)
            .map(|&(h, m)| &files[h].macros[m]);
        let mut defs = own.chain(headers).peekable();
        let zero = |m: &MacroDef| {
            let body = m
                .body
                .trim_matches(|c: char| c == '(' || c == ')' || c == ' ');
            m.params.is_none() && crate::ctext::parse_int(body) == Some(0)
        };
        defs.peek().is_some() && defs.all(zero)
    }

    /// Whether `symbol` is defined by file `file` or by a header it can see (in any branch),
    /// by the compiler flags of its directory or the compiler, or is a configuration option
    /// some configuration file names (on in some build, as the normalizer reads it).
    fn symbol_seen(&self, files: &[FileFacts], file: usize, symbol: &str) -> bool {
        if symbol.starts_with(CONFIG_PREFIX) {
            // A tree without configuration files (a bare directory) says nothing of them.
            return !self.build.has_config() || self.build.configures(symbol, MODULE_SUFFIX);
        }
        let f = &files[file];
        if self.predefined.iter().any(|p| glob_match(p, symbol))
            || self.build.flags_define(dir_of(&f.path), symbol)
            || f.inactive_defines
                .binary_search_by(|n| n.as_str().cmp(symbol))
                .is_ok()
        {
            return true;
        }
        let in_header = match self.header_names.get(symbol) {
            None => false,
            Some(None) => true,
            Some(Some(headers)) => {
                let dir = dir_of(&files[file].path);
                headers.iter().any(|&h| dir_of(&files[h].path) == dir)
            }
        };
        in_header || files[file].macros.iter().any(|m| m.name == symbol)
    }
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}
