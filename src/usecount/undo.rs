//! Decrements a routine leaves to another routine of its module (issue 13, class 3).
//!
//! **The driver's own release.** A failure path that calls the routine the file's tables hold
//! in a release slot (`cs4281_release(inode, file)` from `cs4281_open`: the KB's
//! `release_fields`), whose paths drop the count, undoes what the open did: it drops whatever
//! the path holds (`CountEffect::DropAll`), one count per open mode in the per-mode drivers.
//!
//! **Installed destructors.** A socket family's create stores `sk->destruct = x_destruct`, where `x_destruct` drops the
//! module's count, and a later failure frees the socket (`sk_free(sk)`, or a release routine
//! that ends in it), so the core calls that destructor: a decrement on that path. Both halves
//! are read off the tree: the store is a field assignment of this file whose value is a
//! function of the module whose paths drop the count and never raise it; the freeing call is
//! one whose callee reaches, within a few direct calls, an indirect call through a field of
//! that name (`if (sk->destruct) sk->destruct(sk);`). The walk arms the decrement at the store
//! and spends it at the first freeing call after it, so a free before the store drops nothing.
//! The freeing chain goes through the headers' inline functions too (`inet_sock_release ->
//! sock_put -> sk_free`, `sock_put` being `extern __inline__` in a header the file includes),
//! which a C file sees though the index keeps no global entry for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::FileOracle;
use crate::ctext::is_word;
use crate::facts::{Body, Event, StmtId, StmtKind, Value};
use crate::index::FnRef;
use crate::paths::CountEffect;

/// Direct calls followed from a freeing call to the destructor's indirect call.
const MAX_FREE_DEPTH: u8 = 4;

/// The stores of decrementing destructors in one file.
#[derive(Debug, Default)]
pub struct Destructors {
    /// Lines of the stores, sorted.
    pub lines: Vec<u32>,
    /// The fields stored into (`destruct`).
    fields: Vec<String>,
}

/// A file, the depth its destructors are asked at, and the asking walk's guard.
type DestructorKey = (usize, u8, Option<usize>);

/// Per file and per freeing callee, computed once for the tree.
#[derive(Default)]
pub struct DestructorMemo {
    /// By file, depth and guard (see `HelperEffects::memo`).
    files: Mutex<HashMap<DestructorKey, Arc<Destructors>>>,
    /// By function, field and depth: a pure function of the three.
    frees: Mutex<HashMap<(FnRef, String, u8), bool>>,
    /// Per file, the routines its tables hold in a release slot.
    releases: Mutex<HashMap<usize, Arc<Vec<String>>>>,
    /// The functions headers define (inline ones), by name, generic headers' first.
    header_fns: OnceLock<HashMap<String, Vec<FnRef>>>,
}

/// Whether a helper's effect drops the count on some path and raises it on none.
fn drops(effect: CountEffect) -> bool {
    match effect {
        CountEffect::Decrement | CountEffect::DropAll => true,
        CountEffect::Split(o) => o.results[0] != 0 && o.results[2] | o.results[3] == 0,
        _ => false,
    }
}

