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

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::ctext::{expansion_effects, is_empty_expansion};
use crate::facts::FileFacts;
use crate::kb::Kb;
use crate::normalize::MacroDef;

/// How deep macros calling macros are followed, and how many definitions one question reads.
const MAX_DEPTH: u8 = 4;
const MAX_VISITS: u32 = 64;

/// Symbols of the build configuration (generated into a header the source tree lacks).
const CONFIG_PREFIX: &str = "CONFIG_";

/// The headers' macro definitions, read once per tree.
#[derive(Default)]
pub struct NoWork {
    /// Macro name -> (file, index in its `macros`) of each header's first definition.
    header_defs: FxHashMap<CompactString, Vec<(usize, usize)>>,
    /// Every name some header defines, and the headers defining it that are not in an include
    /// directory (`None` once one is: every file sees it).
    header_names: FxHashMap<CompactString, Option<Vec<usize>>>,
}

impl NoWork {
    pub fn new(files: &[FileFacts], kb: &Kb) -> Self {
        let mut nowork = NoWork::default();
        for (fi, f) in files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.path.ends_with(".h"))
        {
            let global = kb.data.layout.is_include_dir(dir_of(&f.path));
            let mut seen = FxHashSet::default();
            for (mi, m) in f.macros.iter().enumerate() {
                // Names are short: a key is a copy inside the map, not an allocation.
                let headers = (nowork.header_names)
                    .entry(m.name.clone())
                    .or_insert(Some(Vec::new()));
                match headers {
                    Some(_) if global => *headers = None,
                    Some(h) if h.last() != Some(&fi) => h.push(fi),
                    _ => {}
                }
                if seen.insert(m.name.as_str()) {
                    (nowork.header_defs.entry(m.name.clone()).or_default()).push((fi, mi));
                }
            }
        }
        nowork
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
        let alt = files[home]
            .alt_macros
            .iter()
            .find(|(m, symbol, _)| *m == def.name && !self.symbol_seen(files, file, symbol));
        alt.map_or(def.body.as_str(), |(_, _, body)| body.as_str())
    }

    /// Whether `symbol` is defined by file `file` or by a header it can see, or is a
    /// configuration option (on in some build, as the normalizer reads it).
    fn symbol_seen(&self, files: &[FileFacts], file: usize, symbol: &str) -> bool {
        if symbol.starts_with(CONFIG_PREFIX) {
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
