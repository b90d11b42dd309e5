//! Call-backs into the caller's own table: a library routine takes a table as a parameter
//! (`register_camera(ops, ..)`), keeps it (directly, or through a helper that stores it into
//! a new object: `init(cam, ops)` with `cam->ops = ops`) and calls a slot of it before it
//! returns. When every caller of the routine passes a table defined in its own file, the call
//! goes back into the module that is running the caller's code, not into a module that may be
//! on its way out: the same protection as a knowledge-base registration routine calling back
//! into its table argument ([`Protection::Registering`]), found from the tree.
//!
//! Only the table itself counts: a member of the argument (`handle->dev` of the caller's own
//! `handle`) can point into another module, and a routine that sits in a slot is called
//! through pointers by callers that are not all known.

use super::{squash, Flow};
use crate::bkl::Protection;
use crate::index::FnRef;

impl Flow<'_> {
    /// `base` (at `line` of `f`) is a table parameter of `f` that every caller, all in other
    /// files than `f`, passes from its own file.
    pub(super) fn called_back(&self, f: FnRef, line: u32, base: &str) -> Option<Protection> {
        if self.stored.contains_key(&f) {
            return None;
        }
        let k = self.table_parameter(f, line, base)?;
        let function = self.index.function(f);
        let mut any = false;
        for &(fi, ci) in self.by_name.get(function.name.as_str())? {
            if self.index.resolve_function(fi, &function.name) != Some(f) {
                continue;
            }
            let c = &self.index.files[fi].calls[ci as usize];
            let arg = squash(c.args.get(k)?);
            let name = arg.strip_prefix('&').unwrap_or(&arg);
            if !crate::ctext::is_identifier(name)
                || c.caller.is_some_and(|g| self.index.is_local(fi, g, name))
            {
                return None;
            }
            let var = self.index.resolve_variable(fi, name)?;
            let v = self.index.variable(var);
            // A library's caller in another file, passing a table it defines itself.
            if fi == f.file || var.file != fi || v.init.is_none() {
                return None;
            }
            any = true;
        }
        any.then(|| Protection::Registering {
            routine: function.name.to_string(),
        })
    }

    /// The parameter `base` is, as written or through a store before `line`: `ops`, or
    /// `cam->ops` after `cam->ops = ops` in `f` or after a call `h(cam, ops)` whose `h`
    /// stores its second parameter into its first's `ops`.
    fn table_parameter(&self, f: FnRef, line: u32, base: &str) -> Option<usize> {
        let function = self.index.function(f);
        let param = |name: &str| {
            function
                .params
                .iter()
                .position(|p| p.name.as_deref() == Some(name))
        };
        if let Some(k) = param(base) {
            return Some(k);
        }
        let (owner, field) = super::split_member(base)?;
        let stores = self.local_stores(f, line, base);
        if !stores.is_empty() {
            // Every store into the member before the call must be the same parameter.
            let mut ks = stores.iter().map(|&(v, _)| param(&squash(v)));
            let first = ks.next()??;
            return ks.all(|k| k == Some(first)).then_some(first);
        }
        let file = &self.index.files[f.file];
        let mut found = None;
        for c in file.calls.iter() {
            if c.caller != Some(f.func as u32) || c.line > line || c.indirect {
                continue;
            }
            let Some(at) = c.args.iter().position(|a| squash(a) == owner) else {
                continue;
            };
            let Some(h) = self.index.resolve_function(f.file, &c.callee) else {
                continue;
            };
            let Some(from) = self.stored_parameter(h, at, &field) else {
                continue;
            };
            let k = param(&squash(c.args.get(from)?))?;
            if found.is_some_and(|j| j != k) {
                return None;
            }
            found = Some(k);
        }
        found
    }

    /// Which parameter `h` stores into `field` of its parameter `at`, when it stores only one.
    fn stored_parameter(&self, h: FnRef, at: usize, field: &str) -> Option<usize> {
        let function = self.index.function(h);
        let target = function.params.get(at)?.name.as_deref()?;
        let mut found = None;
        for a in &self.index.files[h.file].field_assigns {
            if a.caller != Some(h.func as u32) || a.field != field || squash(&a.base) != target {
                continue;
            }
            let value = squash(&a.value);
            let k = function
                .params
                .iter()
                .position(|p| p.name.as_deref() == Some(value.as_str()))?;
            if found.is_some_and(|j| j != k) {
                return None;
            }
            found = Some(k);
        }
        found
    }
}