impl FileOracle<'_> {
    /// The file's stores of a function that drops the count into a field.
    pub(super) fn destructors(&self) -> Arc<Destructors> {
        // The destructors' own walks ask again: they see none (a cycle, not a result). The
        // guard travels with the walk, not through the shared memo, where another thread
        // would take it for the answer.
        if self.guard == Some(self.file) {
            return Arc::default();
        }
        let memo = &self.helpers.destructors;
        let key = (self.file, self.depth, self.guard);
        if let Some(d) = memo.files.lock().unwrap().get(&key) {
            return Arc::clone(d);
        }
        let finder = FileOracle {
            guard: Some(self.file),
            ..*self
        };
        let mut found = Destructors::default();
        for a in &self.index.files[self.file].field_assigns {
            let value = a.value.trim();
            if a.caller.is_none() || !is_word(value) {
                continue;
            }
            let Some(f) = self.index.resolve_function(self.file, value) else {
                continue;
            };
            if !self.same_module(f) {
                continue;
            }
            if drops(finder.helper_effect(f)) {
                found.lines.push(a.line);
                found.fields.push(a.field.to_string());
            }
        }
        found.lines.sort_unstable();
        found.lines.dedup();
        found.fields.sort_unstable();
        found.fields.dedup();
        let found = Arc::new(found);
        memo.files.lock().unwrap().insert(key, Arc::clone(&found));
        found
    }

    /// The effect of calling `f`, a helper of the module whose own effect is `effect`: all the
    /// path holds when `f` is the file's release routine and drops the count.
    pub(super) fn own_release(&self, f: FnRef, effect: CountEffect) -> CountEffect {
        if f.file == self.file
            && drops(effect)
            && self
                .releases()
                .iter()
                .any(|r| *r == self.index.function(f).name)
        {
            CountEffect::DropAll
        } else {
            effect
        }
    }

    /// The bit tests under which the file's release routine called by `call` drops one count
    /// each: its top-level `if (file->f_mode & FMODE_X) { ... MOD_DEC_USE_COUNT; }`, when every
    /// decrement of the routine sits in one of them (cs4281_release); `None` otherwise.
    pub(super) fn release_modes(&self, call: u32) -> Option<Vec<Value>> {
        let c = self.calls.get(call as usize).filter(|c| !c.indirect)?;
        let f = self.index.resolve_function(self.file, &c.callee)?;
        if self.own_release(f, self.helper_effect(f)) != CountEffect::DropAll {
            return None;
        }
        let body = &self.index.function(f).body;
        let Some(StmtKind::Block(top)) = body.stmts.first().map(|s| &s.kind) else {
            return None;
        };
        let mut modes = Vec::new();
        for &id in top {
            match &body.stmt(id).kind {
                StmtKind::If {
                    cond,
                    then,
                    otherwise: None,
                } if matches!(cond.value, Value::BitAnd(..))
                    && self.decrements_in(body, *then, 0) =>
                {
                    modes.push(cond.value.clone());
                }
                _ if self.decrements_in(body, id, 0) => return None,
                _ => {}
            }
        }
        (!modes.is_empty()).then_some(modes)
    }

    /// Whether statement `id` of `body`, or one inside it, drops the count by name.
    fn decrements_in(&self, body: &Body, id: StmtId, depth: usize) -> bool {
        let stmt = body.stmt(id);
        let drops = |e: &crate::facts::Expr| {
            e.events.iter().any(|ev| match ev {
                Event::Name(n) => self.effect_of_name(n) == Some(CountEffect::Decrement),
                Event::Call(c) => {
                    (self.index.files[self.file].calls.get(*c as usize)).is_some_and(|c| {
                        self.effect_of_name(&c.callee) == Some(CountEffect::Decrement)
                    })
                }
                Event::Bump { .. } | Event::Step { .. } => false,
            })
        };
        depth < 64
            && (stmt.kind.own_exprs().any(drops)
                || (stmt.kind.children().into_iter())
                    .any(|k| self.decrements_in(body, k, depth + 1)))
    }

    /// The names the file's tables (initializers and stores) hold in a release slot.
    fn releases(&self) -> Arc<Vec<String>> {
        let memo = &self.helpers.destructors.releases;
        if let Some(r) = memo.lock().unwrap().get(&self.file) {
            return Arc::clone(r);
        }
        let slots = &self.kb.data.use_count.release_fields;
        let is_slot = |field: &str| slots.iter().any(|s| s == field);
        let facts = &self.index.files[self.file];
        let mut names: Vec<String> = facts
            .field_assigns
            .iter()
            .filter(|a| is_slot(&a.field) && is_word(a.value.trim()))
            .map(|a| a.value.trim().to_string())
            .collect();
        for v in facts.variables.iter() {
            let Some(var) = self.index.resolve_variable(self.file, &v.name) else {
                continue;
            };
            let ty = self.index.struct_name(&self.index.variable(var).type_name);
            for t in self.index.table_values(var, ty).iter() {
                if let crate::index::TableContent::Expr(e) = &t.value {
                    if is_slot(&t.field) {
                        names.extend(crate::index::referenced_name(e).map(str::to_string));
                    }
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        let names = Arc::new(names);
        memo.lock().unwrap().insert(self.file, Arc::clone(&names));
        names
    }

    /// Whether the call `call` frees an object through one of the file's destructor fields.
    pub(super) fn frees(&self, call: u32, destructors: &Destructors) -> bool {
        let Some(c) = self.calls.get(call as usize) else {
            return false;
        };
        if c.indirect || destructors.fields.is_empty() {
            return false;
        }
        let Some(f) = self.callee(self.file, &c.callee) else {
            return false;
        };
        destructors
            .fields
            .iter()
            .any(|field| self.reaches(f, field, 0))
    }

    /// Whether `f`, or a function it calls directly (this deep), calls through `->field`.
    fn reaches(&self, f: FnRef, field: &str, depth: u8) -> bool {
        // Cycles end at the depth bound; no placeholder in the shared memo, which another
        // thread would read as the answer.
        let key = (f, field.to_string(), depth);
        let memo = &self.helpers.destructors.frees;
        if let Some(&r) = memo.lock().unwrap().get(&key) {
            return r;
        }
        let calls = &self.index.files[f.file].calls;
        let mine = calls
            .iter()
            .filter(|c| c.caller.is_some_and(|k| k as usize == f.func));
        let mut result = false;
        for c in mine {
            if c.indirect {
                let last = c.callee.rsplit(['.', '>']).next().unwrap_or("");
                if last.trim() == field {
                    result = true;
                    break;
                }
            } else if depth < MAX_FREE_DEPTH {
                let next = self.callee(f.file, &c.callee);
                if next.is_some_and(|n| self.reaches(n, field, depth + 1)) {
                    result = true;
                    break;
                }
            }
        }
        memo.lock().unwrap().insert(key, result);
        result
    }
}

impl FileOracle<'_> {
    /// The function a direct call of `name` in `file` reaches: a definition of the file or a
    /// global one, else an inline function of a header the file can include (one under the
    /// include directories, or in the file's directory or above it).
    fn callee(&self, file: usize, name: &str) -> Option<FnRef> {
        if let Some(f) = self.index.resolve_function(file, name) {
            return Some(f);
        }
        let layout = &self.kb.data.layout;
        let path = self.index.files[file].path.as_str();
        let visible = |h: FnRef| {
            let dir = (self.index.files[h.file].path.rsplit_once('/')).map_or("", |(d, _)| d);
            layout.is_include_dir(dir)
                || path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let fns = self.helpers.destructors.header_fns.get_or_init(|| {
            let mut by_name: HashMap<String, Vec<FnRef>> = HashMap::new();
            for (fi, f) in self.index.files.iter().enumerate() {
                if !f.path.ends_with(".h") {
                    continue;
                }
                for (i, func) in f.functions.iter().enumerate() {
                    let r = FnRef { file: fi, func: i };
                    by_name.entry(func.name.to_string()).or_default().push(r);
                }
            }
            // An architecture's header (`include/asm-X/`) only when no generic one defines it.
            let arch = |r: &FnRef| layout.arch_of(&self.index.files[r.file].path).is_some();
            for defs in by_name.values_mut() {
                defs.sort_by_key(|r| (arch(r), r.file, r.func));
            }
            by_name
        });
        fns.get(name)?.iter().copied().find(|&h| visible(h))
    }
}
